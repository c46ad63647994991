"""Reading results side by side without mixing them: entries, significance, ranks, a compact table."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._warnings import warn
from ._benchmark import declaration

KEYS = ["source", "dataset", "benchmark"]


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


def comparison_table(data: Any, *, replicates: bool = False, warn_settings: bool = True) -> pd.DataFrame:
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
    t = entries(as_table(data, replicates=replicates), warn_settings=warn_settings)
    t["context"] = [context_label(s, d) for s, d in zip(t["source"], t["dataset"], strict=True)]
    return t


def summary(data: Any, *, benchmark: str | None = None, digits: int = 3) -> pd.DataFrame:
    """A compact wide view: one row per (benchmark, metric), one column per representation.

    Where the results span several datasets or sources, columns are labelled
    ``"dataset | rep"`` (``"source · dataset | rep"``); nothing is averaged.

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
    contexts = t[["source", "dataset"]].drop_duplicates()
    if len(contexts) > 1:
        t = t.assign(
            entry=[
                f"{context_label(s, d)} | {e}"
                for s, d, e in zip(t["source"], t["dataset"], t["entry"], strict=True)
            ]
        )
    order = list(dict.fromkeys(t["entry"]))
    wide = t.pivot_table(
        index=["benchmark", "metric"], columns="entry", values="value", sort=False, aggfunc="first"
    )
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

    Returns
    -------
    DataFrame with ``source, dataset, benchmark, metric, rep, baseline, value, baseline_value,
    difference, ci_low, ci_high, p_value, p_holm, significant, better, test, n``.
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

    t = as_table(data, replicates=True)
    if benchmark is not None:
        t = t[t["benchmark"] == benchmark]
    if baseline not in set(t["rep"]):
        msg = f"baseline {baseline!r} is not among the stored representations {sorted(set(t['rep']))}."
        raise KeyError(msg)
    rows = []
    for (source, dataset, bench, metric), g in t.groupby([*KEYS, "metric"], sort=False):
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
            row = _paired(
                r.replicates, b.replicates, r.replicate_kind, r.test_train_ratio, r.value - b.value, stats
            )
            rows.append(
                {
                    "source": source,
                    "dataset": dataset,
                    "benchmark": bench,
                    "metric": metric,
                    "rep": r.rep,
                    "baseline": baseline,
                    "value": r.value,
                    "baseline_value": float(b.value),
                    "difference": r.value - float(b.value),
                    **row,
                }
            )
    cols = [*KEYS[:2], "benchmark", "metric", "rep", "baseline", "value", "baseline_value", "difference",
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


def _paired(a, b, kind, ratio, diff, stats) -> dict[str, Any]:
    nan = float("nan")
    if kind is None or a is None or b is None or len(a) != len(b) or len(a) < 2:
        why = "none: one evaluation (use n_splits >= 2 or n_bootstrap > 0)"
        return {"ci_low": nan, "ci_high": nan, "p_value": nan, "test": why, "n": 0}
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if kind == "bootstrap":
        lo, hi = np.quantile(d, [0.025, 0.975])
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
    data: Any, *, benchmark: str | None = None, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Mean rank of each representation over datasets, as benchmark papers report it.

    Within every (source, dataset), representations are ranked on each metric (1 = best, by
    the metric's declared direction; ties share the mean rank); the ranks are averaged over
    metrics per benchmark and then over datasets. Baseline metrics (the mean-shift baseline of
    ``perturbation``) and aggregate scores are left out unless named in ``metrics``.

    Returns
    -------
    DataFrame indexed by representation: ``mean_rank`` (over all benchmarks), one column per
    benchmark, and ``n_datasets``; sorted best first.

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
    t = comparison_table(data)
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
    up = np.array(
        [declaration(b).metric(m).higher_is_better for b, m in zip(t["benchmark"], t["metric"], strict=True)]
    )
    t["oriented"] = np.where(up, t["value"], -t["value"])
    t["rank"] = t.groupby([*KEYS, "metric"], sort=False)["oriented"].rank(ascending=False, method="average")
    per_bench = (
        t.groupby(["source", "dataset", "benchmark", "entry"], sort=False)["rank"].mean().reset_index()
    )
    table = per_bench.pivot_table(index="entry", columns="benchmark", values="rank", aggfunc="mean")
    per_ds = per_bench.groupby(["source", "dataset", "entry"])["rank"].mean().reset_index()
    table.insert(0, "mean_rank", per_ds.groupby("entry")["rank"].mean())
    table["n_datasets"] = per_ds.groupby("entry").size()
    table.index.name = "rep"
    table.columns.name = None
    return table.sort_values("mean_rank", kind="stable")
