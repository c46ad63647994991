"""The one benchmark registry (names -> :class:`BenchmarkSpec`) and the metric declarations.

This module imports nothing of ``scmf.bm``. Benchmarks register themselves where they are
defined (the :func:`scmf.bm.benchmark` decorator, or :func:`scmf.bm.register_benchmark` for
the simpler forms); ``scmf.bm`` imports the built-in ones, installed packages add theirs
through the ``scmf.benchmarks`` entry-point group (loaded by :func:`scmf.bm.benchmarks`).
Everything that runs or describes benchmarks by name (the harness, YAML configs, the CLI, the
training callback, tables, plots, comparisons) reads this registry.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _store

ENTRY_POINT_GROUP = "scmf.benchmarks"

#: parameters the runner adds to every benchmark: how results are read and stored
SHARED = ("use_rep", "dataset_name", "inplace", "key_added", "progress")
#: how a call runs, not what it computes: never stored, so runs differing only here compare as equal
EXECUTION = ("progress", "n_jobs")


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
    aggregated
        Whether it enters its group's score and the benchmark's aggregate in tables. Only
        metrics on a common, comparable scale should (``False`` for, e.g., a raw average
        precision whose chance level is the positive rate: averaged with an AUROC it would
        hide its own signal).
    seed_dependent
        Its value depends on a random clustering run (Leiden's seed). :func:`scmf.bm.compare`
        tests it only when the replicates carry that variation (several clustering seeds:
        ``params["cluster_seeds"] >= 2``); otherwise its ``test`` says why not.
    """

    name: str
    group: str = "other"
    higher_is_better: bool = True
    bounds: tuple[float, float] | None = (0.0, 1.0)
    description: str = ""
    aggregated: bool = True
    seed_dependent: bool = False

    def oriented(self, value: float) -> float:
        """``value`` on [0, 1] with 1 the best end of its bounds (NaN when unbounded)."""
        if self.bounds is None or value is None or not math.isfinite(value):
            return float("nan")
        lo, hi = self.bounds
        x = (float(value) - lo) / (hi - lo)
        return x if self.higher_is_better else 1.0 - x


#: scIB's weighting of its two groups (Luecken et al. 2022), declared by the benchmarks that use it
SCIB_WEIGHTS = {"bio": 0.6, "batch": 0.4}


def weighted_score(means: Mapping[str, float], weights: Mapping[str, float] | None) -> float:
    """The aggregate of group means with a declaration's weights (equal weights where ``None``)."""
    w = {g: (weights or {}).get(g, 1.0) for g in means}
    return sum(w[g] * means[g] for g in means) / sum(w.values())


def undeclared(name: str) -> Metric:
    """What is assumed about a metric no benchmark declares: higher is better, unbounded."""
    return Metric(name, "other", True, None, "")


@dataclass
class BenchmarkSpec:
    """A registered benchmark: its runner and its declaration.

    ``func(adata, *, use_rep, dataset_name, inplace, key_added, **params)`` stores into the
    results store (``inplace=True``) or returns the tidy table (``inplace=False``).

    Attributes
    ----------
    name
        The name in the results store, configs and the CLI.
    func
        The runner (the function users call, e.g. :func:`scmf.bm.linear_probe`).
    metrics
        The :class:`Metric` declarations.
    aliases
        Other accepted parameter names (e.g. the evaluation guide's) -> the function's own.
    dtype
        dtype the embeddings are read in (``None``: float32/float64 kept as stored).
    weights
        Weights of the metric groups in the benchmark's aggregate (``None``: equal).
    measures
        What its scores test, in one line the report shows beside its name: whether a
        representation *encodes* something given the cells, or a model *predicts* what it
        has not seen (``None``: not stated).
    """

    name: str
    func: Callable[..., Any]
    metrics: tuple[Metric, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    dtype: Any = np.float64
    weights: dict[str, float] | None = None
    measures: str | None = None

    def metric(self, name: str) -> Metric:
        """The declaration of metric ``name`` (per-classifier variants such as ``accuracy_lr`` included)."""
        for m in self.metrics:
            if m.name == name:
                return m
        for m in self.metrics:
            if name.startswith(m.name + "_"):
                return Metric(
                    name, m.group, m.higher_is_better, m.bounds, m.description, m.aggregated, m.seed_dependent
                )
        return undeclared(name)

    @property
    def params(self) -> list[str]:
        """The benchmark's own parameter names, then its aliases."""
        sig = inspect.signature(self.func)
        names = [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.name != "adata"
            and p.name not in SHARED
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
        return rename_aliases(self.name, self.aliases, params)

    def run(self, adata, *, use_rep, dataset_name: str, params: Mapping[str, Any]) -> None:
        """Run it on ``adata`` and store the results (what the harness and the callback call)."""
        self.func(adata, use_rep=use_rep, dataset_name=dataset_name, inplace=True, **self.resolve(params))


def rename_aliases(name: str, aliases: Mapping[str, str], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with every alias renamed to the parameter it names; both given is an error."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        own = aliases.get(k, k)
        if own in out:
            msg = f"benchmark {name!r}: {k!r} and {own!r} name the same parameter; give one, not both."
            raise ValueError(msg)
        out[own] = v
    return out


_REGISTRY: dict[str, BenchmarkSpec] = {}
_ENTRY_POINTS_LOADED = False


def register(spec: BenchmarkSpec) -> BenchmarkSpec:
    """Put ``spec`` in the registry (re-registering a name replaces it)."""
    _store._check_key(spec.name, "benchmark name")
    _REGISTRY[spec.name] = spec
    return spec
