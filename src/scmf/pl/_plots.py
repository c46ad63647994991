"""scmf's plots. Each reads only what the benchmarks stored (it works on an .h5ad read back
from disk), draws on ``ax`` when given, and returns the axes (``return_fig=True``: the figure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._keys import DEFAULT_DATASET as DEFAULT
from ..bm import comparison_table
from ._utils import BATCH_NOTE, axes, finish, label_rep, plot_docs, stored

if TYPE_CHECKING:
    from anndata import AnnData


def _rows(
    data: Any, benchmark: str, *, dataset=None, source=None, across_sources: bool = False
) -> pd.DataFrame:
    """The comparison table's rows of ``benchmark`` (one dataset/source if named); an error when none."""
    t = comparison_table(data, across_sources=across_sources)
    t = t[t["benchmark"] == benchmark]
    if t.empty:
        msg = f"no {benchmark} results; run scmf.bm.{benchmark} first."
        raise KeyError(msg)
    if dataset is not None:
        t = t[t["dataset"] == dataset]
    if source is not None:
        t = t[t["source"] == source]
    return t


@plot_docs
def benchmark_comparison(
    data: Any,
    benchmark: str,
    *,
    metrics: list[str] | None = None,
    dataset: str | None = None,
    source: str | None = None,
    baseline: str | None = None,
    alpha: float = 0.05,
    across_sources: bool = False,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Bars of one benchmark's metrics per representation, one panel per dataset (and source).

    Error bars are the 95% confidence intervals (repeated splits or bootstrap resamples; see
    :func:`scmf.bm.compare`), or nothing for a single evaluation. With ``baseline``, bars
    whose difference from that representation is significant (Holm-adjusted, ``alpha``) are
    marked ``*``. Results with different parameters are separate bars (labelled with the
    parameter that differs).

    Parameters
    ----------
    baseline
        Mark (``*``) the bars that differ significantly from this representation.
    alpha
        Significance level of those marks (Holm-adjusted p-values).
    across_sources
        Several sources (files) sharing a dataset: one panel per dataset with every source's
        representations as bars of their own (``"source · rep"``), compared with each other
        (``baseline`` may name a representation only one source holds). Default: one panel
        per (source, dataset).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=3)
    >>> ax = scmf.pl.benchmark_comparison(adata, "linear_probe", show=False)
    >>> ax.get_title()
    'linear_probe'
    """
    t = _rows(data, benchmark, dataset=dataset, source=source, across_sources=across_sources)
    if metrics is not None:
        t = t[t["metric"].isin(metrics)]
    if t.empty:
        msg = f"no {benchmark} results for dataset={dataset!r}, source={source!r}, metrics={metrics!r}."
        raise KeyError(msg)
    marks = None
    if baseline is not None:
        from ..bm import compare

        c = compare(data, baseline=baseline, benchmark=benchmark, alpha=alpha, across_sources=across_sources)
        marks = {(r.source, r.dataset, r.rep, r.metric) for r in c.itertuples() if r.significant}
    contexts = list(dict.fromkeys(zip(t["source"], t["dataset"], strict=True)))
    label = dict(zip(zip(t["source"], t["dataset"], strict=True), t["context"], strict=True))
    n_ax = len(contexts)
    if ax is not None and n_ax != (len(ax) if isinstance(ax, list | tuple) else 1):
        listed = ", ".join(label[c] for c in contexts)
        msg = f"{benchmark} has results for {n_ax} datasets/sources ({listed}); pass dataset=/source= or {n_ax} axes."
        raise ValueError(msg)
    mets = list(dict.fromkeys(t["metric"]))
    n_e = max(t.groupby(["source", "dataset"])["entry"].nunique())
    fig, axs = axes(ax, n_ax, size=(max(3.5, 0.9 * len(mets) * n_e * 0.45 + 1.5), 3.0))
    for a, (src, ds) in zip(axs, contexts, strict=True):
        sub = t[(t["source"] == src) & (t["dataset"] == ds)]
        _grouped_bars(a, sub, list(dict.fromkeys(sub["entry"])), mets, marks=marks, legend=a is axs[-1])
        a.set_title(
            benchmark if n_ax == 1 and contexts == [("", DEFAULT)] else f"{benchmark}: {label[(src, ds)]}",
            fontsize=9,
        )
    return finish(fig, axs, show=show, return_fig=return_fig)


def _grouped_bars(
    a, t: pd.DataFrame, entries_: list[str], metrics: list[str], *, marks=None, legend: bool = True
) -> None:
    """One group of bars per metric, one bar per entry; error bars from the confidence interval."""
    width = 0.8 / max(len(entries_), 1)
    for k, e in enumerate(entries_):
        sub = t[t["entry"] == e].set_index("metric").reindex(metrics)
        v = sub["value"].to_numpy(dtype=float)
        lo, hi = sub["ci_low"].to_numpy(dtype=float), sub["ci_high"].to_numpy(dtype=float)
        err = np.clip(np.vstack([v - lo, hi - v]), 0, None)  # a bootstrap interval need not contain the value
        x = np.arange(len(metrics)) + (k - (len(entries_) - 1) / 2) * width
        a.bar(x, v, width, yerr=None if np.isnan(err).all() else np.nan_to_num(err), capsize=2, label=e)
        if marks:
            rep = sub["rep"].to_numpy()
            src, ds = sub["source"].to_numpy(), sub["dataset"].to_numpy()
            for i, m in enumerate(metrics):
                if (src[i], ds[i], rep[i], m) in marks:
                    top = hi[i] if np.isfinite(hi[i]) else v[i]
                    a.text(x[i], top, "*", ha="center", va="bottom", fontsize=9)
    a.set_xticks(range(len(metrics)), metrics, rotation=30, ha="right", fontsize=8)
    if legend:  # beside the axes, never over the bars
        a.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    a.spines[["top", "right"]].set_visible(False)


@plot_docs
def rank_summary(
    data: Any,
    *,
    benchmark: str | None = None,
    metrics: list[str] | None = None,
    across_sources: bool | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Mean rank of each representation over datasets (1 = best), with each benchmark's mean rank as dots.

    The table is :func:`scmf.bm.rank_summary`; the title names the datasets averaged over.
    Baselines are grey bars; those that read batch labels (Harmony, scVI) are marked ``†``.

    Parameters
    ----------
    benchmark
        Rank over this benchmark's metrics only (default: every benchmark).
    across_sources
        As in :func:`scmf.bm.rank_summary`: with several sources sharing a dataset, rank each
        source's representations as models of their own (``True``) or pool them (``False``).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> a = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(a)
    >>> scmf.bm.linear_probe(a, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], dataset_name="types")
    >>> scmf.bm.linear_probe(a, "phase", use_rep=["X_pca_baseline", "X_random_baseline"], dataset_name="phase")
    >>> ax = scmf.pl.rank_summary(a, show=False)
    >>> ax.get_xlabel()
    'mean rank (1 = best)'
    """
    from ..bm import rank_summary as table_of_ranks

    r = table_of_ranks(data, benchmark=benchmark, metrics=metrics, across_sources=across_sources)
    t = comparison_table(data, warn_settings=False, across_sources=across_sources)  # rank_summary warned
    if benchmark is not None:
        t = t[t["benchmark"] == benchmark]
    n_ds = t["dataset"].nunique()  # datasets, not (source, dataset) pairs
    benches = [c for c in r.columns if c not in ("mean_rank", "n_datasets", "kind")]
    fig, (a,) = axes(ax, 1, size=(4.2, 0.35 * len(r) + 1.3))
    y = np.arange(len(r))[::-1]
    kinds = r["kind"].to_numpy()
    colour = np.where(kinds == "model", "lightsteelblue", "lightgrey")  # baselines beside the models, in grey
    a.barh(y, r["mean_rank"].to_numpy(), color=colour, label="all benchmarks")
    for b in benches:
        a.plot(r[b].to_numpy(), y, "o", ms=4, label=b)
    a.set_yticks(y, [label_rep(i, k) for i, k in zip(r.index, kinds, strict=True)], fontsize=8)
    if (kinds == "baseline (batch labels)").any():
        a.text(1.0, -0.02, BATCH_NOTE, transform=a.transAxes, ha="right", va="top", fontsize=6)
    a.set_xlabel("mean rank (1 = best)")
    a.set_title(f"mean rank over {n_ds} dataset{'s' if n_ds != 1 else ''}", fontsize=9)
    a.legend(fontsize=6, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars
    a.spines[["top", "right"]].set_visible(False)
    return finish(fig, [a], show=show, return_fig=return_fig)


@plot_docs
def confusion_matrix(
    adata: AnnData,
    *,
    rep: str | None = None,
    dataset: str | None = None,
    normalize: bool = True,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """The linear probe's test confusion matrix (rows: true class; normalised per row by default).

    Parameters
    ----------
    normalize
        Normalise each row (true class) to sum to 1; ``False``: counts.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep="X_pca_baseline")
    >>> ax = scmf.pl.confusion_matrix(adata, show=False)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('predicted', 'true')
    """
    r = stored(adata, "linear_probe", rep=rep, dataset=dataset)
    cm = np.asarray(r.artifacts["confusion"], dtype=float)
    classes = [str(c) for c in r.artifacts["classes"]]
    if normalize:
        cm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(classes)
    fig, (a,) = axes(ax, 1, size=(0.35 * n + 2.2, 0.35 * n + 1.8))
    im = a.imshow(cm, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    a.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=7)
    a.set_yticks(range(n), classes, fontsize=7)
    a.set_xlabel("predicted")
    a.set_ylabel("true")
    a.set_title(f"linear probe: {r.rep}", fontsize=9)
    fig.colorbar(im, ax=a, shrink=0.7)
    return finish(fig, [a], show=show, return_fig=return_fig)


@plot_docs
def f1_per_class(
    adata: AnnData,
    *,
    rep: str | None = None,
    dataset: str | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """The linear probe's F1 score per class (mean over splits).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep="X_pca_baseline")
    >>> ax = scmf.pl.f1_per_class(adata, show=False)
    >>> len(ax.patches)  # one bar per class
    10
    """
    r = stored(adata, "linear_probe", rep=rep, dataset=dataset)
    f1 = np.asarray(r.artifacts["f1_per_class"], dtype=float)
    classes = np.asarray([str(c) for c in r.artifacts["classes"]])
    order = np.argsort(f1)
    fig, (a,) = axes(ax, 1, size=(4.0, 0.22 * len(classes) + 1.2))
    a.barh(classes[order], f1[order], color="tab:blue")
    a.axvline(r.metrics["f1_macro"], color="k", ls="--", lw=1, label="macro F1")
    a.set_xlim(0, 1)
    a.set_xlabel("F1")
    a.tick_params(axis="y", labelsize=7)
    a.legend(fontsize=7, frameon=False)
    a.set_title(f"linear probe: {r.rep}", fontsize=9)
    return finish(fig, [a], show=show, return_fig=return_fig)


@plot_docs
def embedding_quality(
    adata: AnnData, *, dataset: str | None = None, ax=None, show: bool | None = None, return_fig: bool = False
):
    """Bio and batch metrics and the overall score of ``embedding_quality``, per representation.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.embedding_quality(adata, "bulk_labels", batch_key="phase", use_rep="X_pca_baseline")
    >>> ax = scmf.pl.embedding_quality(adata, show=False)
    >>> ax.get_title()
    'embedding quality'
    """
    t = _rows(adata, "embedding_quality", dataset=dataset)
    if t["dataset"].nunique() != 1:
        msg = f"embedding_quality results for several datasets {sorted(set(t['dataset']))}; pass dataset=."
        raise ValueError(msg)
    order = [
        m
        for m in (
            "nmi",
            "ari",
            "asw_cell_type",
            "asw_batch",
            "graph_connectivity",
            "bras",
            "bio",
            "batch",
            "overall",
        )
        if m in set(t["metric"])
    ]
    reps = list(dict.fromkeys(t["entry"]))
    fig, (a,) = axes(ax, 1, size=(0.5 * len(order) * max(len(reps), 1) * 0.5 + 2.5, 3.0))
    _grouped_bars(a, t, reps, order)
    for x in [order.index(m) - 0.5 for m in ("asw_batch", "bio") if m in order]:
        a.axvline(x, color="grey", lw=0.8, ls=":")
    a.set_ylim(0, 1.05)
    a.set_title(
        f"embedding quality: {t['dataset'].iloc[0]}"
        if t["dataset"].iloc[0] != DEFAULT
        else "embedding quality",
        fontsize=9,
    )
    return finish(fig, [a], show=show, return_fig=return_fig)


@plot_docs
def embedding(
    adata: AnnData,
    color: list[str] | str = ("cell_type", "batch"),
    *,
    basis: str = "X_scmf",
    umap: bool = False,
    n_neighbors: int = 15,
    seed: int = 0,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    **kwargs: Any,
):
    """An embedding coloured by cell type and batch side by side, drawn by ``scanpy.pl.embedding``.

    ``basis`` is an ``obsm`` key: its first two dimensions are shown, or with ``umap=True`` a
    UMAP of it (scanpy's ``pp.neighbors(use_rep=basis)`` + ``tl.umap``, computed on a copy
    holding only the cell annotations and that representation: ``adata`` is not modified).
    The axes are labelled with what they show.

    Parameters
    ----------
    color
        ``obs`` column(s) to colour by, one panel each.
    basis
        ``obsm`` key of the representation (``"X_"`` prefix optional).
    umap
        Draw a UMAP of the representation instead of its first two dimensions.
    n_neighbors
        Neighbours of the kNN graph behind the UMAP.
    seed
        Seed of the UMAP layout.
    **kwargs
        Passed to :func:`scanpy.pl.embedding`.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> axs = scmf.pl.embedding(adata, ["bulk_labels", "phase"], basis="X_pca_baseline", show=False)
    >>> len(axs)
    2
    """
    import scanpy as sc

    colors = [color] if isinstance(color, str) else list(color)
    missing = [c for c in colors if c not in adata.obs.columns and c not in adata.var_names]
    if missing:
        msg = f"color {missing} not in adata.obs (columns: {list(adata.obs.columns)})."
        raise KeyError(msg)
    if basis not in adata.obsm:
        msg = f"adata.obsm has no {basis!r}; run scmf.tl.embed first or pass basis= (available: {list(adata.obsm)})."
        raise KeyError(msg)
    fig, axs = axes(ax, len(colors), size=(3.6, 3.2))
    key = basis[2:] if basis.startswith("X_") else basis
    if key not in adata.obsm and basis in adata.obsm:
        key = basis
    data, names = adata, (f"{basis} 1", f"{basis} 2")
    if umap:
        from anndata import AnnData

        data = AnnData(obs=adata.obs.copy(), obsm={"rep": np.asarray(adata.obsm[basis])})
        for c in colors:
            if c not in data.obs.columns:  # a gene: its expression as an annotation of the copy
                data.obs[c] = np.asarray(
                    adata[:, c].X.todense() if hasattr(adata.X, "todense") else adata[:, c].X
                ).ravel()
        sc.pp.neighbors(data, n_neighbors=int(n_neighbors), use_rep="rep", random_state=int(seed))
        sc.tl.umap(data, random_state=int(seed))
        key, names = "umap", (f"UMAP 1 ({basis})", f"UMAP 2 ({basis})")
    import warnings

    for a, c in zip(axs, colors, strict=True):
        with warnings.catch_warnings():  # scanpy calls matplotlib's set_bad, which matplotlib plans to retire
            warnings.filterwarnings(
                "ignore", message="The set_bad function", category=PendingDeprecationWarning
            )
            sc.pl.embedding(data, basis=key, color=c, ax=a, show=False, frameon=False, **kwargs)
        a.axis("on")  # scanpy's frameon=False turns the axis off, labels included
        a.set_frame_on(False)
        a.set_xticks([])
        a.set_yticks([])
        a.set_xlabel(names[0], fontsize=8)
        a.set_ylabel(names[1], fontsize=8)
    return finish(fig, axs, show=show, return_fig=return_fig)


@plot_docs
def perturbation(
    adata: AnnData,
    *,
    rep: str | None = None,
    dataset: str | None = None,
    perturbations: list[str] | None = None,
    max_panels: int = 4,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Predicted vs true expression deltas on the top genes of chosen test perturbations
    (model and mean-shift baseline), from the stored examples.

    Parameters
    ----------
    perturbations
        Test perturbations to draw (default: the first stored examples).
    max_panels
        At most this many perturbations, one panel each.

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy_perturbation(n_perturbations=12, seed=0)
    >>> scmf.tl.embed(adata, "pca", n_comps=10)
    >>> scmf.bm.perturbation(adata, n_top_genes=20)
    >>> axs = scmf.pl.perturbation(adata, max_panels=2, show=False)
    >>> len(axs)
    2
    """
    r = stored(adata, "perturbation", rep=rep, dataset=dataset)
    ex = r.artifacts["examples"]
    names = [str(p) for p in ex["perturbation"]]
    pick = names[:max_panels] if perturbations is None else list(perturbations)
    unknown = [p for p in pick if p not in names]
    if unknown:
        msg = f"no stored example for {unknown}; stored examples: {names}."
        raise KeyError(msg)
    fig, axs = axes(ax, len(pick), size=(2.8, 2.8))
    true, pred, base = (np.asarray(ex[k], dtype=float) for k in ("true", "predicted", "baseline"))
    for a, p in zip(axs, pick, strict=True):
        i = names.index(p)
        a.scatter(true[i], base[i], s=8, color="lightgrey", label="mean shift")
        a.scatter(true[i], pred[i], s=8, color="tab:red", label="model")
        lim = np.nanmax(np.abs(np.concatenate([true[i], pred[i], base[i]]))) * 1.05
        a.plot([-lim, lim], [-lim, lim], color="k", lw=0.6)
        a.set_xlim(-lim, lim)
        a.set_ylim(-lim, lim)
        a.set_title(p, fontsize=8)
        a.set_xlabel("true delta", fontsize=7)
        a.tick_params(labelsize=6)
    axs[0].set_ylabel("predicted delta", fontsize=7)
    axs[0].legend(fontsize=6, frameon=False)
    return finish(fig, axs, show=show, return_fig=return_fig)


@plot_docs
def perturbation_vs_baseline(
    adata: AnnData,
    *,
    rep: str | None = None,
    dataset: str | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Per test perturbation: the model's Pearson against the mean-shift baseline's.

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy_perturbation(n_perturbations=12, seed=0)
    >>> scmf.tl.embed(adata, "pca", n_comps=10)
    >>> scmf.bm.perturbation(adata, n_top_genes=20)
    >>> ax = scmf.pl.perturbation_vs_baseline(adata, show=False)
    >>> ax.get_xlabel()
    'mean-shift baseline Pearson'
    """
    r = stored(adata, "perturbation", rep=rep, dataset=dataset)
    per = r.artifacts["per_perturbation"]
    x = np.asarray(per["baseline_pearson"], dtype=float)
    y = np.asarray(per["pearson"], dtype=float)
    fig, (a,) = axes(ax, 1, size=(3.4, 3.2))
    a.scatter(x, y, s=12, c=np.where(y > x, "tab:red", "tab:grey"))
    lo = np.nanmin(np.concatenate([x, y, [0.0]]))
    a.plot([lo, 1], [lo, 1], color="k", lw=0.6)
    a.set_xlabel("mean-shift baseline Pearson")
    a.set_ylabel("model Pearson")
    a.set_title(f"{r.rep}: {r.metrics['fraction_above_baseline']:.0%} above baseline", fontsize=9)
    return finish(fig, [a], show=show, return_fig=return_fig)


_PREDICTOR_STYLE = {
    "model": ("tab:red", "model"),
    "linear": ("tab:orange", "linear reference"),
    "mean_shift": ("tab:blue", "mean-shift baseline"),
    "cell_mean": ("tab:cyan", "cell-mean baseline"),
    "additive": ("tab:green", "additive baseline"),
    "ceiling": ("k", "data ceiling"),
}


@plot_docs
def perturbation_response(
    adata: AnnData,
    *,
    metric: str = "pearson_delta",
    rep: str | None = None,
    dataset: str | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """The model beside its references and the data ceiling: under distribution shift, and per split.

    Left: the metric against the dissimilarity of the held-out perturbations to the training
    ones (the random split, then each shift level), for the model, the linear reference and
    the mean-shift baseline (a predictor that covers no held-out perturbation draws no
    line), with the cell-mean baseline and the ceiling of the same held-out
    perturbations as horizontal lines. Right: per split (random, doubles), the mean over
    held-out perturbations of every predictor with its 95% interval (t over perturbations).

    Parameters
    ----------
    metric
        A metric of ``perturbation_response`` drawn on the shift curve: ``pearson_delta``,
        ``discrimination_score`` or ``mae`` (the right panel takes any of its metrics).

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy_perturbation(n_perturbations=30, target_genes=True, seed=0)
    >>> scmf.tl.embed(adata, "pca", n_comps=10)
    >>> scmf.bm.perturbation_response(adata, use_rep="X_scmf")
    >>> left, right = scmf.pl.perturbation_response(adata, rep="X_scmf", show=False)
    >>> left.get_xlabel()
    'dissimilarity of held-out to training perturbations'
    """
    import pandas as pd
    from scipy import stats

    r = stored(adata, "perturbation_response", rep=rep, dataset=dataset)
    per = pd.DataFrame(r.artifacts["per_perturbation"])
    if metric not in per.columns:
        msg = f"metric={metric!r} is not a perturbation_response metric; choose from {[c for c in per.columns if c not in ('split', 'perturbation', 'predictor')]}."
        raise ValueError(msg)
    fig, (a, b) = axes(ax, 2, size=(8.0, 3.3))
    curve = r.artifacts.get("curve", {})
    splits = [str(s) for s in curve.get("split", [])]
    shift = [s for s in splits if s == "random" or s.startswith("shift")]
    dis = r.metadata.get("shift_dissimilarity", {})
    if len(shift) >= 2 and f"model:{metric}" in curve:
        x = np.asarray([float(dis[s]) for s in shift])
        at = {s: i for i, s in enumerate(splits)}
        for who in ("model", "linear", "mean_shift"):
            if f"{who}:{metric}" not in curve:  # results stored before the linear reference
                continue
            color, label = _PREDICTOR_STYLE[who]
            y = np.asarray(curve[f"{who}:{metric}"], dtype=float)[[at[s] for s in shift]]
            a.plot(x, y, "o-", color=color, label=label, ms=4)
        for who in ("cell_mean", "ceiling"):
            color, label = _PREDICTOR_STYLE[who]
            a.axhline(
                float(np.asarray(curve[f"{who}:{metric}"])[at["random"]]),
                color=color,
                ls="--",
                lw=0.8,
                label=label,
            )
        for s, xi in zip(shift, x, strict=True):
            a.annotate(
                s, (xi, a.get_ylim()[0]), fontsize=6, rotation=90, va="bottom", ha="center", color="0.4"
            )
        a.legend(fontsize=6, frameon=False)
    else:
        a.text(
            0.5,
            0.5,
            f"no shift curve for {metric}",
            ha="center",
            va="center",
            transform=a.transAxes,
            fontsize=8,
        )
    a.set_xlabel("dissimilarity of held-out to training perturbations")
    a.set_ylabel(metric)
    a.set_title(f"{r.rep}: under distribution shift", fontsize=9)
    groups = [s for s in ("random", "doubles") if s in set(per["split"])]
    width = 0.8 / len(_PREDICTOR_STYLE)
    for gi, split in enumerate(groups):
        for pi, (who, (color, label)) in enumerate(_PREDICTOR_STYLE.items()):
            v = per.loc[(per["split"] == split) & (per["predictor"] == who), metric].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            if v.size == 0:
                continue
            half = stats.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0
            b.bar(gi + (pi - (len(_PREDICTOR_STYLE) - 1) / 2) * width, v.mean(), width, yerr=half, color=color, alpha=0.8,
                  label=label if gi == 0 or (split == "doubles" and who == "additive") else None, capsize=2)  # fmt: skip
    b.set_xticks(
        range(len(groups)),
        [f"{s} ({int(((per['split'] == s) & (per['predictor'] == 'model')).sum())})" for s in groups],
    )
    b.set_ylabel(metric)
    b.set_title("mean over held-out perturbations (95% CI)", fontsize=9)
    b.legend(fontsize=6, frameon=False)
    return finish(fig, [a, b], show=show, return_fig=return_fig)


@plot_docs
def grn_curves(
    adata: AnnData,
    *,
    rep: str | list[str] | None = None,
    dataset: str | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """ROC and precision-recall curves of ``grn_inference`` with their chance lines.

    Parameters
    ----------
    rep
        Representation(s) whose curves to draw (default: every stored one).

    Examples
    --------
    >>> import pandas as pd, scmf
    >>> adata = scmf.datasets.toy(500, 8, n_genes=60, seed=0)
    >>> adata.var_names = [f"gene_{i}" for i in range(adata.n_vars)]
    >>> net = pd.DataFrame({"tf": ["gene_0", "gene_0", "gene_1"], "target": ["gene_5", "gene_9", "gene_7"]})
    >>> scmf.bm.grn_inference(adata, net, min_cells=5)
    >>> roc, pr = scmf.pl.grn_curves(adata, show=False)
    >>> roc.get_title(), pr.get_title()
    ('ROC', 'precision-recall')
    """
    from .._store import iter_results

    reps = [rep] if isinstance(rep, str) else rep
    if reps is None:
        reps = list(dict.fromkeys(r.rep for r in iter_results(adata) if r.benchmark == "grn_inference"))
        if not reps:
            msg = "no grn_inference results in adata.uns['scmf_bench']; run scmf.bm.grn_inference first."
            raise KeyError(msg)
    fig, (a_roc, a_pr) = axes(ax, 2, size=(3.2, 3.0))
    chance = None
    for rp in reps:
        r = stored(adata, "grn_inference", rep=rp, dataset=dataset)
        roc, pr = r.artifacts["roc"], r.artifacts["pr"]
        a_roc.plot(roc["fpr"], roc["tpr"], label=f"{rp} ({r.metrics['auroc']:.2f})")
        a_pr.plot(pr["recall"], pr["precision"], label=f"{rp} ({r.metrics['auprc']:.3f})")
        chance = float(r.artifacts["chance"])
    a_roc.plot([0, 1], [0, 1], color="k", lw=0.6, ls="--")
    a_pr.axhline(chance, color="k", lw=0.6, ls="--", label=f"chance ({chance:.3f})")
    a_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    a_pr.set(xlabel="recall", ylabel="precision", title="precision-recall")
    a_pr.set_yscale("log")
    for a in (a_roc, a_pr):
        a.legend(fontsize=6, frameon=False)
        a.title.set_fontsize(9)
    return finish(fig, [a_roc, a_pr], show=show, return_fig=return_fig)


@plot_docs
def label_efficiency(
    data: Any,
    *,
    classifier: str = "logistic",
    metric: str = "accuracy",
    dataset: str | None = None,
    source: str | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Label-efficiency curves: a metric against the labelled cells per type, one line per representation.

    Points are the means over draws with their 95% intervals (see :func:`scmf.bm.label_efficiency`);
    baselines are dashed and marked in the legend, so a model's curve is read against theirs.
    One panel per dataset (and source).

    Parameters
    ----------
    classifier
        ``"logistic"``, ``"logistic_l1"`` or ``"knn"``.
    metric
        ``"accuracy"`` or ``"f1_macro"``.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.label_efficiency(adata, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"],
    ...                          budgets=[1, 5, "all"], n_draws=3, classifiers=["logistic"])
    >>> ax = scmf.pl.label_efficiency(adata, show=False)
    >>> ax.get_xlabel()
    'labelled cells per type'
    """
    from .._keys import rep_kind

    t = _rows(data, "label_efficiency", dataset=dataset, source=source)
    prefix = f"{metric}_{classifier}_"
    t = t[t["metric"].str.startswith(prefix)].copy()
    t["budget"] = t["metric"].str[len(prefix) :]
    t = t[t["budget"].str.fullmatch(r"\d+|all")]  # "logistic_" is also the start of "logistic_l1_..."
    if t.empty:
        msg = f"no label_efficiency results for metric={metric!r}, classifier={classifier!r}, dataset={dataset!r}."
        raise KeyError(msg)
    order = sorted(set(t["budget"]), key=lambda b: (b == "all", int(b) if b != "all" else 0))
    contexts = list(dict.fromkeys(zip(t["source"], t["dataset"], strict=True)))
    label = dict(zip(zip(t["source"], t["dataset"], strict=True), t["context"], strict=True))
    fig, axs = axes(ax, len(contexts), size=(5.2, 3.6))
    for a, ctx in zip(axs, contexts, strict=True):
        sub = t[(t["source"] == ctx[0]) & (t["dataset"] == ctx[1])]
        for e in dict.fromkeys(sub["entry"]):
            line = sub[sub["entry"] == e].set_index("budget").reindex(order)
            v = line["value"].to_numpy(dtype=float)
            err = np.clip(np.vstack([v - line["ci_low"], line["ci_high"] - v]).astype(float), 0, None)
            kind = rep_kind(str(line["rep"].dropna().iloc[0]))
            style = "-" if kind == "model" else "--"
            name = e if kind == "model" else f"{e} ({kind})"
            a.errorbar(
                range(len(order)),
                v,
                yerr=np.nan_to_num(err),
                ls=style,
                marker="o",
                ms=3,
                capsize=2,
                label=name,
            )
        a.set_xticks(range(len(order)), order)
        a.set_xlabel("labelled cells per type")
        a.set_ylabel(f"{metric} ({classifier})")
        title = "label efficiency" if ctx == ("", DEFAULT) else f"label efficiency: {label[ctx]}"
        a.set_title(title, fontsize=9)
        a.spines[["top", "right"]].set_visible(False)
        if a is axs[-1]:
            a.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return finish(fig, axs, show=show, return_fig=return_fig)


@plot_docs
def training_history(
    data: Any,
    *,
    metrics: list[str] | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Benchmark metrics against epoch, from :class:`scmf.callbacks.Assessment` (its
    ``history``, the object itself, or an AnnData it wrote the history into).

    Parameters
    ----------
    data
        An :class:`scmf.callbacks.Assessment`, its ``history`` table, or an AnnData it wrote the
        history into (``Assessment.write_history``).

    Examples
    --------
    >>> import pandas as pd, scmf
    >>> history = pd.DataFrame({"epoch": [0, 1, 2], "step": [10, 20, 30], "benchmark": "linear_probe",
    ...                         "dataset": "val_data", "metric": "accuracy", "value": [0.5, 0.6, 0.7]})
    >>> ax = scmf.pl.training_history(history, show=False)
    >>> ax.get_xlabel()
    'epoch'
    """
    from anndata import AnnData

    if isinstance(data, AnnData):
        from .._uns import read_history

        h = read_history(data)
        if h is None:
            msg = "no training history in adata.uns['scmf']['history']; call Assessment.write_history(adata) first."
            raise KeyError(msg)
        hist = pd.DataFrame({k: np.asarray(v) for k, v in h.items()})
    elif hasattr(data, "history"):
        hist = data.history
    else:
        hist = pd.DataFrame(data)
    if hist.empty:
        msg = "the training history is empty; the callback has not run yet."
        raise ValueError(msg)
    hist = hist.assign(name=hist["benchmark"].astype(str) + "/" + hist["metric"].astype(str))
    if metrics is not None:
        hist = hist[hist["metric"].isin(metrics) | hist["name"].isin(metrics)]
    fig, (a,) = axes(ax, 1, size=(4.2, 3.0))
    for (name, ds), g in hist.groupby(["name", "dataset"], sort=True):
        g = g.sort_values("epoch")
        a.plot(
            g["epoch"].to_numpy(), g["value"].to_numpy(dtype=float), marker="o", ms=3, label=f"{name} ({ds})"
        )
    from matplotlib.ticker import MaxNLocator

    a.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    a.set_xlabel("epoch")
    a.set_ylabel("value")
    a.legend(fontsize=6, frameon=False)
    a.spines[["top", "right"]].set_visible(False)
    return finish(fig, [a], show=show, return_fig=return_fig)


@plot_docs
def invariance(
    adata: AnnData,
    *,
    rep: str | list[str] | None = None,
    dataset: str | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Small multiples of ``invariance``: per change, each model's per-cell cosine to its reference.

    One panel per compared embedding (other batch-mates, thinned counts, permuted genes, batch
    sizes, another seed); in each, a box per model of the cosine between every sampled cell's
    embedding and its reference embedding (1: unchanged), the mean marked. A model without a
    panel's change (a baseline on one cell, a model object's seed) has no box there.

    Parameters
    ----------
    rep
        Model(s) to draw (default: every stored one).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.invariance(adata, ["pca", "random"], checks=("context", "gene_order"), n_cells=150)
    >>> axs = scmf.pl.invariance(adata, show=False)
    >>> [a.get_title() for a in axs]  # PCA cannot be fitted on one cell: context_alone is random's alone
    ['context_other', 'context_alone', 'gene_order']
    """
    from .._store import iter_results

    found = [r for r in iter_results(adata) if r.benchmark == "invariance"]
    if dataset is not None:
        found = [r for r in found if r.dataset == dataset]
    if not found:
        msg = "no invariance results in adata.uns['scmf_bench']; run scmf.bm.invariance first."
        raise KeyError(msg)
    datasets = sorted({r.dataset for r in found})
    if len(datasets) > 1:
        msg = (
            f"invariance results of several datasets ({datasets}); pass dataset= (a figure never pools them)."
        )
        raise ValueError(msg)
    wanted = [rep] if isinstance(rep, str) else rep
    if wanted is not None:
        missing = sorted(set(wanted) - {r.rep for r in found})
        if missing:
            msg = f"no invariance result for {missing}; stored: {sorted({r.rep for r in found})}."
            raise KeyError(msg)
        found = [r for w in wanted for r in found if r.rep == w]
    present = {v for r in found for v in r.artifacts.get("cosine", {})}
    declared = [str(v) for v in found[0].metadata.get("variants", [])]
    variants = [v for v in declared if v in present] + sorted(present - set(declared))
    if not variants:
        msg = "the stored invariance results hold no per-cell cosines (results read from JSON carry none)."
        raise ValueError(msg)
    fig, axs = axes(ax, len(variants), size=(max(1.6, 0.55 * len(found) + 0.8), 3.0))
    names = [r.rep for r in found]
    values = [np.asarray(c, dtype=float) for r in found for c in r.artifacts.get("cosine", {}).values()]
    low = min(float(np.min(v)) for v in values if v.size)
    pad = 0.05 * max(1.0 - low, 1e-3)  # one y-axis for every panel: changes are compared across them
    for a, v in zip(axs, variants, strict=True):
        data = [np.asarray(r.artifacts.get("cosine", {}).get(v, []), dtype=float) for r in found]
        pos = [i for i, d in enumerate(data) if d.size]
        if pos:
            a.boxplot([data[i] for i in pos], positions=pos, widths=0.6, showfliers=False)
            a.plot(pos, [data[i].mean() for i in pos], "D", color="tab:red", ms=3, label="mean")
        a.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=7)
        a.set_xlim(-0.6, len(names) - 0.4)
        a.set_title(v, fontsize=8)
        a.axhline(1.0, color="0.6", lw=0.6, ls=":")
        a.set_ylim(low - pad, 1.0 + pad)
        a.ticklabel_format(axis="y", useOffset=False)
    axs[0].set_ylabel("cosine to the reference embedding")
    return finish(fig, axs, show=show, return_fig=return_fig)
