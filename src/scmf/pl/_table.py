"""The results table figure: every metric on its own fixed scale, groups and aggregates from the declarations."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..bm import comparison_table, declaration
from ._utils import axes, finish, plot_docs

_NOT_AGGREGATED = ("baseline", "score")


@plot_docs
def results_table(
    data: Any,
    *,
    benchmarks: list[str] | None = None,
    min_max_scale: bool = False,
    average_over: list[str] | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """All metrics of all representations in one table, grouped by benchmark.

    One row per (source, dataset, representation): nothing is averaged across datasets,
    sources or parameter settings (rows computed with different parameters are separate
    entries, labelled with the parameter that differs, and a warning says so). Row labels
    show what varies; the title shows what is common (dataset, source).

    Colour is each metric on its own declared scale, oriented so that darker is better
    (accuracy 0.55 vs 0.49 look close because they are); unbounded metrics (MSE, ratios) are
    printed but not coloured. After each benchmark's metrics come its group scores (the mean
    of its bounded metrics per declared group, e.g. bio and batch) and an ``aggregate``
    (their weighted mean); benchmarks that compute their own scores (``embedding_quality``:
    bio, batch, overall) show those instead. ``min_max_scale=True`` gives scib-metrics'
    ``Benchmarker`` view: every metric min-max scaled across the rows shown, unbounded ones
    included, aggregates from the scaled values.

    Parameters
    ----------
    data
        An evaluated AnnData, files or a mapping of them (as :func:`scmf.bm.collect`), or a
        results table.
    benchmarks
        Benchmarks to show (default: all).
    min_max_scale
        Scale each metric across rows (colour and printed values), as the ``Benchmarker``.
    average_over
        Average over these row keys by name (``["dataset"]``, ``["source"]``): the title
        then says over what the values are means. Default: never.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"])
    >>> ax = scmf.pl.results_table(adata, show=False)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['X_pca_baseline', 'X_random_baseline']
    """
    import matplotlib.pyplot as plt

    t = comparison_table(data)
    if benchmarks is not None:
        t = t[t["benchmark"].isin(benchmarks)]
    if t.empty:
        msg = "no results to show; run a scmf.bm benchmark first."
        raise KeyError(msg)
    keys = ["source", "dataset", "entry"]
    title_bits = []
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
        if k not in varying and t[k].iloc[0] != "":
            title_bits.insert(0, f"{k}: {t[k].iloc[0]}")
    t = t.assign(row=t[varying].astype(str).agg(" · ".join, axis=1))
    wide = t.pivot_table(
        index="row", columns=["benchmark", "metric"], values="value", aggfunc="mean", sort=False
    )
    wide = wide.reindex(list(dict.fromkeys(t["row"])))
    columns, colors, shown, bold = _columns(wide, min_max_scale)
    vals = np.column_stack(shown) if shown else np.empty((len(wide), 0))
    col = np.column_stack(colors)
    n_r, n_c = vals.shape
    fig, (a,) = axes(ax, 1, size=(0.62 * n_c + 2.6, 0.42 * n_r + 1.8))
    cmap = plt.get_cmap("YlGnBu").copy()
    im = a.imshow(
        np.ma.masked_invalid(col), cmap=cmap.with_extremes(bad="whitesmoke"), vmin=0, vmax=1, aspect="auto"
    )
    for i in range(n_r):
        for j in range(n_c):
            v = vals[i, j]
            a.text(j, i, "–" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize=7,
                   fontweight="bold" if j in bold else "normal",
                   color="white" if np.isfinite(col[i, j]) and col[i, j] > 0.7 else "black")  # fmt: skip
    a.set_xticks(
        range(n_c), [c[1] for c in columns], rotation=60, ha="right", fontsize=7, rotation_mode="anchor"
    )
    a.set_yticks(range(n_r), list(wide.index), fontsize=8)
    edge = -0.5
    for bench in dict.fromkeys(c[0] for c in columns):
        k = sum(c[0] == bench for c in columns)
        a.axvline(edge, color="white", lw=3)
        a.text(edge + k / 2, -0.8, bench, ha="center", va="bottom", fontsize=8, clip_on=False)
        edge += k
    a.tick_params(length=0)
    for s in a.spines.values():
        s.set_visible(False)
    label = "min-max scaled across rows (1 = best)" if min_max_scale else "metric's own scale (1 = best)"
    cbar = fig.colorbar(im, ax=a, shrink=0.8)
    cbar.set_label(label, fontsize=7)
    if title_bits:  # above the benchmark names
        a.set_title("; ".join(title_bits), fontsize=8, pad=30)
    return finish(fig, [a], show=show, return_fig=return_fig)


def _columns(wide: pd.DataFrame, min_max: bool):
    """(columns, colour arrays, printed arrays, indices of bold columns) in display order."""
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
                oriented = _minmax(raw if spec.higher_is_better else -raw)
            else:
                oriented = np.array([spec.oriented(v) for v in raw])
            if spec.group == "score":
                own_scores = True
                bold.append(len(columns))
            elif spec.group not in _NOT_AGGREGATED and np.isfinite(oriented).any():
                groups.setdefault(spec.group, []).append(oriented)
            columns.append((bench, m))
            colors.append(oriented)
            shown.append(oriented if min_max else raw)
        if own_scores or not groups:
            continue
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


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = np.nanmin(x), np.nanmax(x)
    if not np.isfinite(lo):
        return np.full(x.shape, np.nan)
    return np.where(np.isnan(x), np.nan, (x - lo) / (hi - lo) if hi > lo else 1.0)
