"""The benchmark registry: names -> functions, with the evaluation guide's parameter names.

Built-in benchmarks are registered here; users add theirs with :func:`register_benchmark`,
and installed packages through the ``scmf.benchmarks`` entry-point group. Everything that
runs benchmarks by name (the harness, YAML configs, the CLI, the training callback) goes
through :func:`spec` (the scanpy-style functions) or :func:`get_benchmark` (a benchmark
with its parameters bound, as the evaluation guide uses them).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import _store

ENTRY_POINT_GROUP = "scmf.benchmarks"
_COMMON = {"adata", "use_rep", "dataset_name", "inplace", "key_added"}


@dataclass
class BenchmarkSpec:
    """A registered benchmark.

    ``func(adata, *, use_rep, dataset_name, inplace, **params)`` stores into the results store
    (``inplace=True``) or returns the tidy table (``inplace=False``). ``aliases`` maps other
    accepted parameter names (e.g. the evaluation guide's) to the function's own.
    """

    name: str
    func: Callable[..., Any]
    aliases: dict[str, str] = field(default_factory=dict)
    extra: str | None = None  # optional-dependency extra it needs, for messages

    @property
    def params(self) -> list[str]:
        sig = inspect.signature(self.func)
        names = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in _COMMON
        ]
        return names + [a for a in self.aliases if a not in names]

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` with aliases renamed; unknown names are an error listing the valid ones."""
        if not isinstance(params, Mapping):
            msg = f"params of benchmark {self.name!r} must be a mapping, got {type(params).__name__}."
            raise TypeError(msg)
        valid = set(self.params)
        unknown = [k for k in params if k not in valid]
        if unknown:
            msg = f"benchmark {self.name!r} has no parameter {', '.join(map(repr, unknown))}; valid: {sorted(valid)}."
            raise ValueError(msg)
        out: dict[str, Any] = {}
        for k, v in params.items():
            own = self.aliases.get(k, k)
            if own in out:
                msg = f"benchmark {self.name!r}: {k!r} and {own!r} name the same parameter; give one."
                raise ValueError(msg)
            out[own] = v
        return out

    def run(self, adata, *, use_rep, dataset_name: str, params: Mapping[str, Any]) -> None:
        self.func(adata, use_rep=use_rep, dataset_name=dataset_name, inplace=True, **self.resolve(params))


_REGISTRY: dict[str, BenchmarkSpec] = {}
_ENTRY_POINTS_LOADED = False


def register_benchmark(
    name: str,
    benchmark: Callable[..., Any] | type,
    *,
    aliases: Mapping[str, str] | None = None,
    metrics: Sequence[Any] | None = None,
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
    func = benchmark if _is_native(benchmark) else _wrap_simple(name, benchmark, metrics or ())
    spec = BenchmarkSpec(name, func, dict(aliases or {}))
    _REGISTRY[name] = spec
    return spec


def _is_native(obj) -> bool:
    if inspect.isclass(obj) or not callable(obj):
        return False
    p = inspect.signature(obj).parameters
    return {"use_rep", "dataset_name", "inplace"} <= set(p)


def _wrap_simple(name: str, benchmark, metrics):
    """A simple function or class as a runner: the same path as every other benchmark."""
    from .._keys import BENCH_KEY, EMBED_KEY
    from ._benchmark import Prepared, Score
    from ._benchmark import benchmark as declare

    if inspect.isclass(benchmark):
        if not callable(getattr(benchmark, "run", None)):
            msg = f"benchmark class {benchmark.__name__} needs a run(X, adata) method."
            raise TypeError(msg)
        sig_src = benchmark.__init__
        call = lambda X, adata, **p: benchmark(**p).run(X, adata)  # noqa: E731
    elif callable(benchmark):
        sig_src = benchmark
        call = benchmark
    else:
        msg = f"a benchmark must be a function or a class, got {type(benchmark).__name__}."
        raise TypeError(msg)
    own = [
        p
        for p in inspect.signature(sig_src).parameters.values()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in ("self", "X", "adata")
    ]

    def prepare(adata, *, use_rep=EMBED_KEY, dataset_name=None, inplace=True, key_added=BENCH_KEY, **params):
        def score(X):
            metrics = call(X, adata, **params)
            if not isinstance(metrics, Mapping):
                msg = f"benchmark {name!r} must return a dict of metrics, got {type(metrics).__name__}."
                raise TypeError(msg)
            return Score({k: float(v) for k, v in metrics.items()})

        return Prepared(score, metadata={"n_cells": int(adata.n_obs)})

    K = inspect.Parameter.KEYWORD_ONLY
    prepare.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("adata", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            inspect.Parameter("use_rep", K, default=EMBED_KEY),
            inspect.Parameter("dataset_name", K, default=None),
            inspect.Parameter("inplace", K, default=True),
            inspect.Parameter("key_added", K, default=BENCH_KEY),
            *(inspect.Parameter(p.name, K, default=p.default) for p in own),
        ]
    )
    prepare.__name__ = prepare.__qualname__ = name
    return declare(name, metrics, register=False)(prepare)


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
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
    return dict(_REGISTRY)


def spec(name: str) -> BenchmarkSpec:
    """The registered benchmark ``name``; an unknown name is an error listing the known ones."""
    reg = benchmarks()
    if name not in reg:
        msg = f"unknown benchmark {name!r}; available: {sorted(reg)}."
        raise ValueError(msg)
    return reg[name]


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
    s = spec(name)
    return Benchmark(s, s.resolve(params))


def _register_builtins() -> None:
    # each benchmark registers itself where it is defined
    from . import _cz, _embedding_quality, _grn, _linear_probe, _perturbation, _scib  # noqa: F401


_register_builtins()
