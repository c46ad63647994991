"""The evaluation guide's objects: a benchmark with its parameters bound, and the harness.

:func:`get_benchmark` / :class:`Benchmark` and :class:`EvalHarness` are the object API of the
evaluation guide, kept for code written against it; they run the same registered runners and
:func:`scmf.bm.evaluate` as the scanpy-style functions (same numbers, same results store).
The guide's configuration objects (:class:`~scmf.bm.EvalConfig`, :func:`~scmf.bm.load_config`)
are in ``_config.py``, which the harness and the CLI read too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import _store
from .._keys import EMBED_KEY
from .._warnings import warn
from ._benchmark import lookup
from ._config import BenchmarkConfig, EvalConfig, load_config
from ._harness import evaluate
from ._registry import BenchmarkSpec

if TYPE_CHECKING:
    from anndata import AnnData


@dataclass
class Benchmark:
    """A registered benchmark with its parameters bound: the evaluation guide's benchmark object.

    Made by :func:`get_benchmark`. :meth:`run` scores one embedding of one dataset and returns
    the stored :class:`~scmf.bm.Result`; the scanpy-style functions (``scmf.bm.linear_probe``,
    ...) compute the same numbers.
    """

    spec: BenchmarkSpec
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with the evaluation guide's aliases renamed (see :meth:`BenchmarkSpec.resolve`)."""
        return self.spec.resolve(params)

    def run(
        self,
        embeddings: Any,
        adata: Any,
        dataset_name: str = "dataset",
        *,
        rep: str | None = None,
        key_added: str | None = None,
    ):
        """Score ``embeddings`` of the cells of ``adata`` and store the result in ``adata.uns``.

        Parameters
        ----------
        embeddings
            Cells x dimensions array (NumPy or torch), or the ``obsm`` key holding it.
        adata
            The cells (labels, batches, expression the benchmark reads).
        dataset_name
            Name under which the result is stored and reported.
        rep
            ``obsm`` key for an array: the key already holding this very array, else
            ``"X_scmf"``. The array is written there when the key is free; a key holding
            different values is never overwritten (an error asks for another ``rep``).
        key_added
            ``uns`` key of the results store (default ``"scmf_bench"``).

        Returns
        -------
        The :class:`~scmf.bm.Result`: ``metrics``, ``metadata``, ``params``, ``summary()``,
        ``to_dict()``.
        """
        from .._keys import BENCH_KEY
        from .._validate import check_anndata

        check_anndata(adata, f"{self.name}.run")
        key = _place_embedding(embeddings, adata, rep)
        store = key_added or BENCH_KEY
        self.spec.func(
            adata, use_rep=key, dataset_name=dataset_name, inplace=True, key_added=store, **self.params
        )
        return _store.get(adata, self.name, dataset=dataset_name, rep=key, key=store)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"get_benchmark({self.name!r}{args})"


def _place_embedding(embeddings: Any, adata: Any, rep: str | None) -> str:
    """The ``obsm`` key holding ``embeddings`` (written there if it is an array not yet stored)."""
    import numpy as np

    from .._keys import EMBED_KEY

    if isinstance(embeddings, str):
        if rep is not None and rep != embeddings:
            msg = f"embeddings names obsm key {embeddings!r} but rep={rep!r}; give one."
            raise ValueError(msg)
        return embeddings
    if hasattr(embeddings, "detach"):  # torch tensor
        embeddings = embeddings.detach().cpu().numpy()
    X = np.asarray(embeddings)
    if X.ndim != 2 or X.shape[0] != adata.n_obs:
        msg = (
            f"embeddings must be a cells x dimensions array with one row per cell of adata ({adata.n_obs}); "
            f"got shape {X.shape}."
        )
        raise ValueError(msg)
    if rep is None:
        same = [k for k, v in adata.obsm.items() if isinstance(v, np.ndarray) and v is embeddings]
        if same:
            return same[0]
        rep = EMBED_KEY
    _store._check_key(rep, "rep")
    held = adata.obsm.get(rep) if rep in adata.obsm else None
    if held is None:
        adata.obsm[rep] = X
    elif not (np.shape(held) == X.shape and np.array_equal(np.asarray(held), X, equal_nan=True)):
        msg = (
            f"adata.obsm[{rep!r}] already holds a different embedding; pass rep='X_other' to store these "
            "embeddings under another key (nothing was overwritten)."
        )
        raise ValueError(msg)
    return rep


