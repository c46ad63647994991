"""One shape for every benchmark: metric declarations, a pure scoring step, one shared runner.

A benchmark is written as a *prepare* function decorated with :func:`benchmark`; it declares
only its own parameters::

    @benchmark("my_bench", metrics=[Metric("score", "bio", description="...")])
    def my_bench(adata, cell_type_key="cell_type", *, seed=0):
        labels = ...                      # validate and prepare shared inputs once
        return Prepared(score=lambda X: Score({"score": f(X, labels)}))

The runner (the decorated function) adds the parameters every benchmark shares (``use_rep``,
``dataset_name``, ``inplace``, ``key_added``, ``progress``) to the signature and the
docstring, and owns what every benchmark would otherwise repeat: the AnnData check, reading
and checking each ``use_rep`` before any work, the dataset name, renamed parameters
(``aliases``), the parameters actually used (taken from the call's bound arguments),
building, storing and returning the results (``inplace``), and registering the benchmark by
name in the one registry (``bm/_registry.py``).
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _progress, _store
from .._keys import BENCH_KEY, DEFAULT_DATASET, EMBED_KEY
from .._validate import as_rep_list, check_anndata, get_rep
from .._warnings import recording
from . import _registry
from ._registry import EXECUTION, SHARED, BenchmarkSpec, Metric, register, rename_aliases

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("scmf")

_K = inspect.Parameter.KEYWORD_ONLY
#: the shared parameters as the runner adds them: use_rep first, the storing ones last
_SHARED_PARAMS = {
    "use_rep": inspect.Parameter("use_rep", _K, default=EMBED_KEY, annotation="str | Sequence[str] | None"),
    "progress": inspect.Parameter("progress", _K, default=None, annotation="bool | None"),
    "dataset_name": inspect.Parameter("dataset_name", _K, default=None, annotation="str | None"),
    "inplace": inspect.Parameter("inplace", _K, default=True, annotation="bool"),
    "key_added": inspect.Parameter("key_added", _K, default=BENCH_KEY, annotation="str"),
}
#: their documentation, written once for every benchmark
SHARED_DOCS = {
    "use_rep": """use_rep
        ``obsm`` key, or a list of keys, to evaluate; representations of one call are scored
        on the same splits and resamples (what makes :func:`scmf.bm.compare` paired).
        ``None``: no embedding, for a benchmark that also scores something else (a
        ``predicted_layer``) and is asked for that alone.""",
    "progress": """progress
        Show a progress bar (``None``: on a terminal, unless scanpy's verbosity is 0).""",
    "dataset_name": """dataset_name
        Name under which the results are stored. Default: the data's own name, recorded by
        scmf's loaders (``scmf.datasets.load``, the CLI and harness: the file stem), else
        ``"dataset"``.""",
    "inplace": """inplace
        Store results in ``adata.uns[key_added]`` and return ``None``; otherwise return the
        results table and leave ``adata`` untouched.""",
    "key_added": """key_added
        ``uns`` key of the results store.""",
}
_RETURNS = """    Returns
    -------
    ``None`` when ``inplace``, else the tidy table (see :func:`scmf.bm.results`).
"""

ReplicateKind = Literal["splits", "bootstrap"]


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


