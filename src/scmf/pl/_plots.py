"""scmf's plots. Each reads only what the benchmarks stored (it works on an .h5ad read back
from disk), draws on ``ax`` when given, and returns the axes (``return_fig=True``: the figure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._utils import axes, finish, stored, table_of

if TYPE_CHECKING:
    from anndata import AnnData


def results_table(
    data: Any,
    *,
    benchmarks: list[str] | None = None,
    min_max_scale: bool = False,
    by: str = "rep",
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """All metrics of all representations (or models) in one table, grouped by benchmark.

    Rows are representations (``by="rep"``) or ``"source"``/``"dataset"`` x rep; columns are
    metrics grouped by benchmark, followed by one aggregate per benchmark (the mean of its
    metrics after per-metric min-max scaling across rows, so every metric weighs the same;
    metrics where lower is better, ``mse``, are flipped). Cells show the raw values, or the
    scaled ones with ``min_max_scale=True``; colour is always the scaled value.

    Parameters
    ----------
    data
        An evaluated AnnData, or the table of :func:`scmf.bm.results` /
        :func:`scmf.bm.collect` (many files and models in one figure).
    benchmarks
        Benchmarks to show (default: all).
    min_max_scale
        Print scaled values instead of raw ones.
    by
        Row key: ``"rep"``, or a column of the table plus the rep (``"source"``, ``"dataset"``).

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

    t = table_of(data)
    if benchmarks is not None:
        t = t[t["benchmark"].isin(benchmarks)]
    if t.empty:
        msg = "no results to show; run a scmf.bm benchmark first."
        raise KeyError(msg)
    row = t["rep"] if by == "rep" else t[by].astype(str) + " | " + t["rep"]
    wide = t.assign(row=row).pivot_table(
        index="row", columns=["benchmark", "metric"], values="value", sort=True
    )
    lower_better = [c for c in wide.columns if c[1].endswith("mse")]
    span = wide.max() - wide.min()
    scaled = (wide - wide.min()) / span.where(span > 0, 1.0)
    for c in span[span == 0].index:  # one value across rows: nothing to rank
        scaled[c] = scaled[c].where(wide[c].isna(), 1.0)
    for c in lower_better:
        scaled[c] = 1.0 - scaled[c]
    blocks, labels, shown = [], [], []
    for bench in dict.fromkeys(wide.columns.get_level_values(0)):
        cols = [c for c in wide.columns if c[0] == bench]
        blocks += [*cols, (bench, "aggregate")]
        agg = scaled[cols].mean(axis=1)
        scaled[(bench, "aggregate")] = agg
        wide[(bench, "aggregate")] = agg
        labels += [c[1] for c in cols] + ["aggregate"]
        shown.append(len(cols) + 1)
    vals = (scaled if min_max_scale else wide)[blocks].to_numpy(dtype=float)
    colors = scaled[blocks].to_numpy(dtype=float)
    n_r, n_c = vals.shape
    fig, (a,) = axes(ax, 1, size=(0.62 * n_c + 1.8, 0.42 * n_r + 1.4))
    cmap = plt.get_cmap("YlGnBu").copy()
    cmap.set_bad("whitesmoke")
    a.imshow(np.ma.masked_invalid(colors), cmap=cmap, vmin=0, vmax=1.25, aspect="auto")
    for i in range(n_r):
        for j in range(n_c):
            v = vals[i, j]
            a.text(
                j,
                i,
                "–" if np.isnan(v) else f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                fontweight="bold" if labels[j] == "aggregate" else "normal",
            )
    a.set_xticks(range(n_c), labels, rotation=60, ha="right", fontsize=7)
    a.set_yticks(range(n_r), list(wide.index), fontsize=8)
    edge = -0.5
    for bench, k in zip(dict.fromkeys(wide.columns.get_level_values(0)), shown, strict=True):
        a.axvline(edge, color="white", lw=3)
        a.text(edge + k / 2, -0.8, bench, ha="center", va="bottom", fontsize=8, clip_on=False)
        edge += k
    a.tick_params(length=0)
    for s in a.spines.values():
        s.set_visible(False)
    plt.setp(a.get_xticklabels(), rotation_mode="anchor")
    return finish(fig, [a], show=show, return_fig=return_fig)