def get_benchmark(name: str, **params: Any) -> Benchmark:
    """The benchmark registered as ``name``, with ``params`` bound (checked now).

    Parameter names are the benchmark's own or the evaluation guide's aliases
    (``label_key`` -> ``cell_type_key``). An unknown benchmark or parameter is an error
    listing the valid ones.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> bench = scmf.bm.get_benchmark("linear_probe", cell_type_key="bulk_labels", test_size=0.2, seed=42)
    >>> result = bench.run(adata.obsm["X_pca"], adata, "pbmc")
    >>> result.summary()[:27]
    '[linear_probe] pbmc: accura'
    >>> result.metadata["n_cells"], result.rep  # the array was already adata.obsm["X_pca"]
    (700, 'X_pca')
    """
    s = lookup(name)
    return Benchmark(s, s.resolve(params))


class EvalHarness:
    """The evaluation guide's harness: several bound benchmarks run over datasets with one model.

    Build it from benchmarks made by :func:`scmf.bm.get_benchmark`, or from a config's
    ``eval:`` block with :meth:`from_config`. :meth:`run` embeds each dataset once
    (:func:`scmf.bm.evaluate` does the work) and returns the results, one
    :class:`~scmf.bm.Result` per benchmark and dataset, in order.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> harness = scmf.bm.EvalHarness([scmf.bm.get_benchmark("linear_probe", cell_type_key="bulk_labels")])
    >>> results = harness.run(model="pca", datasets={"pbmc": sc.datasets.pbmc68k_reduced()})
    >>> [r.summary()[:20] for r in results]
    ['[linear_probe] pbmc:']
    """

    def __init__(self, benchmarks: Sequence[Any], *, every_n_epochs: int = 1, batch_size: int = 256) -> None:
        items = []
        for b in benchmarks:
            if not isinstance(b, Benchmark):
                msg = f"EvalHarness takes benchmarks made by scmf.bm.get_benchmark, got {type(b).__name__}."
                raise TypeError(msg)
            items.append(BenchmarkConfig(b.name, dict(b.params)))
        self.config = EvalConfig(items, batch_size=int(batch_size), every_n_epochs=int(every_n_epochs))
        self.failures = pd.DataFrame(columns=["dataset", "benchmark", "error"])

    @classmethod
    def from_config(cls, config: Any) -> EvalHarness:
        """A harness running the benchmarks of an ``eval:`` block (path, mapping or :class:`EvalConfig`)."""
        cfg = load_config(config)
        h = cls(
            [get_benchmark(b.name, **b.params) for b in cfg.benchmarks],
            every_n_epochs=cfg.every_n_epochs,
            batch_size=cfg.batch_size,
        )
        h.config.device = cfg.device
        h.config.datasets = cfg.datasets
        return h

    @property
    def benchmarks(self) -> list[Benchmark]:
        return [get_benchmark(b.name, **b.params) for b in self.config.benchmarks]

    def run(
        self,
        model: Any,
        datasets: AnnData | Mapping[str, AnnData | str | os.PathLike],
        *,
        tokenizer: Any = None,
        batch_size: int | None = None,
        device: str | None = None,
        key_added: str = EMBED_KEY,
        input_scale: str = "auto",
        gene_key: str | None = None,
        progress: bool | None = None,
    ) -> list[Any]:
        """Embed every dataset with ``model`` and run the benchmarks; returns the results.

        ``model`` is anything :func:`scmf.tl.embed` accepts; a PyTorch module with ``encode``
        together with ``tokenizer`` is wrapped as :class:`scmf.models.TokenizedModel`. The
        embeddings go to ``obsm[key_added]`` and the results to ``uns["scmf_bench"]`` of each
        AnnData (pass copies to keep yours clean). A benchmark that fails is skipped with a
        warning naming it and its error, and listed in :attr:`failures`.
        """

        from .. import _store
        from ..models import resolve

        report = evaluate(
            datasets,
            self.config,
            model=resolve(model, tokenizer=tokenizer),
            batch_size=batch_size,
            device=device,
            key_added=key_added,
            input_scale=input_scale,
            gene_key=gene_key,
            progress=progress,
        )
        self.failures = report.failures
        if len(report.failures):
            lines = "; ".join(
                f"{f.benchmark} on {f.dataset}: {f.error}" for f in report.failures.itertuples()
            )
            warn(f"EvalHarness: {len(report.failures)} run(s) failed: {lines}")
        out = []
        for name, adata in report.datasets.items():
            for b in self.config.benchmarks:
                try:
                    out.append(_store.get(adata, b.name, dataset=name, rep=key_added))
                except KeyError:
                    continue  # failed: reported above
        return out