def benchmark(
    name: str,
    metrics: Sequence[Metric],
    *,
    aliases: Mapping[str, str] | None = None,
    dtype: Any = np.float64,
    weights: Mapping[str, float] | None = None,
    measures: str | None = None,
    register: bool = True,
):
    """Turn a prepare function into a benchmark: runner, declaration and registration in one.

    The decorated function takes ``adata`` and the benchmark's own parameters and returns a
    :class:`Prepared`. The runner adds the shared parameters (``use_rep``, ``dataset_name``,
    ``inplace``, ``key_added``, ``progress``) to its signature and docstring (a function may
    still declare them itself; it then receives them). Every other parameter is recorded,
    with the value of the call, in each result's ``params``.

    Parameters
    ----------
    name
        Name of the benchmark (results store, configs, the CLI).
    metrics
        Declarations of the metrics its scoring step returns.
    aliases
        Other accepted parameter names -> the function's own, in direct calls and configs
        alike (``{"test_fraction": "test_size"}``); giving both is an error.
    dtype
        dtype the embeddings are read in (``None``: float32/float64 kept as stored).
    weights
        Weights of the metric groups in the benchmark's aggregate (default: equal); read by
        the benchmark's own aggregate and by tables and plots.
    measures
        What the scores test, in one line (encoding given the cells, or prediction of the
        unseen); the report shows it beside the benchmark's name.
    register
        Make it available by name to the harness, configs, the CLI and the callback.

    Examples
    --------
    >>> import numpy as np, scanpy as sc, scmf
    >>> from scmf.bm import Metric, Prepared, Score
    >>> @scmf.bm.benchmark("norm_spread", [Metric("cv", "other", False, None, "spread of cell norms")])
    ... def norm_spread(adata):
    ...     def score(X):
    ...         n = np.linalg.norm(X, axis=1)
    ...         return Score({"cv": float(n.std() / n.mean())})
    ...     return Prepared(score)
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> norm_spread(adata, use_rep="X_pca")
    >>> scmf.bm.results(adata)[["benchmark", "metric"]].values.tolist()
    [['norm_spread', 'cv']]
    """
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        msg = f"benchmark {name!r} declares a metric twice: {names}."
        raise ValueError(msg)
    _store._check_key(name, "benchmark name")
    alias_map = dict(aliases or {})

    def deco(prepare: Callable[..., Prepared]):
        own = inspect.signature(prepare)
        if "adata" not in own.parameters:
            msg = f"benchmark {name!r}: the function's first parameter must be adata (see scmf.bm.benchmark)."
            raise TypeError(msg)
        sig = _runner_signature(own)
        spec = BenchmarkSpec(
            name, prepare, tuple(metrics), alias_map, dtype, dict(weights) if weights else None, measures
        )

        @functools.wraps(prepare)
        def run(*args, **kwargs) -> pd.DataFrame | None:
            kwargs = rename_aliases(name, alias_map, kwargs)
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            return _run(spec, prepare, own, bound.arguments)

        run.__signature__ = sig  # type: ignore[attr-defined]
        run.__doc__ = _runner_doc(prepare.__doc__, own, alias_map)
        run.__annotations__ = {**getattr(prepare, "__annotations__", {}), "return": "pd.DataFrame | None"}
        run.spec = spec  # type: ignore[attr-defined]
        spec.func = run
        if register:
            _registry.register(spec)
        return run

    return deco


def _runner_signature(own: inspect.Signature) -> inspect.Signature:
    """``own`` with the shared parameters the function does not declare (keyword-only)."""
    params = list(own.parameters.values())
    have = {p.name for p in params}
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keyword = [p for p in params if p.kind == p.KEYWORD_ONLY]
    var = [p for p in params if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    first = [_SHARED_PARAMS["use_rep"]] if "use_rep" not in have else []
    last = [p for n, p in _SHARED_PARAMS.items() if n != "use_rep" and n not in have]
    return own.replace(
        parameters=[*positional, *first, *keyword, *last, *var], return_annotation="pd.DataFrame | None"
    )


def _runner_doc(doc: str | None, own: inspect.Signature, aliases: Mapping[str, str]) -> str | None:
    """The prepare function's docstring with the shared parameters (and aliases) documented."""
    if doc is None:
        return None
    doc = inspect.cleandoc(doc)
    add = [SHARED_DOCS[n] for n in SHARED_DOCS if n not in own.parameters and f"\n{n}\n" not in f"\n{doc}\n"]
    add += [f"{a}\n    Another name of ``{p}`` (give one of the two)." for a, p in aliases.items()]
    block = "\n".join(inspect.cleandoc(t) if "\n" not in t else _dedent_doc(t) for t in add)
    lines = doc.split("\n")
    if "Parameters" in lines:
        i = lines.index("Parameters") + 2
        while i < len(lines) and not (
            lines[i].strip() and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}
        ):
            i += 1
        while i > 0 and not lines[i - 1].strip():
            i -= 1
        lines[i:i] = block.split("\n") if block else []
    elif block:
        lines += ["", "Parameters", "----------", *block.split("\n")]
    if "Returns" not in lines:
        at = lines.index("Examples") if "Examples" in lines else len(lines)
        lines[at:at] = [*inspect.cleandoc(_RETURNS).split("\n"), ""]
    return "\n".join(lines)


def _dedent_doc(text: str) -> str:
    """A parameter entry written with its body indented by 8 spaces -> numpydoc's 4."""
    head, _, body = text.partition("\n")
    return "\n".join(
        [head, *(line[4:] if line.startswith("        ") else line for line in body.split("\n"))]
    )


