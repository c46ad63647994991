"""The results table figure: every metric on its own fixed scale, groups and aggregates from the declarations."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._keys import rep_kind
from ..bm import aggregate_table
from ._utils import BATCH_NOTE, axes, finish, label_rep, plot_docs


@plot_docs
def results_table(
    data: Any,
    *,
    benchmarks: list[str] | None = None,
    min_max_scale: bool = False,
    average_over: list[str] | None = None,
    across_sources: bool = False,
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
    ``Benchmarker`` view: every metric min-max scaled across the rows of each dataset (never
    across datasets or sources), unbounded ones included, aggregates from the scaled values.
    Group scores and the aggregate combine only metrics declared comparable
    (:attr:`scmf.bm.Metric.aggregated`); a benchmark with fewer than two shows none.

    Parameters
    ----------
    data
        An evaluated AnnData, files or a mapping of them (as :func:`scmf.bm.collect`), or a
        results table.
    benchmarks
        Benchmarks to show (default: all).
    min_max_scale
        Scale each metric across the rows of each dataset (colour and printed values), as the
        ``Benchmarker``.
    average_over
        Average over these row keys by name (``["dataset"]``, ``["source"]``): the title
        then says over what the values are means. Default: never.
    across_sources
        Several sources (files) sharing a dataset: set their representations against each
        other as models of their own (rows ``"dataset · source · rep"``, scaled together per
        dataset with ``min_max_scale``) instead of keeping each source apart.

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

    table = aggregate_table(
        data,
        benchmarks=benchmarks,
        min_max_scale=min_max_scale,
        average_over=average_over,
        across_sources=across_sources,
    )
    wide, title_bits = table.shown, list(table.title)
    columns = list(wide.columns)
    shown = [wide[c].to_numpy(dtype=float) for c in columns]
    colors = [table.oriented[c].to_numpy(dtype=float) for c in columns]
    bold = [i for i, c in enumerate(columns) if c in table.scores]
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
    kinds = [rep_kind(r) for r in table.reps]
    a.set_yticks(range(n_r), [label_rep(i, k) for i, k in zip(wide.index, kinds, strict=True)], fontsize=8)
    if "baseline (batch labels)" in kinds:
        title_bits.append(BATCH_NOTE)
    edge = -0.5
    for bench in dict.fromkeys(c[0] for c in columns):
        k = sum(c[0] == bench for c in columns)
        a.axvline(edge, color="white", lw=3)
        a.text(edge + k / 2, -0.8, bench, ha="center", va="bottom", fontsize=8, clip_on=False)
        edge += k
    a.tick_params(length=0)
    for s in a.spines.values():
        s.set_visible(False)
    label = (
        "min-max scaled within each dataset (1 = best)" if min_max_scale else "metric's own scale (1 = best)"
    )
    cbar = fig.colorbar(im, ax=a, shrink=0.8)
    cbar.set_label(label, fontsize=7)
    if title_bits:  # above the benchmark names
        a.set_title("; ".join(title_bits), fontsize=8, pad=30)
    return finish(fig, [a], show=show, return_fig=return_fig)
