"""One shape for every benchmark: metric declarations, a pure scoring step, one shared runner.

A benchmark is written as a *prepare* function decorated with :func:`benchmark`::

    @benchmark("my_bench", metrics=[Metric("score", "bio", description="...")])
    def my_bench(adata, cell_type_key="cell_type", *, use_rep=EMBED_KEY, seed=0,
                 dataset_name=None, inplace=True, key_added=BENCH_KEY):
        labels = ...                      # validate and prepare shared inputs once
        return Prepared(score=lambda X: Score({"score": f(X, labels)}))

The runner (the decorated function) owns what every benchmark would otherwise repeat: the
AnnData check, reading and checking each ``use_rep`` before any work, the dataset name, the
parameters actually used (taken from the call's bound arguments), building, storing and
returning the results (``inplace``), and registering the benchmark by name.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _progress, _store
from .._keys import DEFAULT_DATASET
from .._validate import as_rep_list, check_anndata, get_rep

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("scmf")

COMMON = ("adata", "use_rep", "dataset_name", "inplace", "key_added")
# how a call runs, not what it computes: never stored, so runs differing only here compare as equal
EXECUTION = ("progress", "n_jobs")
"""Parameters every benchmark function has; the runner handles them, they are not stored as params."""

ReplicateKind = Literal["splits", "bootstrap"]


@dataclass(frozen=True)
class Metric:
    """The declaration of one metric: what tables, plots and comparisons need to know about it.

    Parameters
    ----------
    name
        Name under which the value is stored.
    group
        What it measures: ``"bio"``, ``"batch"``, ``"prediction"``, ``"perturbation"``,
        ``"regulation"``, ``"baseline"`` (a reference value computed beside the model, not a
        score of the embedding), ``"score"`` (an aggregate the benchmark itself computes) or
        any other word.
    higher_is_better
        Direction; plots flip lower-is-better metrics when colouring.
    bounds
        ``(low, high)`` where the metric is bounded (drawn on that fixed scale), else ``None``.
    description
        One line: what the number means.
    """

    name: str
    group: str = "other"
    higher_is_better: bool = True
    bounds: tuple[float, float] | None = (0.0, 1.0)
    description: str = ""

    def oriented(self, value: float) -> float:
        """``value`` on [0, 1] with 1 the best end of its bounds (NaN when unbounded)."""
        if self.bounds is None or value is None or not math.isfinite(value):
            return float("nan")
        lo, hi = self.bounds
        x = (float(value) - lo) / (hi - lo)
        return x if self.higher_is_better else 1.0 - x


def undeclared(name: str) -> Metric:
    """What is assumed about a metric no benchmark declares: higher is better, unbounded."""
    return Metric(name, "other", True, None, "")


@dataclass
class Score:
    """What a scoring step returns for one embedding.

    ``metrics`` are the stored values. ``replicates`` holds, for metrics with several
    evaluations, the value of each: one per split (``replicate_kind="splits"``, the metric is
    their mean) or one per bootstrap resample of the evaluated units (``"bootstrap"``; the
    metric is the full-data value). Representations scored in one call share splits and
    resamples, which is what makes :func:`scmf.bm.compare` a paired comparison.
    """

    metrics: dict[str, float]
    replicates: dict[str, np.ndarray] = field(default_factory=dict)
    replicate_kind: ReplicateKind | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prepared:
    """What a benchmark's prepare step hands the runner.

    Parameters
    ----------
    score
        Pure scoring step: the embedding of the selected cells -> :class:`Score`.
    cells
        Boolean mask of the cells scored (``None``: all).
    metadata
        Metadata shared by every representation (merged under each score's own).
    params
        Parameters to record instead of the call's own values (resolved aliases, or values
        that cannot be stored as given).
    extra
        Further representations computed by the benchmark itself (e.g. a baseline from the
        expression): name -> a function returning its :class:`Score`.
    steps
        Progress units one scoring call reports with ``scmf._progress.advance`` (probe fits,
        Leiden resolutions); the runner's bar counts ``steps`` per representation.
    """

    score: Callable[[np.ndarray], Score]
    cells: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Callable[[], Score]] = field(default_factory=dict)
    steps: int = 1


@dataclass
class BenchmarkInfo:
    """A benchmark's declaration: its name, metrics and how it reads embeddings."""

    name: str
    metrics: tuple[Metric, ...]
    dtype: Any = np.float64
    weights: dict[str, float] | None = None  # group weights of the aggregate (None: equal)

    def metric(self, name: str) -> Metric:
        for m in self.metrics:
            if m.name == name:
                return m
        for m in self.metrics:  # per-classifier variants such as accuracy_lr
            if name.startswith(m.name + "_"):
                return Metric(name, m.group, m.higher_is_better, m.bounds, m.description)
        return undeclared(name)