def _run(spec: BenchmarkSpec, prepare: Callable[..., Prepared], own: inspect.Signature, call: dict[str, Any]):
    adata = call["adata"]
    with recording() as prepare_warnings:  # stored with every result of the call
        check_anndata(adata, f"scmf.bm.{spec.name}")
        reps = [] if call["use_rep"] is None else as_rep_list(call["use_rep"])
        dataset = dataset_name_or_default(call["dataset_name"], adata)
        embeddings = {rep: get_rep(adata, rep, dtype=spec.dtype) for rep in reps}
        prepared = prepare(**{k: v for k, v in call.items() if k in own.parameters})
    if not isinstance(prepared, Prepared):
        msg = f"benchmark {spec.name!r}: its function must return scmf.bm.Prepared, got {type(prepared).__name__}."
        raise TypeError(msg)
    if not reps and not prepared.extra:
        msg = (
            f"scmf.bm.{spec.name}: use_rep=None leaves nothing to score; pass the obsm key (or keys) of "
            "the representations to evaluate."
        )
        raise ValueError(msg)
    params = {
        k: _param_value(v) for k, v in call.items() if k != "adata" and k not in SHARED and k not in EXECUTION
    }
    params.update(prepared.params)
    cells_id = _store.cells_fingerprint(adata.obs_names)  # which cells, in which order
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
    with _progress.bar(len(runs) * steps, spec.name, progress=call.get("progress")) as bar:
        for rep, score_fn in runs:
            bar.set_postfix_str(rep, refresh=False)
            start = bar.n
            t0 = time.perf_counter()
            with recording() as raised:
                s = score_fn()
            elapsed = time.perf_counter() - t0
            bar.update(max(steps - (bar.n - start), 0))  # whatever the step did not report
            logger.info("%s on %r: %.2f s", spec.name, rep, elapsed)
            said = list(dict.fromkeys([*prepare_warnings, *raised]))
            metadata = {"cells": cells_id, **prepared.metadata}
            if said:
                metadata["warnings"] = said
            results.append(_result(spec, dataset, rep, s, params, metadata))
    return finish(adata, results, inplace=call["inplace"], key_added=call["key_added"])


def _result(declared: BenchmarkSpec, dataset, rep, s: Score, params, metadata) -> _store.Result:
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


#: the most splits and resamples a call accepts: beyond them a typo (1e11) runs for ever
MAX_SPLITS = 1000
MAX_BOOTSTRAP = 100_000


def check_splits(test_size: float, n_splits: int) -> None:
    """The split settings every split-based benchmark shares: a fraction and a positive count."""
    if not 0.0 < float(test_size) < 1.0:
        msg = f"test_size must be a fraction in (0, 1), got {test_size!r}."
        raise ValueError(msg)
    if not isinstance(n_splits, int | np.integer) or isinstance(n_splits, bool) or n_splits < 1:
        msg = f"n_splits must be a positive integer, got {n_splits!r}."
        raise ValueError(msg)
    if n_splits > MAX_SPLITS:
        msg = (
            f"n_splits={n_splits} is more than {MAX_SPLITS} splits; intervals do not narrow past a few dozen."
        )
        raise ValueError(msg)


def check_bootstrap(n_bootstrap: int) -> int:
    if not isinstance(n_bootstrap, int | np.integer) or isinstance(n_bootstrap, bool) or n_bootstrap < 0:
        msg = f"n_bootstrap must be a non-negative integer (0: no resampling), got {n_bootstrap!r}."
        raise ValueError(msg)
    if n_bootstrap > MAX_BOOTSTRAP:
        msg = f"n_bootstrap={n_bootstrap} is more than {MAX_BOOTSTRAP} resamples; 1,000 give a 95% interval to about 1%."
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


