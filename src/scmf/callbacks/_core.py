from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import _uns
from .._keys import BENCH_KEY, EMBED_KEY

if TYPE_CHECKING:
    from anndata import AnnData

    from ..models import Tokenizer

logger = logging.getLogger("scmf")


class Assessment:
    """Run configured benchmarks on validation data with the model being trained.

    Parameters
    ----------
    config
        The evaluation guide's ``eval:`` block (YAML path, mapping, list or
        :class:`scmf.bm.EvalConfig`); ``every_n_epochs`` and ``batch_size`` come from it.
    datasets
        Validation AnnData, or ``{name: AnnData}`` (a single one is named ``"val_data"``).
        They are copied once; the originals are never modified.
    tokenizer
        How the model reads cells (the model's :class:`scmf.models.Tokenizer`).
    every_n_epochs, batch_size, device
        Override the config's values (``device=None``: where the model's weights are).
    input_scale, gene_key
        Passed to :func:`scmf.tl.embed`.
    monitor
        The metric tracked for :attr:`best`, :attr:`best_epoch` and :attr:`should_stop`
        (``"assessment/{benchmark}/{dataset}/{metric}"``). ``None``: the evaluation guide's
        primary signal, linear-probe accuracy on the first dataset, when ``linear_probe`` is
        configured.
    mode
        ``"max"`` or ``"min"``: which direction of ``monitor`` is better.
    patience, min_delta
        :attr:`should_stop` becomes true after ``patience`` assessments in a row without an
        improvement of more than ``min_delta`` (``patience=None``: never).

    Examples
    --------
    A plain PyTorch loop::

        assess = Assessment("eval.yaml", val_adata, tokenizer=tok)
        for epoch in range(n_epochs):
            train_one_epoch(model)
            if assess.should_run(epoch):
                metrics = assess.run(model, epoch)   # {"assessment/linear_probe/val_data/accuracy": ...}
                if assess.should_stop:                 # patience exhausted
                    break
        assess.best, assess.best_epoch
        assess.history  # tidy DataFrame: epoch, step, benchmark, dataset, metric, value
    """

    def __init__(
        self,
        config: Any,
        datasets: AnnData | Mapping[str, AnnData],
        *,
        tokenizer: Tokenizer,
        every_n_epochs: int | None = None,
        batch_size: int | None = None,
        device: str | None = None,
        input_scale: str = "auto",
        gene_key: str | None = None,
        monitor: str | None = None,
        mode: str = "max",
        patience: int | None = None,
        min_delta: float = 0.0,
    ) -> None:
        from anndata import AnnData

        from ..bm import load_config

        self.config = load_config(config)
        self.every_n_epochs = int(every_n_epochs or self.config.every_n_epochs)
        if self.every_n_epochs < 1:
            msg = f"every_n_epochs must be >= 1, got {self.every_n_epochs}."
            raise ValueError(msg)
        self.batch_size = int(batch_size or self.config.batch_size)
        self.device = device
        self.tokenizer = tokenizer
        self.input_scale = input_scale
        self.gene_key = gene_key
        named = {"val_data": datasets} if isinstance(datasets, AnnData) else dict(datasets)
        self._work = {name: a.copy() for name, a in named.items()}
        self._rows: list[dict] = []
        self.failures: list[dict] = []
        self._warned: set[tuple[type, str]] = set()
        if mode not in ("max", "min"):
            msg = f"mode must be 'max' or 'min', got {mode!r}."
            raise ValueError(msg)
        if patience is not None and int(patience) < 1:
            msg = f"patience must be a positive integer or None, got {patience!r}."
            raise ValueError(msg)
        if monitor is None and any(b.name == "linear_probe" for b in self.config.benchmarks):
            monitor = f"assessment/linear_probe/{next(iter(self._work))}/accuracy"
        self.monitor = monitor
        self.mode = mode
        self.patience = None if patience is None else int(patience)
        self.min_delta = abs(float(min_delta))
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0

    @property
    def should_stop(self) -> bool:
        """Whether ``patience`` assessments in a row brought no improvement of ``monitor``."""
        return self.patience is not None and self.wait >= self.patience

    def _track(self, metrics: Mapping[str, float], epoch: int) -> None:
        if self.monitor is None:
            return
        value = metrics.get(self.monitor)
        if value is None or not math.isfinite(value):
            logger.warning("assessment: monitored metric %r missing at epoch %d", self.monitor, epoch)
            self.wait += 1
            return
        sign = 1.0 if self.mode == "max" else -1.0
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best, self.best_epoch, self.wait = float(value), int(epoch), 0
        else:
            self.wait += 1

    def should_run(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) ends an ``every_n_epochs`` period."""
        return (int(epoch) + 1) % self.every_n_epochs == 0

    def run(self, module: Any, epoch: int, *, step: int | None = None) -> dict[str, float]:
        """Embed every validation set with ``module`` (its ``encode``) and run the benchmarks.

        The module's train mode and device are restored afterwards. Returns
        ``{"assessment/{benchmark}/{dataset}/{metric}": value}`` (finite values only),
        appends them to :attr:`history` and updates :attr:`best`, :attr:`best_epoch` and
        :attr:`should_stop`.
        The same warning (e.g. about the input's scale) is shown once, not at every epoch.
        """
        from ..models import TokenizedModel, device_of

        device = self.device or (str(device_of(module)) if device_of(module) is not None else "cpu")
        model = TokenizedModel(module, self.tokenizer, name=f"{type(module).__name__}@epoch{epoch}")
        out: dict[str, float] = {}
        with warnings.catch_warnings(record=True) as caught:  # the same warning every epoch: once
            warnings.simplefilter("always")
            out = self._assess(model, device, epoch, step)
        for w in caught:
            key = (w.category, str(w.message))
            if key not in self._warned:
                self._warned.add(key)
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        self._track(out, epoch)
        return out

    def _assess(self, model, device, epoch: int, step: int | None) -> dict[str, float]:
        from .. import tl
        from ..bm import benchmarks, results

        out: dict[str, float] = {}
        for name, adata in self._work.items():
            adata.uns.pop(BENCH_KEY, None)
            tl.embed(
                adata,
                model,
                batch_size=self.batch_size,
                device=device,
                input_scale=self.input_scale,
                gene_key=self.gene_key,
                progress=False,
            )
            for b in self.config.benchmarks:
                try:
                    benchmarks()[b.name].run(adata, use_rep=EMBED_KEY, dataset_name=name, params=b.params)
                except Exception as e:  # one failing benchmark does not stop training
                    logger.warning("assessment: %s on %s failed at epoch %d: %s", b.name, name, epoch, e)
                    self.failures.append(
                        {"epoch": int(epoch), "benchmark": b.name, "dataset": name, "error": str(e)}
                    )
            table = (
                results(adata)
                if BENCH_KEY in adata.uns
                else pd.DataFrame(columns=["benchmark", "metric", "value"])
            )
            for r in table.itertuples():
                if not isinstance(r.value, float) or not math.isfinite(r.value):
                    continue
                out[f"assessment/{r.benchmark}/{name}/{r.metric}"] = float(r.value)
                self._rows.append(
                    {
                        "epoch": int(epoch),
                        "step": -1 if step is None else int(step),
                        "benchmark": r.benchmark,
                        "dataset": name,
                        "metric": r.metric,
                        "value": float(r.value),
                    }
                )
        return out

    @property
    def history(self) -> pd.DataFrame:
        """Tidy history: ``epoch, step, benchmark, dataset, metric, value``."""
        return pd.DataFrame(self._rows, columns=["epoch", "step", "benchmark", "dataset", "metric", "value"])

    def write_history(self, adata: AnnData) -> None:
        """Store the history in ``adata.uns["scmf"]["history"]`` (h5ad-safe columns) for the plots."""
        h = self.history
        cols = {
            c: np.asarray(h[c].to_numpy(), dtype=object if h[c].dtype == object else None) for c in h.columns
        }
        _uns.write_history(adata, cols)