_INFO: dict[str, BenchmarkInfo] = {}


def info(name: str) -> BenchmarkInfo:
    """The declaration of benchmark ``name`` (an undeclared one gets an empty declaration)."""
    return _INFO.get(name) or BenchmarkInfo(name, ())


def metric_info(benchmark: str, metric: str) -> Metric:
    """The declaration of one metric of one benchmark.

    Examples
    --------
    >>> import scmf
    >>> m = scmf.bm.metric_info("perturbation", "mse")
    >>> m.higher_is_better, m.bounds
    (False, None)
    """
    return info(benchmark).metric(metric)


def benchmark(
    name: str,
    metrics: Sequence[Metric],
    *,
    aliases: Mapping[str, str] | None = None,
    dtype: Any = np.float64,
    weights: Mapping[str, float] | None = None,
    register: bool = True,
):
    """Turn a prepare function into a benchmark: runner, declaration and registration in one.

    The decorated function must have the parameters ``adata``, ``use_rep``, ``dataset_name``,
    ``inplace`` and ``key_added`` (the runner handles them) and return a :class:`Prepared`.
    Every other parameter is recorded, with the value of the call, in each result's
    ``params``.

    Parameters
    ----------
    name
        Name of the benchmark (results store, configs, the CLI).
    metrics
        Declarations of the metrics its scoring step returns.
    aliases
        Other accepted parameter names in configs -> the function's own.
    dtype
        dtype the embeddings are read in (``None``: float32/float64 kept as stored).
    weights
        Weights of the metric groups in the aggregate score plots show (default: equal).
    register
        Make it available by name to the harness, configs, the CLI and the callback.

    Examples
    --------
    >>> import numpy as np, scanpy as sc, scmf
    >>> from scmf.bm import Metric, Prepared, Score
    >>> @scmf.bm.benchmark("norm_spread", [Metric("cv", "other", False, None, "spread of cell norms")])
    ... def norm_spread(adata, *, use_rep="X_scmf", dataset_name=None, inplace=True, key_added="scmf_bench"):
    ...     def score(X):
    ...         n = np.linalg.norm(X, axis=1)
    ...         return Score({"cv": float(n.std() / n.mean())})
    ...     return Prepared(score)
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> norm_spread(adata, use_rep="X_pca")
    >>> scmf.bm.results(adata)[["benchmark", "metric"]].values.tolist()
    [['norm_spread', 'cv']]
    """
    declared = BenchmarkInfo(name, tuple(metrics), dtype, dict(weights) if weights else None)
    names = [m.name for m in declared.metrics]
    if len(set(names)) != len(names):
        msg = f"benchmark {name!r} declares a metric twice: {names}."
        raise ValueError(msg)

    def deco(prepare: Callable[..., Prepared]):
        sig = inspect.signature(prepare)
        missing = [p for p in COMMON if p not in sig.parameters]
        if missing:
            msg = f"benchmark {name!r}: the function needs the parameters {missing} (see scmf.bm.benchmark)."
            raise TypeError(msg)

        @functools.wraps(prepare)
        def run(*args, **kwargs) -> pd.DataFrame | None:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            call = bound.arguments
            return _run(declared, prepare, call)

        run.__signature__ = sig.replace(return_annotation="pd.DataFrame | None")  # type: ignore[attr-defined]
        run.info = declared  # type: ignore[attr-defined]
        _INFO[name] = declared
        if register:
            from ._registry import register_benchmark

            register_benchmark(name, run, aliases=aliases)
        return run

    return deco


def _run(declared: BenchmarkInfo, prepare: Callable[..., Prepared], call: dict[str, Any]):
    adata = call["adata"]
    check_anndata(adata, f"scmf.bm.{declared.name}")
    reps = as_rep_list(call["use_rep"])
    dataset = dataset_name_or_default(call["dataset_name"], adata)
    embeddings = {rep: get_rep(adata, rep, dtype=declared.dtype) for rep in reps}
    prepared = prepare(**call)
    if not isinstance(prepared, Prepared):
        msg = f"benchmark {declared.name!r}: its function must return scmf.bm.Prepared, got {type(prepared).__name__}."
        raise TypeError(msg)
    params = {k: _param_value(v) for k, v in call.items() if k not in COMMON and k not in EXECUTION}
    params.update(prepared.params)
    cells = prepared.cells
    if cells is not None and cells.all():
        cells = None
    runs: list[tuple[str, Callable[[], Score]]] = [
        (rep, functools.partial(prepared.score, X if cells is None else X[cells]))
        for rep, X in embeddings.items()
    ]
    runs += list(prepared.extra.items())
    results = []
    steps = max(int(prepared.steps), 1)
    with _progress.bar(len(runs) * steps, declared.name, progress=call.get("progress")) as bar:
        for rep, score_fn in runs:
            bar.set_postfix_str(rep, refresh=False)
            start = bar.n
            t0 = time.perf_counter()
            s = score_fn()
            elapsed = time.perf_counter() - t0
            bar.update(max(steps - (bar.n - start), 0))  # whatever the step did not report
            logger.info("%s on %r: %.2f s", declared.name, rep, elapsed)
            results.append(_result(declared, dataset, rep, s, params, prepared.metadata))
    return finish(adata, results, inplace=call["inplace"], key_added=call["key_added"])