def register_benchmark(
    name: str,
    benchmark: Callable[..., Any] | type,
    *,
    aliases: Mapping[str, str] | None = None,
    metrics: Sequence[Metric] | None = None,
) -> BenchmarkSpec:
    """Make a benchmark available by name to the harness, YAML configs, the CLI and the callback.

    Benchmarks written with :func:`scmf.bm.benchmark` register themselves. This function
    registers the simpler forms too, which run through the same runner:

    - a function ``f(X, adata, **params) -> dict[str, float]`` receiving the embedding;
    - a class whose instances are built with ``**params`` and have
      ``run(X, adata) -> dict[str, float]``.

    Their metrics are stored with the params, metadata ``{"n_cells": ...}`` and provenance,
    so they show up in :func:`scmf.bm.results`.

    Parameters
    ----------
    name
        The name used in configs (``benchmarks: [{name: ..., params: ...}]``).
    benchmark
        A runner made by :func:`scmf.bm.benchmark`, or one of the simpler forms above.
    aliases
        Other accepted parameter names -> the benchmark's own.
    metrics
        :class:`scmf.bm.Metric` declarations of a simple form's metrics (direction, bounds,
        group) for tables and plots; undeclared metrics count as unbounded, higher is better.

    Returns
    -------
    The :class:`BenchmarkSpec`.

    Examples
    --------
    >>> import numpy as np, scanpy as sc, scmf
    >>> def mean_norm(X, adata):
    ...     return {"mean_norm": float(np.linalg.norm(X, axis=1).mean())}
    >>> spec = scmf.bm.register_benchmark("mean_norm", mean_norm)
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> report = scmf.bm.evaluate(adata, [{"name": "mean_norm"}], use_rep="X_pca", progress=False)
    >>> report.results()["metric"].tolist()
    ['mean_norm']
    """
    _store._check_key(name, "benchmark name")
    made = getattr(benchmark, "spec", None)
    if isinstance(made, BenchmarkSpec):  # a runner made by @benchmark: registered under this name too
        spec = BenchmarkSpec(name, benchmark, made.metrics, {**made.aliases, **dict(aliases or {})}, made.dtype,
                             made.weights, made.measures)  # fmt: skip
        return register(spec)
    if _is_native(benchmark):  # a function with the runner's parameters, made some other way
        return register(BenchmarkSpec(name, benchmark, tuple(metrics or ()), dict(aliases or {})))
    run = _wrap_simple(name, benchmark, metrics or (), aliases)
    return register(run.spec)


def _is_native(obj) -> bool:
    if inspect.isclass(obj) or not callable(obj):
        return False
    p = inspect.signature(obj).parameters
    return {"use_rep", "dataset_name", "inplace"} <= set(p)


def _wrap_simple(name: str, simple, metrics, aliases):
    """A simple function or class as a runner: the same path as every other benchmark."""
    if inspect.isclass(simple):
        if not callable(getattr(simple, "run", None)):
            msg = f"benchmark class {simple.__name__} needs a run(X, adata) method."
            raise TypeError(msg)
        sig_src = simple.__init__
        call = lambda X, adata, **p: simple(**p).run(X, adata)  # noqa: E731
    elif callable(simple):
        sig_src = simple
        call = simple
    else:
        msg = f"a benchmark must be a function or a class, got {type(simple).__name__}."
        raise TypeError(msg)
    own = [
        p
        for p in inspect.signature(sig_src).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "X", "adata")
    ]

    def prepare(adata, **params):
        def score(X):
            metrics = call(X, adata, **params)
            if not isinstance(metrics, Mapping):
                msg = f"benchmark {name!r} must return a dict of metrics, got {type(metrics).__name__}."
                raise TypeError(msg)
            return Score({k: float(v) for k, v in metrics.items()})

        return Prepared(score, metadata={"n_cells": int(adata.n_obs)})

    prepare.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("adata", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(inspect.Parameter(p.name, _K, default=p.default) for p in own),
        ]
    )
    prepare.__name__ = prepare.__qualname__ = name
    return benchmark(name, metrics, aliases=aliases, register=False)(prepare)


def _load_entry_points() -> None:
    if _registry._ENTRY_POINTS_LOADED:
        return
    _registry._ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=_registry.ENTRY_POINT_GROUP):
        if ep.name not in _registry._REGISTRY:
            register_benchmark(ep.name, ep.load())


def benchmarks() -> dict[str, BenchmarkSpec]:
    """All registered benchmarks (built-in, user-registered, from entry points).

    Examples
    --------
    >>> import scmf
    >>> {"linear_probe", "embedding_quality", "perturbation", "grn_inference"} <= set(scmf.bm.benchmarks())
    True
    """
    _load_entry_points()
    return dict(_registry._REGISTRY)


def lookup(name: str) -> BenchmarkSpec:
    """The registered benchmark ``name``; an unknown name is an error listing the known ones."""
    reg = benchmarks()
    if name not in reg:
        msg = f"unknown benchmark {name!r}; available: {sorted(reg)}."
        raise ValueError(msg)
    return reg[name]


def declaration(name: str) -> BenchmarkSpec:
    """The declaration of benchmark ``name``: its metrics, aliases and aggregate weights.

    What tables, plots and comparisons read. A benchmark not registered in this installation
    (a stored result of a plugin that is not installed) gets an empty declaration, whose
    metrics count as undeclared (higher is better, unbounded).

    Examples
    --------
    >>> import scmf
    >>> m = scmf.bm.declaration("perturbation").metric("mse")
    >>> m.higher_is_better, m.bounds
    (False, None)
    """
    return benchmarks().get(name) or BenchmarkSpec(name, _not_installed)


def _not_installed(*args, **kwargs):
    msg = "this benchmark is not registered in this installation; install the package that provides it."
    raise RuntimeError(msg)