def benchmark_comparison(
    data: Any,
    benchmark: str,
    *,
    metrics: list[str] | None = None,
    dataset: str | None = None,
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
):
    """Bars of one benchmark's metrics per representation, with error bars (``std`` over splits).

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
    t = table_of(data)
    t = t[t["benchmark"] == benchmark]
    if t.empty:
        msg = f"no {benchmark} results; run scmf.bm.{benchmark} first."
        raise KeyError(msg)
    if dataset is not None:
        t = t[t["dataset"] == dataset]
    if metrics is not None:
        t = t[t["metric"].isin(metrics)]
    reps = list(dict.fromkeys(t["rep"]))
    mets = list(dict.fromkeys(t["metric"]))
    fig, (a,) = axes(ax, 1, size=(max(3.5, 0.9 * len(mets) * max(len(reps), 1) * 0.45 + 1.5), 3.0))
    _grouped_bars(a, t, reps, mets)
    a.set_title(benchmark, fontsize=9)
    return finish(fig, [a], show=show, return_fig=return_fig)


def _grouped_bars(a, t: pd.DataFrame, reps: list[str], metrics: list[str]) -> None:
    """One group of bars per metric, one bar per rep; error bars from ``std`` where there is one."""
    width = 0.8 / max(len(reps), 1)
    for k, rep in enumerate(reps):
        sub = t[t["rep"] == rep].set_index("metric").reindex(metrics)
        err = sub["std"].to_numpy(dtype=float) if "std" in sub else None
        a.bar(
            np.arange(len(metrics)) + (k - (len(reps) - 1) / 2) * width,
            sub["value"].to_numpy(dtype=float),
            width,
            yerr=None if err is None or np.isnan(err).all() else np.nan_to_num(err),
            capsize=2,
            label=rep,
        )
    a.set_xticks(range(len(metrics)), metrics, rotation=30, ha="right", fontsize=8)
    a.legend(fontsize=7, frameon=False)
    a.spines[["top", "right"]].set_visible(False)


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
    t = table_of(adata)
    t = t[t["benchmark"] == "embedding_quality"]
    if t.empty:
        msg = "no embedding_quality results; run scmf.bm.embedding_quality first."
        raise KeyError(msg)
    if dataset is not None:
        t = t[t["dataset"] == dataset]
    order = [
        m
        for m in ("nmi", "ari", "asw_cell_type", "asw_batch", "graph_connectivity", "bio", "batch", "overall")
        if m in set(t["metric"])
    ]
    reps = list(dict.fromkeys(t["rep"]))
    fig, (a,) = axes(ax, 1, size=(0.5 * len(order) * max(len(reps), 1) * 0.5 + 2.5, 3.0))
    _grouped_bars(a, t, reps, order)
    for x in [order.index(m) - 0.5 for m in ("asw_batch", "bio") if m in order]:
        a.axvline(x, color="grey", lw=0.8, ls=":")
    a.set_ylim(0, 1.05)
    a.set_title("embedding quality", fontsize=9)
    return finish(fig, [a], show=show, return_fig=return_fig)


def embedding(
    adata: AnnData,
    color: list[str] | str = ("cell_type", "batch"),
    *,
    basis: str = "X_scmf",
    ax=None,
    show: bool | None = None,
    return_fig: bool = False,
    **kwargs: Any,
):
    """An embedding coloured by cell type and batch side by side, drawn by ``scanpy.pl.embedding``.

    ``basis`` is an ``obsm`` key; the first two dimensions are shown (use a 2-D ``X_umap``
    computed with ``sc.pp.neighbors(use_rep=...)`` + ``sc.tl.umap`` for a UMAP).

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
    for a, c in zip(axs, colors, strict=True):
        sc.pl.embedding(adata, basis=key, color=c, ax=a, show=False, frameon=False, **kwargs)
    return finish(fig, axs, show=show, return_fig=return_fig)


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
        h = data.uns.get("scmf", {}).get("history")
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
    a.set_xlabel("epoch")
    a.set_ylabel("value")
    a.legend(fontsize=6, frameon=False)
    a.spines[["top", "right"]].set_visible(False)
    return finish(fig, [a], show=show, return_fig=return_fig)
