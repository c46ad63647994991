"""Reading results side by side without mixing them: entries, significance, ranks, a compact table."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._keys import DEFAULT_DATASET, rep_kind
from .._warnings import warn
from ._benchmark import declaration

KEYS = ["source", "dataset", "benchmark"]
#: metric groups never averaged into group scores: references beside the model, and own aggregates
_NOT_AGGREGATED = ("baseline", "score")


def as_table(data: Any, *, replicates: bool = False) -> pd.DataFrame:
    """The long results table (with a ``source`` column) of an AnnData, files, a mapping, or a table."""
    from anndata import AnnData

    from ._results import collect

    if isinstance(data, pd.DataFrame):
        if not {"benchmark", "dataset", "rep", "metric", "value"} <= set(data.columns):
            msg = "expected the table of scmf.bm.results or scmf.bm.collect."
            raise TypeError(msg)
        if replicates and "replicates" not in data.columns:
            msg = (
                "this table has no replicates; build it with scmf.bm.results(..., replicates=True) or "
                "scmf.bm.collect(..., replicates=True), or pass the AnnData objects or files themselves."
            )
            raise ValueError(msg)
        t = data.copy()
        if replicates and "n_cells" not in t.columns:
            t["n_cells"] = np.nan
        if replicates and "cells" not in t.columns:
            t["cells"] = None
        if "source" not in t.columns:
            t.insert(0, "source", "")
        if "params" not in t.columns:
            t["params"] = "{}"
        return t
    if isinstance(data, AnnData):
        t = collect({"": data}, replicates=replicates)
    elif isinstance(data, str | os.PathLike | Mapping) or (
        isinstance(data, Sequence) and not isinstance(data, str)
    ):
        t = collect(data, replicates=replicates)
    else:
        msg = f"expected an AnnData, files, a mapping of them, or a results table; got {type(data).__name__}."
        raise TypeError(msg)
    return t


def entries(t: pd.DataFrame, *, warn_settings: bool = True) -> pd.DataFrame:
    """``t`` with an ``entry`` column: the rep, plus the differing parameters where settings differ.

    Rows of one benchmark on one (source, dataset) computed with different parameters are
    kept apart (``"X_pca [n_splits=2]"``) and a warning names the parameters that differ.
    """
    t = t.copy()
    t["entry"] = t["rep"].astype(str)
    for (source, dataset, bench), g in t.groupby(KEYS, sort=False):
        texts = list(dict.fromkeys(g["params"]))
        if len(texts) < 2:
            continue
        dicts = [json.loads(x) for x in texts]
        keys = sorted({k for d in dicts for k in d})
        differ = [k for k in keys if len({json.dumps(d.get(k), sort_keys=True) for d in dicts}) > 1]
        label = {x: ", ".join(f"{k}={d.get(k)}" for k in differ) for x, d in zip(texts, dicts, strict=True)}
        t.loc[g.index, "entry"] = g["rep"].astype(str) + " [" + g["params"].map(label) + "]"
        if warn_settings:
            where = f"dataset {dataset!r}" + (f" of {source!r}" if source else "")
            warn(
                f"{bench} on {where}: results were computed with different parameters ({', '.join(differ)}); "
                "they are shown as separate entries, not compared as equals."
            )
    return t


def context_label(source: str, dataset: str) -> str:
    """How a (source, dataset) pair is named in tables and figures."""
    return f"{source} · {dataset}" if source else str(dataset)


def shared_datasets(t: pd.DataFrame) -> list[str]:
    """Dataset names that have results from more than one source."""
    n = t.groupby("dataset")["source"].nunique()
    return sorted(n[n > 1].index)


def _pool_sources(t: pd.DataFrame, across_sources: bool | None, what: str) -> pd.DataFrame:
    """Decide how several sources that share a dataset are read (the one place that decides it).

    ``True``: each source's representations are models of their own: ``rep`` becomes
    ``"source · rep"`` and the source moves into it, so representations of all sources are set
    against each other per dataset. ``False``: sources stay apart. ``None``: refuse when the
    two readings would differ (some dataset has several sources), naming the argument.
    """
    shared = shared_datasets(t)
    if not shared or across_sources is False:
        return t
    if across_sources is None:
        msg = (
            f"{what}: datasets {shared} have results from several sources {sorted(set(t['source']))}. Pass "
            "across_sources=True to set each source's representations against each other as models of "
            "their own (e.g. two models evaluated into two files; names become 'source · rep'), or "
            "across_sources=False to keep each source apart (e.g. the same models evaluated twice)."
        )
        raise ValueError(msg)
    t = t.copy()
    named = t["source"].astype(str) != ""
    t.loc[named, "rep"] = t.loc[named, "source"].astype(str) + " · " + t.loc[named, "rep"].astype(str)
    t["source"] = ""
    return t


def comparison_table(
    data: Any,
    *,
    replicates: bool = False,
    warn_settings: bool = True,
    across_sources: bool | None = False,
) -> pd.DataFrame:
    """The results as every table, figure and comparison of scmf reads them.

    Parameters
    ----------
    data
        What :func:`scmf.bm.collect` accepts (AnnData objects, evaluated files, a mapping of
        them), or a table of :func:`scmf.bm.results` / :func:`scmf.bm.collect`.
    replicates
        Keep each metric's replicates (what :func:`scmf.bm.compare` tests).
    warn_settings
        Warn where rows of one benchmark on one dataset were computed with different settings.
    across_sources
        How several sources (files, objects) holding the same dataset are read. ``False``
        (default): each source stays apart (its own ``context``). ``True``: each source's
        representations are models of their own, named ``"source · rep"``, all in the
        dataset's context (the source column is emptied), so they are compared, ranked and
        scaled against each other; settings that differ between sources are then flagged like
        any others. ``None``: refuse where some dataset has several sources (the caller must
        choose).

    Returns
    -------
    The long results table with a ``source`` column and two more: ``entry`` (the
    representation, plus the settings that differ where rows of one benchmark on one
    (source, dataset) were computed differently: ``"X_pca [n_splits=2]"``; such rows are
    never compared as equals) and ``context`` (``"source · dataset"``, or the dataset alone).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep="X_pca", n_splits=2, dataset_name="pbmc")
    >>> t = scmf.bm.comparison_table(adata)
    >>> t[["context", "entry"]].drop_duplicates().values.tolist()
    [['pbmc', 'X_pca']]
    """
    return _comparison(data, replicates, warn_settings, across_sources, "comparison_table")


def _comparison(data, replicates, warn_settings, across_sources, what: str) -> pd.DataFrame:
    t = _pool_sources(as_table(data, replicates=replicates), across_sources, what)
    t = entries(t, warn_settings=warn_settings)
    t["context"] = [context_label(s, d) for s, d in zip(t["source"], t["dataset"], strict=True)]
    return t


def summary(data: Any, *, benchmark: str | None = None, digits: int = 3) -> pd.DataFrame:
    """A compact wide view: one row per (benchmark, metric), one column per representation.

    Where the results span several datasets or sources, each (source, dataset) is a block of
    rows of its own (a first index level ``dataset``, ``"source · dataset"`` with several
    sources), so the table stays as narrow as one dataset's; nothing is averaged or merged.

    Parameters
    ----------
    data
        An evaluated AnnData, files or a mapping of them (as :func:`scmf.bm.collect`), or a
        results table.
    benchmark
        Only this benchmark.
    digits
        Rounding of the values.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"])
    >>> scmf.bm.summary(adata).columns.tolist()
    ['X_pca_baseline', 'X_random_baseline']
    """
    t = comparison_table(data)
    if benchmark is not None:
        t = t[t["benchmark"] == benchmark]
    if t.empty:
        msg = "no results to summarise; run a scmf.bm benchmark first."
        raise KeyError(msg)
    index = ["benchmark", "metric"]
    if t["context"].nunique() > 1:  # one block of rows per dataset: as narrow as one dataset's table
        t = t.rename(columns={"context": "dataset_"})
        index = ["dataset_", *index]
    order = list(dict.fromkeys(t["entry"]))
    wide = t.pivot_table(index=index, columns="entry", values="value", sort=False, aggfunc="first")
    if "dataset_" in index:
        wide.index = wide.index.rename({"dataset_": "dataset"})
    wide = wide.reindex(columns=order).round(digits)
    wide.columns.name = None
    return wide


def compare(
    data: Any,
    *,
    baseline: str,
    reps: Sequence[str] | None = None,
    benchmark: str | None = None,
    alpha: float = 0.05,
    across_sources: bool | None = None,
) -> pd.DataFrame:
    """Differences from a baseline representation, with confidence intervals and paired tests.

    For each benchmark, (source, dataset), metric and representation: the difference
    ``rep - baseline``, its 95% confidence interval and a two-sided p-value, from the
    replicates both were scored on:

    - repeated splits (``linear_probe``, ``perturbation`` with ``n_splits >= 2``): the
      corrected resampled t-test of Nadeau and Bengio (2003) on the per-split differences
      (the plain paired t-test is too confident because the training sets of the splits
      overlap);
    - one evaluation with bootstrap resamples (``embedding_quality`` over cells,
      ``grn_inference`` over scored pairs): the percentile interval of the resampled
      differences, and a two-sided z-test of the observed difference against the bootstrap
      standard error of the paired differences (a count-based bootstrap p-value could never
      go below ``2 / (n_bootstrap + 1)``, too coarse to survive a multiple-testing correction).

    Metrics that depend on a random clustering run (``nmi``, ``ari`` and the scores built on
    them: :attr:`Metric.seed_dependent`) are tested only when their replicates carry the
    seed-to-seed variation (``embedding_quality``'s ``cluster_seeds >= 2``, the default on the
    exact path); otherwise a gap one Leiden seed happens to show would look significant.

    Metrics a benchmark declares as references (group ``"baseline"``, e.g. the perturbation
    benchmark's ``baseline_pearson``: the same value beside every representation) are never
    tested, so they do not inflate the multiple-testing correction.

    The pairing needs the two representations to be scored with identical settings (same
    splits or resamples): rows whose parameters differ are refused. ``p_holm`` adjusts the
    p-values for the number of comparisons in the returned table (Holm's step-down method).

    Parameters
    ----------
    data
        An evaluated AnnData, files, a mapping of them, or a table from
        ``scmf.bm.collect(..., replicates=True)``.
    baseline
        The representation everything is compared with (e.g. ``"X_pca_baseline"``).
    reps
        Representations to compare (default: every other one).
    benchmark
        Only this benchmark.
    alpha
        Level of ``significant`` (on ``p_holm``).
    across_sources
        With several sources (files, objects) sharing a dataset: ``True`` compares every
        source's representations (named ``"source · rep"``) with the baseline, e.g. a model in
        ``model.h5ad`` against ``X_pca_baseline`` in ``baselines.h5ad`` (``baseline`` may then be
        a representation name that only one source holds). The pairing assumes each source
        scored the same cells of the dataset with the same settings (identical parameters are
        required, and results whose stored cells differ, in number, names or order, are
        refused). ``False`` compares within each
        source. Required exactly then.

    Returns
    -------
    DataFrame with ``source, dataset, benchmark, metric, rep, kind, baseline, value,
    baseline_value, difference, ci_low, ci_high, p_value, p_holm, significant, better, test, n``
    (``kind``: as in :func:`rank_summary`).
    ``better`` is True where the difference is significant and in the metric's good direction.
    Rows without replicates (one split, ``n_bootstrap=0``) have NaN statistics and
    ``test`` says why.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=5)
    >>> c = scmf.bm.compare(adata, baseline="X_random_baseline")
    >>> row = c.set_index("metric").loc["accuracy"]
    >>> bool(row["difference"] > 0.3), bool(row["better"]), row["test"]
    (True, True, 'corrected resampled t-test')
    """
    from scipy import stats

    t = _comparison(data, True, False, across_sources, "compare")
    if benchmark is not None:
        t = t[t["benchmark"] == benchmark]
    baseline = _resolve_rep(baseline, set(t["rep"]), "baseline")
    if reps is not None:
        reps = [_resolve_rep(r, set(t["rep"]), "reps") for r in reps]
    rows = []
    for (source, dataset, bench, metric), g in t.groupby([*KEYS, "metric"], sort=False):
        if declaration(bench).metric(metric).group == "baseline":
            continue  # a reference computed beside every representation, the same for all: never tested
        base = {row.params: row for row in g[g["rep"] == baseline].itertuples()}
        if not base:
            continue
        others = g[g["rep"] != baseline] if reps is None else g[g["rep"].isin(list(reps))]
        for r in others.itertuples():
            b = base.get(r.params)
            if b is None:
                msg = (
                    f"{bench} on {dataset!r}: {r.rep!r} and {baseline!r} were computed with different "
                    "parameters, so they were not scored on the same splits or resamples; re-run them in one call."
                )
                raise ValueError(msg)
            if np.isfinite(r.n_cells) and np.isfinite(b.n_cells) and r.n_cells != b.n_cells:
                msg = (
                    f"{bench} on {dataset!r}: {r.rep!r} was scored on {int(r.n_cells)} cells and {baseline!r} on "
                    f"{int(b.n_cells)}; paired tests need the same cells. Evaluate both on the same object."
                )
                raise ValueError(msg)
            if isinstance(r.cells, str) and isinstance(b.cells, str) and r.cells != b.cells:
                msg = (
                    f"{bench} on {dataset!r}: {r.rep!r} and {baseline!r} were scored on different cells "
                    "(the cells' names or their order differ), so their splits or resamples do not pair; "
                    "paired tests need the same cells. Evaluate both on the same object."
                )
                raise ValueError(msg)
            row = _paired(
                r.replicates, b.replicates, r.replicate_kind, r.test_train_ratio, r.value - b.value, stats
            )
            seeds = json.loads(r.params).get("cluster_seeds", 1) if r.params else 1
            if declaration(bench).metric(metric).seed_dependent and (seeds or 1) < 2:
                row.update(
                    p_value=float("nan"),
                    test="not tested: depends on the clustering seed and one clustering was run "
                    "(re-run with cluster_seeds >= 2)",
                )
            rows.append(
                {
                    "source": source,
                    "dataset": dataset,
                    "benchmark": bench,
                    "metric": metric,
                    "rep": r.rep,
                    "kind": rep_kind(r.rep),
                    "baseline": baseline,
                    "value": r.value,
                    "baseline_value": float(b.value),
                    "difference": r.value - float(b.value),
                    **row,
                }
            )
    cols = [*KEYS[:2], "benchmark", "metric", "rep", "kind", "baseline", "value", "baseline_value", "difference",
            "ci_low", "ci_high", "p_value", "p_holm", "significant", "better", "test", "n"]  # fmt: skip
    out = pd.DataFrame(rows, columns=[c for c in cols if c not in ("p_holm", "significant", "better")])
    out["p_holm"] = holm(out["p_value"].to_numpy(dtype=float))
    out["significant"] = out["p_holm"] < alpha
    up = np.array(
        [
            declaration(b).metric(m).higher_is_better
            for b, m in zip(out["benchmark"], out["metric"], strict=True)
        ],
        dtype=bool,
    )
    out["better"] = out["significant"] & np.where(up, out["difference"] > 0, out["difference"] < 0)
    return out[cols]


def _resolve_rep(name: str, reps: set[str], what: str) -> str:
    """``name`` among the (possibly ``"source · rep"``-named) representations; ambiguity refused."""
    if name in reps:
        return name
    hits = sorted(r for r in reps if r.endswith(f" · {name}"))
    if len(hits) == 1:
        return hits[0]
    if hits:
        msg = f"{what} {name!r} is held by several sources: name one of {hits}."
    else:
        msg = f"{what} {name!r} is not among the stored representations {sorted(reps)}."
    raise KeyError(msg)


def _paired(a, b, kind, ratio, diff, stats) -> dict[str, Any]:
    nan = float("nan")
    if kind is None or a is None or b is None or len(a) != len(b) or len(a) < 2:
        why = "none: one evaluation (use n_splits >= 2 or n_bootstrap > 0)"
        return {"ci_low": nan, "ci_high": nan, "p_value": nan, "test": why, "n": 0}
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if kind == "bootstrap":
        lo, hi = diff + np.quantile(
            d - d.mean(), [0.025, 0.975]
        )  # centred on the estimate (see _store.interval)
        se = float(d.std(ddof=1))
        p = float(2 * stats.norm.sf(abs(diff) / se)) if se > 0 else float(diff == 0)
        return {
            "ci_low": float(lo),
            "ci_high": float(hi),
            "p_value": float(p),
            "test": "paired bootstrap",
            "n": n,
        }
    mean, var = float(d.mean()), float(d.var(ddof=1))
    se = np.sqrt((1.0 / n + (ratio if np.isfinite(ratio) else 0.0)) * var)
    half = float(stats.t.ppf(0.975, n - 1) * se)
    if se == 0:
        p = 1.0 if mean == 0 else 0.0
    else:
        p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return {
        "ci_low": mean - half,
        "ci_high": mean + half,
        "p_value": p,
        "test": "corrected resampled t-test",
        "n": n,
    }


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN kept as NaN)."""
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if not m:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def rank_summary(
    data: Any,
    *,
    benchmark: str | None = None,
    metrics: Sequence[str] | None = None,
    across_sources: bool | None = None,
) -> pd.DataFrame:
    """Mean rank of each representation over datasets, as benchmark papers report it.

    Within every dataset, representations are ranked on each metric (1 = best, by the
    metric's declared direction; ties share the mean rank); the ranks are averaged over
    metrics per benchmark and then over datasets. Baseline metrics (the mean-shift baseline of
    ``perturbation``) and aggregate scores are left out unless named in ``metrics``.

    Parameters
    ----------
    data
        What :func:`comparison_table` accepts (several files or objects: a mapping names them).
    benchmark
        Rank on this benchmark only.
    metrics
        Rank on these metrics only.
    across_sources
        With several sources (files, objects) that share a dataset: ``True`` treats each
        source's representations as models of their own (``"source · rep"``) and ranks them
        against each other per dataset, e.g. two models evaluated into two files; ``False``
        ranks within each source and pools a representation name across sources (the same
        model evaluated twice). Required exactly then (the two readings give different
        answers); ignored otherwise.

    Returns
    -------
    DataFrame indexed by representation: ``mean_rank`` (over all benchmarks), one column per
    benchmark, ``n_datasets`` (distinct dataset names it was ranked on) and ``kind``
    (``"model"``, ``"baseline"``, or ``"baseline (batch labels)"`` for Harmony and scVI, which
    read the batches a zero-shot model never sees); sorted best first.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> a, b = sc.datasets.pbmc68k_reduced(), sc.datasets.pbmc68k_reduced()
    >>> for ad in (a, b):
    ...     scmf.tl.baselines(ad)
    >>> scmf.bm.linear_probe(a, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], dataset_name="types")
    >>> scmf.bm.linear_probe(b, "phase", use_rep=["X_pca_baseline", "X_random_baseline"], dataset_name="phase")
    >>> scmf.bm.rank_summary({"a": a, "b": b}).index[0]
    'X_pca_baseline'
    """
    t = _comparison(data, False, True, across_sources, "rank_summary")
    if benchmark is not None:
        t = t[t["benchmark"] == benchmark]
    info = [declaration(b).metric(m) for b, m in zip(t["benchmark"], t["metric"], strict=True)]
    if metrics is None:
        keep = np.array([i.group not in ("baseline", "score") for i in info], dtype=bool)
    else:
        keep = t["metric"].isin(list(metrics)).to_numpy()
    t = t[keep].copy()
    if t.empty:
        msg = "no results to rank."
        raise KeyError(msg)
    within = ["source", "dataset"]
    up = np.array(
        [declaration(b).metric(m).higher_is_better for b, m in zip(t["benchmark"], t["metric"], strict=True)]
    )
    t["oriented"] = np.where(up, t["value"], -t["value"])
    t["rank"] = t.groupby([*within, "benchmark", "metric"], sort=False)["oriented"].rank(
        ascending=False, method="average"
    )
    per_bench = t.groupby([*within, "benchmark", "entry"], sort=False)["rank"].mean().reset_index()
    table = per_bench.pivot_table(index="entry", columns="benchmark", values="rank", aggfunc="mean")
    per_ds = per_bench.groupby([*within, "entry"])["rank"].mean().reset_index()
    table.insert(0, "mean_rank", per_ds.groupby("entry")["rank"].mean())
    table["n_datasets"] = per_ds.groupby("entry")["dataset"].nunique()
    reps_of = dict(zip(t["entry"], t["rep"], strict=False))
    table["kind"] = [rep_kind(reps_of[e]) for e in table.index]
    table.index.name = "rep"
    table.columns.name = None
    return table.sort_values("mean_rank", kind="stable")


@dataclass
class AggregateTable:
    """What :func:`aggregate_table` returns: one row per entry, one column per (benchmark, column).

    Attributes
    ----------
    shown
        The values as a table shows them: each metric (min-max scaled with
        ``min_max_scale``), then each benchmark's group scores and its ``aggregate``.
    oriented
        The same cells on [0, 1] with 1 the best end (the metric's declared bounds, or the
        scaled range), NaN where a metric is unbounded: what colour scales read.
    scores
        The (benchmark, column) pairs that are aggregates (the benchmark's own ``score``
        metrics, or the ``aggregate`` computed here).
    title
        What all rows share (dataset, source) and what was averaged over, as text.
    reps
        The representation of each row (in row order), e.g. to tell models from baselines.
    """

    shown: pd.DataFrame
    oriented: pd.DataFrame
    scores: list[tuple[str, str]]
    title: list[str]
    reps: list[str]


def aggregate_table(
    data: Any,
    *,
    benchmarks: list[str] | None = None,
    min_max_scale: bool = False,
    average_over: list[str] | None = None,
    across_sources: bool = False,
) -> AggregateTable:
    """Every metric of every entry side by side, with each benchmark's group scores and aggregate.

    Group scores are the means of a benchmark's bounded metrics per declared group (``bio``,
    ``batch``, ...), on the metric's own scale oriented so that 1 is best; the ``aggregate``
    is their mean with the benchmark's declared weights (:attr:`BenchmarkSpec.weights`).
    Only metrics declared comparable enter them (:attr:`Metric.aggregated`: not, e.g., a raw
    average precision beside an AUROC), references beside the model (group ``"baseline"``)
    never do, and a benchmark with fewer than two such metrics gets no aggregate.
    Benchmarks that compute their own scores (group ``"score"``: ``embedding_quality``'s
    ``overall``, ``scib``'s ``total``) keep those. Rows are never averaged across datasets,
    sources or settings unless ``average_over`` names them. What :func:`scmf.pl.results_table`
    draws.

    Parameters
    ----------
    data
        What :func:`comparison_table` accepts.
    benchmarks
        Benchmarks to include (default: all).
    min_max_scale
        Scale each metric across the rows of each dataset (scib-metrics' ``Benchmarker``
        view; rows of different datasets or sources are never scaled together).
    average_over
        ``"dataset"`` and/or ``"source"``: average over them by name.
    across_sources
        Set the representations of several sources that share a dataset against each other
        (rows ``"dataset · source · rep"``, min-max scaled together per dataset) instead of
        keeping each source apart (see :func:`comparison_table`).

    Returns
    -------
    An :class:`AggregateTable`.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep="X_pca", n_splits=2)
    >>> table = scmf.bm.aggregate_table(adata)
    >>> table.scores
    [('linear_probe', 'aggregate')]
    """
    t = _comparison(data, False, True, across_sources, "aggregate_table")
    if benchmarks is not None:
        t = t[t["benchmark"].isin(benchmarks)]
    if t.empty:
        msg = "no results to show; run a scmf.bm benchmark first."
        raise KeyError(msg)
    keys = ["source", "dataset", "entry"]
    title_bits: list[str] = []
    if average_over:
        bad = [k for k in average_over if k not in ("source", "dataset")]
        if bad:
            msg = f"average_over takes 'dataset' and/or 'source', got {bad}."
            raise ValueError(msg)
        for k in average_over:
            vals = sorted(set(t[k]))
            title_bits.append(f"mean over {k}s: {', '.join(map(str, vals))}")
            t = t.assign(**{k: ""})
    varying = [k for k in keys if t[k].nunique() > 1 or k == "entry"]
    for k in ("source", "dataset"):
        if k not in varying and t[k].iloc[0] not in ("", DEFAULT_DATASET):  # never "dataset: dataset"
            title_bits.insert(0, f"{k}: {t[k].iloc[0]}")
    t = t.assign(row=t[varying].astype(str).agg(" · ".join, axis=1))
    wide = t.pivot_table(
        index="row", columns=["benchmark", "metric"], values="value", aggfunc="mean", sort=False
    )
    wide = wide.reindex(list(dict.fromkeys(t["row"])))
    context = dict(zip(t["row"], t["source"].astype(str) + "\x00" + t["dataset"].astype(str), strict=True))
    columns, colors, shown, bold = _columns(wide, min_max_scale, np.array([context[r] for r in wide.index]))
    index = pd.MultiIndex.from_tuples(columns, names=["benchmark", "column"]) if columns else None
    shown_t = pd.DataFrame(
        np.column_stack(shown) if shown else np.empty((len(wide), 0)), index=wide.index, columns=index
    )
    oriented = pd.DataFrame(
        np.column_stack(colors) if colors else np.empty((len(wide), 0)), index=wide.index, columns=index
    )
    rep_of = dict(zip(t["row"], t["rep"], strict=False))
    return AggregateTable(
        shown_t, oriented, [columns[i] for i in bold], title_bits, [rep_of[r] for r in wide.index]
    )


def _columns(wide: pd.DataFrame, min_max: bool, contexts: np.ndarray):
    """(columns, colour arrays, printed arrays, indices of bold columns) in display order.

    ``contexts`` names each row's (source, dataset): min-max scaling is done within each.
    """
    columns, colors, shown, bold = [], [], [], []
    for bench in dict.fromkeys(wide.columns.get_level_values(0)):
        decl = declaration(bench)
        order = [m.name for m in decl.metrics]
        mets = [c[1] for c in wide.columns if c[0] == bench]
        mets.sort(key=lambda m: order.index(m) if m in order else len(order))
        groups: dict[str, list[np.ndarray]] = {}
        own_scores = False
        for m in mets:
            spec = decl.metric(m)
            raw = wide[(bench, m)].to_numpy(dtype=float)
            if min_max:
                oriented = _minmax(raw if spec.higher_is_better else -raw, contexts)
            else:
                oriented = np.array([spec.oriented(v) for v in raw])
            if spec.group == "score":
                own_scores = True
                bold.append(len(columns))
            elif spec.group not in _NOT_AGGREGATED and spec.aggregated and np.isfinite(oriented).any():
                groups.setdefault(spec.group, []).append(oriented)
            columns.append((bench, m))
            colors.append(oriented)
            shown.append(oriented if min_max else raw)
        if own_scores or sum(len(v) for v in groups.values()) < 2:
            continue  # the benchmark's own scores, or nothing to combine: no aggregate
        means = {g: np.nanmean(np.column_stack(v), axis=1) for g, v in groups.items()}
        if len(means) > 1:
            for g, v in means.items():
                columns.append((bench, g))
                colors.append(v)
                shown.append(v)
        w = decl.weights or {}
        agg = sum(w.get(g, 1.0) * v for g, v in means.items()) / sum(w.get(g, 1.0) for g in means)
        bold.append(len(columns))
        columns.append((bench, "aggregate"))
        colors.append(agg)
        shown.append(agg)
    return columns, colors, shown, bold


def _minmax(x: np.ndarray, contexts: np.ndarray) -> np.ndarray:
    """``x`` min-max scaled within each context (rows of one dataset are never scaled against another's)."""
    out = np.full(x.shape, np.nan)
    for c in dict.fromkeys(contexts):
        rows = contexts == c
        v = x[rows]
        if not np.isfinite(v).any():
            continue
        lo, hi = np.nanmin(v), np.nanmax(v)
        out[rows] = np.where(np.isnan(v), np.nan, (v - lo) / (hi - lo) if hi > lo else 1.0)
    return out
