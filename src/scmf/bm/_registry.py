"""The benchmark registry: names -> functions, with the evaluation guide's parameter names.

Built-in benchmarks are registered here; users add theirs with :func:`register_benchmark`,
and installed packages through the ``scmf.benchmarks`` entry-point group. Everything that
runs benchmarks by name (the harness, YAML configs, the CLI, the training callback) goes
through :func:`get_benchmark`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
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
    name: str, benchmark: Callable[..., Any] | type, *, aliases: Mapping[str, str] | None = None
) -> BenchmarkSpec:
    """Make a benchmark available by name to the harness, YAML configs, the CLI and the callback.

    Parameters
    ----------
    name
        The name used in configs (``benchmarks: [{name: ..., params: ...}]``).
    benchmark
        Either a function ``f(adata, *, use_rep, dataset_name, inplace, **params)`` written
        like scmf's own (storing through the results store), or a simpler function or class:

        - a function ``f(X, adata, **params) -> dict[str, float]`` receiving the embedding;
        - a class whose instances are built with ``**params`` and have
          ``run(X, adata) -> dict[str, float]``.

        The metrics of the simpler forms are stored for you, with the params, metadata
        ``{"n_cells": ...}`` and provenance, so they show up in :func:`scmf.bm.results`.
    aliases
        Other accepted parameter names -> the benchmark's own.

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
    func = benchmark if _is_native(benchmark) else _wrap_simple(name, benchmark)
    spec = BenchmarkSpec(name, func, dict(aliases or {}))
    _REGISTRY[name] = spec
    return spec


def _is_native(obj) -> bool:
    if inspect.isclass(obj) or not callable(obj):
        return False
    p = inspect.signature(obj).parameters
    return {"use_rep", "dataset_name", "inplace"} <= set(p)


def _wrap_simple(name: str, benchmark):
    from .._keys import BENCH_KEY, EMBED_KEY
    from .._validate import as_rep_list, get_rep
    from ._common import dataset_name_or_default, finish

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

    def run(adata, *, use_rep=EMBED_KEY, dataset_name=None, inplace=True, key_added=BENCH_KEY, **params):
        dataset = dataset_name_or_default(dataset_name)
        results = []
        for rep in as_rep_list(use_rep):
            metrics = call(get_rep(adata, rep), adata, **params)
            if not isinstance(metrics, Mapping):
                msg = f"benchmark {name!r} must return a dict of metrics, got {type(metrics).__name__}."
                raise TypeError(msg)
            results.append(
                _store.Result(
                    benchmark=name,
                    dataset=dataset,
                    rep=rep,
                    metrics={k: float(v) for k, v in metrics.items()},
                    metadata={"n_cells": int(adata.n_obs)},
                    params={"use_rep": rep, **params},
                )
            )
        return finish(adata, results, inplace=inplace, key_added=key_added)

    params = [inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default) for p in own]
    base = [inspect.Parameter("adata", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None)
        for n in ("use_rep", "dataset_name", "inplace")
    ]
    run.__signature__ = inspect.Signature(base + params)  # type: ignore[attr-defined]
    run.__name__ = name
    return run


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


def get_benchmark(name: str) -> BenchmarkSpec:
    """The benchmark registered as ``name``; an unknown name is an error listing the known ones.

    Examples
    --------
    >>> import scmf
    >>> spec = scmf.bm.get_benchmark("linear_probe")
    >>> spec.resolve({"label_key": "cell_type"})  # the guide's alias, renamed
    {'cell_type_key': 'cell_type'}
    """
    reg = benchmarks()
    if name not in reg:
        msg = f"unknown benchmark {name!r}; available: {sorted(reg)}."
        raise ValueError(msg)
    return reg[name]


def _register_builtins() -> None:
    from ._embedding_quality import embedding_quality
    from ._grn import grn_inference
    from ._linear_probe import linear_probe
    from ._perturbation import perturbation

    label = {"label_key": "cell_type_key"}
    register_benchmark("linear_probe", linear_probe, aliases=label)
    register_benchmark("embedding_quality", embedding_quality, aliases=label)
    register_benchmark("perturbation", perturbation)
    register_benchmark("grn_inference", grn_inference)
    from ._cz import cz_batch_integration, cz_clustering, cz_embedding, cz_label_prediction

    cz_alias = {"cell_type_key": "label_key"}
    register_benchmark("cz_clustering", cz_clustering, aliases=cz_alias)
    register_benchmark("cz_embedding", cz_embedding, aliases=cz_alias)
    register_benchmark("cz_label_prediction", cz_label_prediction, aliases=cz_alias)
    register_benchmark("cz_batch_integration", cz_batch_integration, aliases=cz_alias)


_register_builtins()
