"""The scIB metric set of scib-metrics' ``Benchmarker``, on one shared neighbour graph per representation.

A benchmark of its own rather than an option of ``embedding_quality``: it has its own metric
set (ten by default, against the evaluation guide's five), its own neighbour counts (15, 50
and 90), a pre-integration reference for PCR, and aggregates that scib-metrics defines
across representations (min-max scaling), all of which would change what an
``embedding_quality`` result means if they were switches of it.

Silhouettes (label, batch, isolated labels) come from one exact pass over the cell pairs that
also yields the 90 nearest neighbours (the kernel ``embedding_quality`` uses); BRAS from the
same cosine kernel as ``embedding_quality``; kBET from :func:`kbet_per_label`, scib-metrics'
algorithm with exact diffusion neighbours. LISI, graph connectivity, KMeans and PCR are
scib-metrics' own functions called on the shared graph, and Leiden is the implementation
``embedding_quality`` shares; every number is the one scib-metrics gives (tested).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._expression import get_expression, with_raw
from .._progress import advance
from .._validate import get_labels, get_rep, well_scaled
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark
from ._metrics import isolated_labels, kbet_per_label
from ._metrics._kbet import isolated_label_set
from ._metrics._neighbors import APPROXIMATE_ABOVE, knn
from ._metrics._silhouette import (
    batch_silhouette_cells,
    bras_cells,
    per_label_mean,
    silhouette_from_sums,
    stratified_mean_se,
    stratified_sample,
)
from ._registry import SCIB_WEIGHTS, Metric, weighted_score

if TYPE_CHECKING:
    from anndata import AnnData

#: the Benchmarker's neighbour counts: 15 (graph connectivity, Leiden), 50 (kBET), 90 (LISI)
NEIGHBOURS = {"graph_connectivity": 15, "leiden": 15, "kbet": 50, "lisi": 90}

BIO = ("isolated_labels", "leiden_nmi", "leiden_ari", "kmeans_nmi", "kmeans_ari", "silhouette_label", "clisi")
BATCH = ("silhouette_batch", "bras", "ilisi", "kbet", "graph_connectivity", "pcr_comparison")
#: the Benchmarker's default configuration (scib-metrics >= 0.5: BRAS instead of silhouette batch)
DEFAULT = (
    "isolated_labels",
    "kmeans_nmi",
    "kmeans_ari",
    "silhouette_label",
    "clisi",
    "bras",
    "ilisi",
    "kbet",
    "graph_connectivity",
    "pcr_comparison",
)
#: scib-metrics' own names (``Benchmarker.get_results(clean_names=True)`` columns)
CLEAN_NAMES = {
    "isolated_labels": "Isolated labels",
    "leiden_nmi": "Leiden NMI",
    "leiden_ari": "Leiden ARI",
    "kmeans_nmi": "KMeans NMI",
    "kmeans_ari": "KMeans ARI",
    "silhouette_label": "Silhouette label",
    "clisi": "cLISI",
    "silhouette_batch": "Silhouette batch",
    "bras": "BRAS",
    "ilisi": "iLISI",
    "kbet": "KBET",
    "graph_connectivity": "Graph connectivity",
    "pcr_comparison": "PCR comparison",
}
_ORDER = (*BIO, *BATCH)

METRICS = (
    Metric(
        "isolated_labels",
        "bio",
        description="mean (silhouette + 1) / 2 of the labels present in fewest batches",
    ),
    Metric(
        "leiden_nmi", "bio", description="NMI of Leiden clusters (best over resolutions 0.2-2.0) and labels"
    ),
    Metric("leiden_ari", "bio", True, (-0.5, 1.0), "ARI of Leiden clusters (best-NMI resolution) and labels"),
    Metric("kmeans_nmi", "bio", description="NMI of KMeans clusters (k = number of labels) and labels"),
    Metric("kmeans_ari", "bio", True, (-0.5, 1.0), "ARI of KMeans clusters and labels"),
    Metric("silhouette_label", "bio", description="(silhouette of the labels + 1) / 2"),
    Metric("clisi", "bio", description="cell-type LISI on 90 neighbours, scaled: 1 = pure neighbourhoods"),
    Metric("silhouette_batch", "batch", description="1 - |silhouette of the batches| within labels"),
    Metric("bras", "batch", description="batch-removal adapted silhouette (cosine, mean over other batches)"),
    Metric("ilisi", "batch", description="batch LISI on 90 neighbours, scaled: 1 = batches fully mixed"),
    Metric(
        "kbet", "batch", description="kBET acceptance rate per label (diffusion neighbours), mean over labels"
    ),
    Metric(
        "graph_connectivity",
        "batch",
        description="share of each label's cells in its largest 15-NN component",
    ),
    Metric(
        "pcr_comparison",
        "batch",
        description="drop of the batch's variance share from the pre-integration PCA",
    ),
    Metric("bio", "score", description="mean of the bio-conservation metrics computed"),
    Metric("batch", "score", description="mean of the batch-correction metrics computed"),
    Metric("total", "score", description="0.6 * bio + 0.4 * batch (scIB's weighting)"),
)


def _metric_list(metrics: Any) -> list[str]:
    if metrics is None or metrics == "default":
        return list(DEFAULT)
    if metrics == "all":
        return list(_ORDER)
    chosen = [metrics] if isinstance(metrics, str) else list(metrics)
    unknown = [m for m in chosen if m not in _ORDER]
    if unknown or not chosen:
        msg = f"unknown scIB metric(s) {unknown}; choose from {list(_ORDER)}, 'default' or 'all'."
        raise ValueError(msg)
    return [m for m in _ORDER if m in chosen]


def pre_integration_pca(
    adata, *, layer: str | None = None, use_raw: bool = False, n_comps: int = 50
) -> np.ndarray:
    """The PCA the ``Benchmarker`` compares against by default: ``sc.tl.pca`` of the expression
    (ARPACK, 50 components, all genes), computed without writing to ``adata``.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.pre_integration_pca(adata, use_raw=True).shape
    (700, 50)
    """
    import scanpy as sc

    src, src_layer = with_raw(adata, layer, use_raw)
    X = get_expression(src, src_layer)
    n = min(n_comps, min(X.shape) - 1)
    return np.asarray(sc.pp.pca(X, n_comps=n, svd_solver="arpack", random_state=0), dtype=np.float32)


@benchmark("scib", METRICS, aliases={"label_key": "cell_type_key"}, dtype=None, weights=SCIB_WEIGHTS)
def scib(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    batch_key: str = "batch",
    *,
    pre_integrated: str | None = None,
    metrics: str | Sequence[str] | None = "default",
    layer: str | None = None,
    use_raw: bool = False,
    approximate: bool | str = "auto",
    silhouette_sample: int = 10_000,
    kbet_sample: int = 5_000,
    seed: int = 0,
    n_jobs: int | None = None,
) -> Prepared:
    """The scIB metrics of scib-metrics' ``Benchmarker``, with its bio/batch/total aggregates.

    Every metric equals the scib-metrics function of the same name called on the same
    embedding, labels, batches and neighbour graph. One exact neighbour graph with 90
    neighbours is computed per representation (with the silhouettes' distance sums, in one
    pass over the cell pairs) and subset to the 15 and 50 neighbours the other metrics read,
    as the ``Benchmarker`` does with its own graph. :func:`scmf.bm.scib_table` lays the
    results out as ``Benchmarker.get_results`` does, raw or min-max scaled across
    representations.

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column with the cell labels (configs also accept ``label_key``).
    batch_key
        ``obs`` column with the batches (at least two).
    pre_integrated
        ``obsm`` key of the unintegrated representation PCR compares against. ``None``: a
        PCA of the expression (``layer`` / ``use_raw``), as the ``Benchmarker`` computes it
        (50 ARPACK components of all genes), not written to ``adata``.
    metrics
        ``"default"``: the ``Benchmarker``'s default set (isolated labels, KMeans NMI/ARI,
        silhouette label, cLISI; BRAS, iLISI, kBET, graph connectivity, PCR comparison).
        ``"all"`` adds its optional ones (Leiden NMI/ARI, silhouette batch), or a list of
        names from both.
    layer, use_raw
        Expression for the default ``pre_integrated`` PCA.
    approximate
        ``"auto"``: exact up to 200,000 cells, approximate above (the threshold of
        :func:`scmf.bm.embedding_quality`); or ``True`` / ``False``. Approximate: the shared
        graph is pynndescent's (90 neighbours, :func:`scmf.bm.neighbors`, the graph the
        ``Benchmarker`` itself builds); the silhouette metrics (silhouette label, isolated
        labels, silhouette batch) are measured on a stratified sample of
        ``silhouette_sample`` cells, each against all cells, with their standard errors in
        the metadata (``silhouette_label_se``, ``isolated_labels_se``, ``silhouette_batch_se``);
        kBET keeps each label's diffusion map over all its cells but tests at most
        ``kbet_sample`` of them, each against all the label's cells (kBET's own random
        subset of tested cells; see :func:`scmf.bm._metrics.kbet_per_label`; the diffusion
        maps are the cost left, 15-30 s per 50,000-cell label on 2 cores); LISI, graph
        connectivity, PCR, BRAS and KMeans are computed as on the exact path, on the shared
        graph. The resolved value is stored in the parameters, and :func:`scmf.bm.scib_table`
        refuses to lay exact and approximate results out as one table.
    silhouette_sample, kbet_sample
        Sample sizes of the approximate path (stored in the parameters).
    seed
        Seed of the approximate path's graph and samples.
    n_jobs
        Processes for the Leiden resolutions (not recorded).

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Stores, per representation, the chosen
    metrics and ``bio``, ``batch`` (means of each group's metrics) and ``total``
    (``0.6 * bio + 0.4 * batch``), with the time of each metric in
    ``artifacts["timings_s"]`` and, in ``metadata``, the neighbour method and counts.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.scib(adata, "bulk_labels", "phase", use_rep=["X_pca_baseline", "X_random_baseline"],
    ...              metrics=["silhouette_label", "bras", "graph_connectivity"], progress=False)
    >>> t = scmf.bm.scib_table(adata)
    >>> list(t.columns)
    ['Silhouette label', 'BRAS', 'Graph connectivity', 'Batch correction', 'Bio conservation', 'Total']
    """
    chosen = _metric_list(metrics)
    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="scib")
    batches = get_labels(adata, batch_key, param="batch_key", func="scib")
    keep = labels.mask & batches.mask
    y_all, b_all = labels.full_codes(), batches.full_codes()
    uniq_y, y = np.unique(y_all[keep], return_inverse=True)
    uniq_b, b = np.unique(b_all[keep], return_inverse=True)
    if uniq_y.size < 2:
        msg = f"scib needs at least 2 labels in obs[{cell_type_key!r}]; found {uniq_y.size}."
        raise ValueError(msg)
    if uniq_b.size < 2:
        msg = f"scib needs at least 2 batches in obs[{batch_key!r}]; found {uniq_b.size}. Use embedding_quality for bio metrics alone."
        raise ValueError(msg)
    n_keep = int(keep.sum())
    if n_keep <= max(NEIGHBOURS.values()):
        msg = f"scib needs more than {max(NEIGHBOURS.values())} cells (its LISI reads 90 neighbours); got {n_keep}."
        raise ValueError(msg)
    y_names = np.asarray(labels.categories[uniq_y][y], dtype=str)
    b_names = np.asarray(batches.categories[uniq_b][b], dtype=str)
    X_pre = None
    if "pcr_comparison" in chosen:
        if pre_integrated is None:
            if (adata.X is None or adata.n_vars == 0) and layer is None and not use_raw:
                msg = (
                    "scib's pcr_comparison compares each embedding with the unintegrated data, by default a PCA of "
                    "the expression, and this AnnData holds no expression (no genes in X). Pass "
                    "pre_integrated='<obsm key>' naming an unintegrated representation (e.g. the PCA of the raw "
                    "data, made before integration), layer= naming the expression, or leave pcr_comparison out "
                    "(metrics=[...])."
                )
                raise ValueError(msg)
            X_pre = pre_integration_pca(adata, layer=layer, use_raw=use_raw)
        else:
            X_pre = get_rep(adata, pre_integrated, dtype=None)
        X_pre = X_pre if keep.all() else X_pre[keep]
    jobs = 1 if n_jobs is None else int(n_jobs)
    if approximate == "auto":
        approximate = n_keep > APPROXIMATE_ABOVE
    elif not isinstance(approximate, bool | np.bool_):
        msg = f"approximate must be True, False or 'auto', got {approximate!r}."
        raise ValueError(msg)
    approximate = bool(approximate)
    for name, v in (("silhouette_sample", silhouette_sample), ("kbet_sample", kbet_sample)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 100:
            msg = f"{name} must be an integer >= 100, got {v!r}."
            raise ValueError(msg)
    sample = stratified_sample(y, int(silhouette_sample), seed) if approximate else None

    def score(X: np.ndarray) -> Score:
        return _score(
            X, y, b, y_names, b_names, chosen, X_pre=X_pre, n_jobs=jobs, sample=sample,
            kbet_sample=int(kbet_sample) if approximate else None, seed=seed,
        )  # fmt: skip

    return Prepared(
        score,
        cells=keep,
        steps=len(chosen) + 1,
        metadata={
            "n_cells": n_keep,
            "n_classes": int(uniq_y.size),
            "n_batches": int(uniq_b.size),
            "cell_type_key": cell_type_key,
            "batch_key": batch_key,
            "neighbors": (
                "pynndescent (approximate), 90 per cell (self included), subset to 15 and 50"
                if approximate
                else "exact euclidean, 90 per cell (self included), subset to 15 and 50"
            ),
            "silhouettes": f"stratified sample of {sample.size} cells, each against all"
            if approximate
            else "exact",
            "pre_integrated": pre_integrated or "PCA of the expression (50 components, ARPACK)",
        },
        params={
            "metrics": chosen,
            "approximate": approximate,
            "silhouette_sample": int(silhouette_sample) if approximate else None,
            "kbet_sample": int(kbet_sample) if approximate else None,
            "seed": int(seed) if approximate else None,
        },
    )


def _score(
    X, y, b, y_names, b_names, chosen, *, X_pre, n_jobs, sample=None, kbet_sample=None, seed=0
) -> Score:
    import scib_metrics
    from scib_metrics.nearest_neighbors import NeighborsResults

    from .._kernels import label_distance_sums
    from ._metrics._leiden import leiden_nmi_ari

    X = well_scaled(X)  # distances of x1e35 or x1e-30 values would overflow/underflow
    timings: dict[str, float] = {}
    n_y, n_b = int(y.max()) + 1, int(b.max()) + 1
    t0 = time.perf_counter()
    meta: dict[str, float] = {}
    if sample is None:
        sums, idx, dist = label_distance_sums(X, y * n_b + b, n_y * n_b, k=NEIGHBOURS["lisi"])
        graph = NeighborsResults(indices=idx, distances=dist)
        timings["neighbours_and_silhouette_sums"] = time.perf_counter() - t0
        ys, bs, counts, weights = y, b, None, None
    else:
        graph = knn(X, NEIGHBOURS["lisi"], method="pynndescent", seed=seed, candidates=NEIGHBOURS["lisi"])
        timings["approximate_neighbours"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sums = label_distance_sums(X, y * n_b + b, n_y * n_b, rows=sample)
        timings["sampled_silhouette_sums"] = time.perf_counter() - t0
        ys, bs = y[sample], b[sample]
        counts = np.bincount(y * n_b + b, minlength=n_y * n_b).reshape(n_y, n_b)
        weights = (counts.sum(axis=1) / np.bincount(ys, minlength=n_y))[
            ys
        ]  # a sampled cell stands for this many
    sums = sums.reshape(-1, n_y, n_b)
    label_counts = None if counts is None else counts.sum(axis=1)
    advance()
    g15 = graph.subset_neighbors(NEIGHBOURS["graph_connectivity"])
    g50 = graph.subset_neighbors(NEIGHBOURS["kbet"])
    sil = None
    m: dict[str, float] = {}

    def timed(name, f):
        t = time.perf_counter()
        out = f()
        timings[name] = time.perf_counter() - t
        advance()
        return out

    def label_silhouettes():
        nonlocal sil
        if sil is None:
            sil = (silhouette_from_sums(sums.sum(axis=2), ys, counts=label_counts) + 1.0) / 2.0
        return sil

    def isolated():
        value = isolated_labels(label_silhouettes(), y, b, sil_labels=ys)
        if sample is not None:  # the mean over isolated labels of their sampled cells' mean
            in_iso = np.isin(ys, isolated_label_set(y, b))
            meta["isolated_labels_se"] = stratified_mean_se(
                np.where(in_iso, label_silhouettes(), np.nan), ys, label_counts, per_group=True
            )
        return value

    def label_silhouette():
        if sample is None:
            return float(np.mean(label_silhouettes()))
        meta["silhouette_label_se"] = stratified_mean_se(
            label_silhouettes(), ys, label_counts, per_group=False
        )
        return float(np.average(label_silhouettes(), weights=weights))

    def batch_silhouette():
        cells = batch_silhouette_cells(sums, ys, bs, counts=counts)
        if sample is not None:
            meta["silhouette_batch_se"] = stratified_mean_se(cells, ys, label_counts, per_group=True)
        return per_label_mean(cells, ys)

    for name in chosen:
        if name == "isolated_labels":
            m[name] = timed(name, isolated)
        elif name == "silhouette_label":
            m[name] = timed(name, label_silhouette)
        elif name == "silhouette_batch":
            m[name] = timed(name, batch_silhouette)
        elif name == "bras":
            m[name] = timed(name, lambda: per_label_mean(bras_cells(X, y, b, n_y, n_b, metric="cosine"), y))
        elif name in ("kmeans_nmi", "kmeans_ari"):
            if "kmeans_nmi" not in m:
                km = timed(
                    "kmeans",
                    lambda: (
                        scib_metrics.nmi_ari_cluster_labels_kmeans(X, y_names)
                        if sample is None
                        else _kmeans_nmi_ari(X, y, seed)
                    ),
                )
                m["kmeans_nmi"], m["kmeans_ari"] = float(km["nmi"]), float(km["ari"])
        elif name in ("leiden_nmi", "leiden_ari"):
            if "leiden_nmi" not in m:
                ld = timed(
                    "leiden",
                    lambda: leiden_nmi_ari(g15.knn_graph_connectivities, y, n_jobs=n_jobs, seed=42),
                )
                m["leiden_nmi"], m["leiden_ari"] = float(ld["nmi"]), float(ld["ari"])
        elif name == "clisi":
            m[name] = timed(name, lambda: float(scib_metrics.clisi_knn(graph, y_names)))
        elif name == "ilisi":
            m[name] = timed(name, lambda: float(scib_metrics.ilisi_knn(graph, b_names)))
        elif name == "kbet":
            m[name] = timed(
                name, lambda: kbet_per_label(g50, b_names, y_names, max_cells=kbet_sample, seed=seed)
            )
        elif name == "graph_connectivity":
            m[name] = timed(name, lambda: float(scib_metrics.graph_connectivity(g15, y_names)))
        elif name == "pcr_comparison":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="PCR comparison score is negative")
                m[name] = timed(
                    name, lambda: float(scib_metrics.pcr_comparison(X_pre, X, b_names, categorical=True))
                )
    metrics = {k: m[k] for k in _ORDER if k in m}
    bio = [v for k, v in metrics.items() if k in BIO]
    batch = [v for k, v in metrics.items() if k in BATCH]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an empty group: NaN, as the Benchmarker leaves it
        metrics["bio"] = float(np.nanmean(bio)) if bio else float("nan")
        metrics["batch"] = float(np.nanmean(batch)) if batch else float("nan")
    metrics["total"] = weighted_score({"bio": metrics["bio"], "batch": metrics["batch"]}, SCIB_WEIGHTS)
    nan = [k for k, v in metrics.items() if not np.isfinite(v) and k not in ("bio", "batch", "total")]
    if nan:
        warn(f"scib: {', '.join(nan)} could not be computed (NaN).")
    return Score(metrics, metadata=meta, artifacts={"timings_s": timings})


def _kmeans_nmi_ari(X: np.ndarray, y: np.ndarray, seed: int) -> dict[str, float]:
    """scib-metrics' KMeans metric with scikit-learn's multithreaded Lloyd in place of its jax KMeans.

    The same definition (k = the number of labels, k-means++, one initialisation, 300
    iterations, tolerance 1e-4 of the mean variance; NMI arithmetic, ARI); another
    implementation and random stream, so the clusters differ from scib-metrics' as one seed's
    from another's. At 1,000,000 cells x 64 dims the jax KMeans alone took 479 s on two cores.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    k = int(np.unique(y).size)
    pred = KMeans(k, init="k-means++", n_init=1, max_iter=300, tol=1e-4, random_state=int(seed)).fit_predict(
        X
    )
    return {
        "nmi": float(normalized_mutual_info_score(y, pred, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(y, pred)),
    }


def scib_table(
    data: Any, *, min_max_scale: bool = False, dataset: str | None = None, source: str | None = None
) -> pd.DataFrame:
    """The ``scib`` results laid out as scib-metrics' ``Benchmarker.get_results`` lays them out.

    One row per representation plus the ``"Metric Type"`` row; columns in scib-metrics' clean
    names, then ``"Batch correction"``, ``"Bio conservation"`` and ``"Total"``. With
    ``min_max_scale`` each metric is min-max scaled across the representations first and the
    aggregates are recomputed from the scaled values, as ``get_results(min_max_scale=True)``
    does. Only results of one dataset (and source) and one metric set are laid out together.

    Examples
    --------
    See :func:`scmf.bm.scib`.
    """
    from ._compare import as_table, context_label

    t = as_table(data)
    t = t[t["benchmark"] == "scib"]
    if dataset is not None:
        t = t[t["dataset"] == dataset]
    if source is not None:
        t = t[t["source"] == source]
    if t.empty:
        msg = "no scib results to lay out; run scmf.bm.scib first (or check dataset=/source=)."
        raise KeyError(msg)
    contexts = t[["source", "dataset"]].drop_duplicates()
    if len(contexts) > 1:
        shown = [context_label(s, d) for s, d in contexts.itertuples(index=False)]
        msg = f"scib results of several datasets/sources ({shown}); pass dataset= (and source=)."
        raise ValueError(msg)
    if t["params"].nunique() > 1:  # the table's params are the settings (use_rep left out)
        import json

        kinds = {
            bool(json.loads(p).get("approximate", False)) if isinstance(p, str) else False
            for p in t["params"]
        }
        if len(kinds) > 1:
            msg = (
                "scib results computed exactly and approximately (approximate=True/False): their graphs, "
                "silhouettes and kBET differ, so one table would rank them on different measurements. Lay out one "
                "at a time (rerun with the same approximate= for every representation)."
            )
            raise ValueError(msg)
        msg = "scib results with different settings (metrics, keys); lay out one setting at a time."
        raise ValueError(msg)
    wide = t.pivot_table(index="rep", columns="metric", values="value", sort=False, dropna=False)
    cols = [c for c in _ORDER if c in wide.columns]
    df = wide[cols].astype(float)
    if min_max_scale:
        lo, hi = df.min(axis=0), df.max(axis=0)
        span = (hi - lo).replace(0, np.nan)
        df = ((df - lo) / span).fillna(0.0)  # sklearn's MinMaxScaler maps a constant column to 0
    groups = pd.DataFrame(index=df.index)
    groups["Batch correction"] = df[[c for c in cols if c in BATCH]].mean(axis=1)
    groups["Bio conservation"] = df[[c for c in cols if c in BIO]].mean(axis=1)
    groups["Total"] = weighted_score(
        {"bio": groups["Bio conservation"], "batch": groups["Batch correction"]}, SCIB_WEIGHTS
    )
    out = pd.concat([df.rename(columns=CLEAN_NAMES), groups], axis=1).astype(object)
    kinds = {CLEAN_NAMES[c]: "Bio conservation" if c in BIO else "Batch correction" for c in cols}
    kinds.update({g: "Aggregate score" for g in groups.columns})
    out.loc["Metric Type"] = pd.Series(kinds)
    out.index.name = "Embedding"
    return out