def _result(declared, dataset, rep, s: Score, params, metadata) -> _store.Result:
    if not isinstance(s, Score):
        msg = f"benchmark {declared.name!r}: the scoring step must return scmf.bm.Score, got {type(s).__name__}."
        raise TypeError(msg)
    artifacts = dict(s.artifacts)
    std: dict[str, float] = {}
    if s.replicates:
        reps = {m: np.asarray(v, dtype=float) for m, v in s.replicates.items()}
        artifacts["replicates"] = reps
        artifacts["replicate_kind"] = s.replicate_kind or "splits"
        std = {m: float(np.nanstd(v, ddof=1)) if v.size > 1 else float("nan") for m, v in reps.items()}
    return _store.Result(
        benchmark=declared.name,
        dataset=dataset,
        rep=rep,
        metrics={m: float(v) for m, v in s.metrics.items()},
        metrics_std={m: std[m] for m in s.metrics if m in std},
        metadata={**metadata, **s.metadata},
        params={**params, "use_rep": rep},
        artifacts=artifacts,
    )


def _param_value(v: Any) -> Any:
    """A call's argument as it can be stored: paths as text, tables by their shape."""
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple):
        return list(v)
    if hasattr(v, "shape") and hasattr(v, "columns"):  # a DataFrame given in place of a file
        return f"<DataFrame {v.shape[0]} rows>"
    if isinstance(v, np.generic):
        return v.item()
    return v


def dataset_name_or_default(dataset_name: str | None, adata: Any = None) -> str:
    """``dataset_name``, or the data's own name (scmf's loaders record it), or ``"dataset"``."""
    if dataset_name is None and adata is not None:
        from .._uns import dataset_name as own_name

        dataset_name = own_name(adata)
    name = DEFAULT_DATASET if dataset_name is None else dataset_name
    _store._check_key(name, "dataset_name")
    return name


def finish(adata, results: Sequence[_store.Result], *, inplace: bool, key_added: str) -> pd.DataFrame | None:
    """Store the results (``inplace``) or return them as the tidy table."""
    if inplace:
        _store.write(adata, results, key=key_added)
        return None
    for r in results:  # same checks as storing, so inplace=False fails alike
        r.to_uns()
    return _store.to_frame(results)


def check_splits(test_size: float, n_splits: int) -> None:
    """The split settings every split-based benchmark shares: a fraction and a positive count."""
    if not 0.0 < float(test_size) < 1.0:
        msg = f"test_size must be a fraction in (0, 1), got {test_size!r}."
        raise ValueError(msg)
    if not isinstance(n_splits, int | np.integer) or isinstance(n_splits, bool) or n_splits < 1:
        msg = f"n_splits must be a positive integer, got {n_splits!r}."
        raise ValueError(msg)


def check_bootstrap(n_bootstrap: int) -> int:
    if not isinstance(n_bootstrap, int | np.integer) or isinstance(n_bootstrap, bool) or n_bootstrap < 0:
        msg = f"n_bootstrap must be a non-negative integer (0: no resampling), got {n_bootstrap!r}."
        raise ValueError(msg)
    return int(n_bootstrap)


def bootstrap_weights(n_units: int, n_bootstrap: int, seed: int):
    """Yield ``n_bootstrap`` multinomial resampling counts over ``n_units`` units (each sums to ``n_units``).

    The same ``(n_units, n_bootstrap, seed)`` give the same resamples, so every representation
    scored in one call (or in calls with the same settings) is resampled identically: the
    bootstrap is paired.
    """
    rng = np.random.default_rng([int(seed), 0x5CF])
    for _ in range(n_bootstrap):
        yield np.bincount(rng.integers(0, n_units, n_units), minlength=n_units).astype(np.float64)
