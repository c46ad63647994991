from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._progress import advance
from .._validate import get_labels, warn_duplicate_rows, well_scaled
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark, bootstrap_weights, check_bootstrap
from ._metrics._clustering import contingency, graph_connectivity_per_label, nmi_ari
from ._metrics._leiden import SEARCHES, leiden_nmi_ari, search_runs
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

logger = logging.getLogger("scmf")

BIO_METRICS = ("nmi", "ari", "asw_cell_type")
BATCH_METRICS = ("asw_batch", "graph_connectivity")
#: the batch metrics that read the batch labels: a batch score needs one of them
READS_BATCHES = ("asw_batch",)
Clustering = Literal["leiden_optimized", "leiden", "kmeans"]
METRICS = (
    Metric(
        "nmi",
        "bio",
        description="normalised mutual information of kNN-graph clusters and cell types",
        seed_dependent=True,
    ),
    Metric(
        "ari",
        "bio",
        True,
        (-0.5, 1.0),
        "adjusted Rand index of kNN-graph clusters and cell types (0 = chance)",
        seed_dependent=True,
    ),
    Metric("asw_cell_type", "bio", description="(silhouette of the cell types + 1) / 2"),
    Metric("asw_batch", "batch", description="1 - |silhouette of the batches| within cell types (1 = mixed)"),
    Metric(
        "graph_connectivity", "batch", description="share of each type's cells in its largest kNN component"
    ),
    Metric(
        "bras",
        "batch",
        description="batch-removal adapted silhouette (the Benchmarker's batch score, cosine)",
    ),
    Metric("bio", "score", description="mean of nmi, ari, asw_cell_type", seed_dependent=True),
    Metric("batch", "score", description="mean of asw_batch, graph_connectivity"),
    Metric(
        "overall",
        "score",
        description="0.6 * bio + 0.4 * batch (bio alone without batches)",
        seed_dependent=True,
    ),
)


@benchmark(
    "embedding_quality",
    METRICS,
    aliases={"label_key": "cell_type_key"},
    dtype=np.float32,
    weights=SCIB_WEIGHTS,
)
def embedding_quality(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    batch_key: str | None = None,
    n_neighbors: int = 15,
    clustering: Clustering = "leiden_optimized",
    resolution: float = 1.0,
    seed: int = 42,
    n_jobs: int | None = None,
    n_bootstrap: int = 100,
    approximate: bool | Literal["auto"] = "auto",
    silhouette_sample: int = 10_000,
    cluster_seeds: int | Literal["auto"] = "auto",
    resolution_search: Literal["auto", "grid", "coarse_to_fine"] = "auto",
) -> Prepared:
    """Biological conservation and batch mixing of an embedding (scIB-style metrics).

    Bio conservation: ``nmi`` and ``ari`` between clusters of the kNN graph and the cell
    types, and ``asw_cell_type`` = (silhouette of the cell types + 1) / 2. Batch mixing (with
    ``batch_key`` and more than one batch): ``asw_batch`` (per cell type, one minus the absolute
    silhouette of the batches, averaged per type then over types) and ``graph_connectivity`` (per cell type,
    the share of its cells in the largest connected component of its kNN subgraph, averaged).
    ``overall = 0.6 * mean(bio) + 0.4 * mean(batch)``, or ``mean(bio)`` without batch metrics.

    The metrics are scib-metrics' definitions. Up to 200,000 cells everything is exact: the
    euclidean kNN graph (self included) is computed once per representation, in the same pass
    over the distances that gives both silhouettes; ``nmi``/``ari`` and
    ``graph_connectivity`` are scib-metrics' own functions on that graph. Above that size
    (``approximate="auto"``) that O(n^2) pass is replaced by an approximate graph and sampled
    silhouettes (see ``approximate``). Only ``obsm[use_rep]`` and two ``obs`` columns are
    read: ``adata`` (and its ``X``) is never copied.

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column with cell-type labels; cells without one are left out (warned).
    batch_key
        ``obs`` column with batches (donor, condition, ...). Default ``None``: no batch
        metrics (``overall`` = the bio score), since there is no column name batches go by
        in every dataset (the evaluation guide's configs name it, e.g. ``batch_key: batch``).
        With a single batch they are skipped with a warning.
    n_neighbors
        Neighbours per cell (self included) of the kNN graph.
    clustering
        How ``nmi``/``ari`` cluster the graph. ``"leiden_optimized"`` (default, the
        evaluation guide's): Leiden at resolutions 0.2, 0.4, ..., 2.0, keeping the
        clustering with the best NMI against the labels; it uses the labels, so it is an
        upper bound. ``"leiden"``: one label-free Leiden run at ``resolution``.
        ``"kmeans"``: k-means with k = the number of cell types (scib-metrics' kmeans).
    resolution
        Leiden resolution for ``clustering="leiden"``.
    seed
        Seed of the Leiden runs and of the bootstrap resamples.
    n_jobs
        Processes sharing the Leiden resolutions of ``"leiden_optimized"``, forked after the
        graph is built so that they share it. ``None``: one below 20,000 cells (starting processes costs
        more than it saves), else all cores. Results do not depend on it (each run is seeded
        exactly as scib-metrics seeds it). Not recorded.
    n_bootstrap
        Resamples of the cells (with replacement; the clustering, silhouettes and graph are
        kept, the cells they are averaged over are resampled; ``graph_connectivity`` resamples
        cell types) for the confidence intervals and :func:`scmf.bm.compare`. Every
        representation of one call gets the same resamples (a paired bootstrap). ``0``: none.
        With ``clustering="kmeans"`` ``nmi``/``ari`` are not resampled.
    cluster_seeds
        Leiden runs with seeds ``seed``, ``seed + 1``, ...: the stored ``nmi``/``ari`` are those
        of the first run; bootstrap resample ``i`` scores the clusters of run ``i mod
        cluster_seeds``, so the intervals and :func:`scmf.bm.compare` carry the seed-to-seed
        variation of the clustering (a gap that one seed shows and another does not is not
        declared significant). ``"auto"``: 3 on the exact path, 1 above the approximate switch
        (each run is a full Leiden search there). With 1, ``compare`` does not test ``nmi``,
        ``ari`` and the scores built on them. Not used by ``clustering="kmeans"`` (recorded as 1).
    approximate
        ``"auto"`` (default): ``True`` above 200,000 cells. ``True``: the kNN graph comes from
        pynndescent (:func:`scmf.bm.neighbors` with ``method="pynndescent"``: the
        approximate graph the ``Benchmarker`` and scanpy build) and ``asw_cell_type`` /
        ``asw_batch`` are estimated from a sample of ``silhouette_sample`` cells, stratified by
        cell type, each measured exactly against *all* cells; their standard errors are stored
        in the result's metadata (``asw_cell_type_se``, ``asw_batch_se``) and the bootstrap
        resamples the sampled cells. ``bras`` stays exact (it costs O(n) per cell type). The
        resolved value is stored in the parameters, so exact and approximate results are
        never combined as one setting. Measured agreement with the exact path is in the
        metrics page of the documentation.
    silhouette_sample
        Cells sampled for the silhouettes when approximate (each cell type gets at least
        100, or all its cells).
    resolution_search
        Which resolutions ``"leiden_optimized"`` runs. ``"grid"``: all ten (scib-metrics').
        ``"coarse_to_fine"``: 0.4, 1.0, 1.6 and 2.0, then the grid neighbours of the best of
        them (six runs instead of ten, in two rounds; each run seeded as in the grid, so it
        finds the grid's best whenever NMI has a single peak over the resolutions).
        ``"auto"`` (default): ``"grid"`` on the exact path, ``"coarse_to_fine"`` when
        approximate. The resolved value is stored in the parameters; the chosen resolution
        in the metadata (``leiden_resolution``). Measured agreement with the grid is in the
        metrics page of the documentation.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Stores under
    ``adata.uns["scmf_bench"]["embedding_quality"][dataset_name][rep]``:

    ``metrics``
        ``nmi``, ``ari``, ``asw_cell_type``, and with batches ``asw_batch``,
        ``graph_connectivity`` and ``bras``; ``bio``, ``batch`` (the means of the guide's bio
        and batch metrics; ``bras`` is reported beside them, not averaged in) and ``overall``.
    ``metadata``
        ``n_cells``, ``n_classes``, ``n_batches``, ``cell_type_key``, ``batch_key``,
        ``batch_metrics`` (``"computed"`` or why not), ``overall_definition``; with
        ``"leiden_optimized"``, ``leiden_resolution`` (the resolution of the stored ``nmi``/``ari``);
        when approximate, ``asw_cell_type_se`` and ``asw_batch_se``.
    ``artifacts``
        ``timings_s``: seconds per step (``leiden_connectivities``: the graph's weights;
        ``leiden_graph_build``: the igraph graph; ``leiden_resolution_<r>``: each Leiden run of
        the first clustering seed, timed in the process that ran it); ``replicates``: each
        metric per bootstrap resample.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.embed(adata, "pca", n_comps=30)
    >>> scmf.bm.embedding_quality(adata, "bulk_labels", batch_key="phase")
    >>> m = scmf.bm.results(adata).set_index("metric")["value"]
    >>> sorted(m.index)
    ['ari', 'asw_batch', 'asw_cell_type', 'batch', 'bio', 'bras', 'graph_connectivity', 'nmi', 'overall']
    """
    if clustering not in ("leiden_optimized", "leiden", "kmeans"):
        msg = f"clustering must be 'leiden_optimized', 'leiden' or 'kmeans', got {clustering!r}."
        raise ValueError(msg)
    n_bootstrap = check_bootstrap(n_bootstrap)
    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="embedding_quality")
    keep = labels.mask.copy()
    batch_codes = np.zeros(adata.n_obs, dtype=np.int64)
    n_batches, batch_status = 1, "skipped: batch_key=None"
    if batch_key is not None:
        try:
            batches = get_labels(adata, batch_key, param="batch_key", func="embedding_quality")
        except KeyError as e:
            msg = f"{e.args[0]} Pass batch_key=None to skip the batch metrics."
            raise KeyError(msg) from None
        keep &= batches.mask
        batch_codes[batches.mask] = batches.codes
        n_batches = np.unique(batch_codes[keep]).size
        batch_status = "computed"
        if n_batches < 2:
            batch_status = "skipped: single batch"
            warn(
                f"embedding_quality: obs[{batch_key!r}] has a single batch; batch metrics are skipped and "
                "overall = mean(bio)."
            )
    n_keep = int(keep.sum())
    if not 1 < n_neighbors < n_keep:
        msg = f"n_neighbors must be in [2, n_cells={n_keep}), got {n_neighbors}."
        raise ValueError(msg)
    uniq_labels, y = np.unique(labels.codes[keep[labels.mask]], return_inverse=True)
    n_labels = uniq_labels.size
    if n_labels < 2:
        msg = f"embedding_quality needs at least 2 cell types in obs[{cell_type_key!r}], found {n_labels}."
        raise ValueError(msg)
    y_names = labels.categories[uniq_labels][y]
    uniq_b, b = np.unique(batch_codes[keep], return_inverse=True)
    with_batch = batch_status == "computed"
    jobs = n_jobs if n_jobs is not None else (1 if n_keep < 20_000 else -1)
    if approximate == "auto":
        approximate = n_keep > APPROXIMATE_ABOVE
    elif not isinstance(approximate, bool | np.bool_):
        msg = f"approximate must be True, False or 'auto', got {approximate!r}."
        raise ValueError(msg)
    approximate = bool(approximate)
    if approximate and (not isinstance(silhouette_sample, int | np.integer) or silhouette_sample < 2):
        msg = f"silhouette_sample must be an integer >= 2, got {silhouette_sample!r}."
        raise ValueError(msg)
    sample = stratified_sample(y, int(silhouette_sample), seed) if approximate else None
    if cluster_seeds == "auto":
        cluster_seeds = 1 if approximate else 3
    if (
        not isinstance(cluster_seeds, int | np.integer)
        or isinstance(cluster_seeds, bool)
        or cluster_seeds < 1
    ):
        msg = f"cluster_seeds must be a positive integer or 'auto', got {cluster_seeds!r}."
        raise ValueError(msg)
    runs = 1 if clustering == "kmeans" or not n_bootstrap else int(cluster_seeds)
    if resolution_search == "auto":
        resolution_search = "coarse_to_fine" if approximate else "grid"
    elif resolution_search not in SEARCHES:
        msg = f"resolution_search must be 'auto', 'grid' or 'coarse_to_fine', got {resolution_search!r}."
        raise ValueError(msg)
    search = resolution_search if clustering == "leiden_optimized" else None

    def score(X: np.ndarray) -> Score:
        return _score(
            X,
            y,
            b,
            n_labels,
            uniq_b.size,
            y_names,
            with_batch=with_batch,
            n_neighbors=n_neighbors,
            clustering=clustering,
            resolution=resolution,
            seed=seed,
            n_jobs=jobs,
            n_bootstrap=n_bootstrap,
            sample=sample,
            runs=runs,
            search=search or "grid",
        )

    return Prepared(
        score,
        steps=1 + (search_runs(search) if search else 1) * runs,
        cells=keep,
        metadata={
            "n_cells": n_keep,
            "n_classes": int(n_labels),
            "n_batches": int(uniq_b.size) if batch_key is not None else 0,
            "cell_type_key": cell_type_key,
            "batch_key": batch_key,
            "batch_metrics": batch_status,
            "neighbors": "pynndescent (approximate)" if approximate else "exact",
            "silhouettes": f"stratified sample of {sample.size} cells" if approximate else "exact",
            "overall_definition": (
                "0.6*mean(nmi, ari, asw_cell_type) + 0.4*mean(asw_batch, graph_connectivity)"
                if with_batch
                else "mean(nmi, ari, asw_cell_type) (no batch metrics)"
            ),
        },
        params={
            "resolution": float(resolution),
            "n_bootstrap": n_bootstrap,
            "approximate": approximate,
            "silhouette_sample": int(silhouette_sample) if approximate else None,
            "cluster_seeds": int(runs),  # what was run: 1 with kmeans or without resamples
            "resolution_search": search,
        },
    )


def _score(
    X,
    y,
    b,
    n_labels,
    n_b,
    y_names,
    *,
    with_batch,
    n_neighbors,
    clustering,
    resolution,
    seed,
    n_jobs,
    n_bootstrap,
    sample=None,
    runs=1,
    search="grid",
):
    import scib_metrics
    from scib_metrics.nearest_neighbors import NeighborsResults

    from .._kernels import label_distance_sums

    X = well_scaled(X)  # distances of x1e35 or x1e-30 values would overflow/underflow
    timings: dict[str, float] = {}
    meta: dict[str, float] = {}  # the metadata this representation adds
    warn_duplicate_rows(X, "the embedding")
    t0 = time.perf_counter()
    if sample is None:
        sums, idx, dist = label_distance_sums(X, y * n_b + b, n_labels * n_b, k=n_neighbors)
        neighbors = NeighborsResults(indices=idx, distances=dist)
        timings["pairwise_knn_and_silhouette_sums"] = time.perf_counter() - t0
        ys, bs, counts = y, b, None
    else:
        neighbors = knn(X, n_neighbors, method="pynndescent", seed=seed)
        timings["approximate_knn"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sums = label_distance_sums(X, y * n_b + b, n_labels * n_b, rows=sample)
        timings["sampled_silhouette_sums"] = time.perf_counter() - t0
        ys, bs = y[sample], b[sample]
        counts = np.bincount(y * n_b + b, minlength=n_labels * n_b).reshape(n_labels, n_b)
    sums = sums.reshape(-1, n_labels, n_b)

    t0 = time.perf_counter()
    label_counts = None if counts is None else counts.sum(axis=1)
    cells: dict[str, np.ndarray] = {
        "asw_cell_type": silhouette_from_sums(sums.sum(axis=2), ys, counts=label_counts)
    }
    if with_batch:
        cells["asw_batch"] = batch_silhouette_cells(sums, ys, bs, counts=counts)
        cells["bras"] = bras_cells(X, y, b, n_labels, n_b, metric="cosine")
    del sums
    ipw = None  # sampled cells stand for (type size / sampled) cells each
    if sample is not None:
        ipw = (label_counts / np.bincount(ys, minlength=n_labels))[ys]
        meta["asw_cell_type_se"] = 0.5 * stratified_mean_se(
            cells["asw_cell_type"], ys, label_counts, per_group=False
        )
        if with_batch:
            meta["asw_batch_se"] = stratified_mean_se(cells["asw_batch"], ys, label_counts, per_group=True)
    timings["silhouettes"] = time.perf_counter() - t0
    advance()

    t0 = time.perf_counter()
    clusters = None
    runs_clusters: list[np.ndarray] = []
    if clustering == "kmeans":
        na = scib_metrics.nmi_ari_cluster_labels_kmeans(X, y)
    else:
        t_conn = time.perf_counter()
        conn = neighbors.knn_graph_connectivities  # umap's fuzzy simplicial set, as scib-metrics builds it
        timings["leiden_connectivities"] = time.perf_counter() - t_conn
        for k in range(
            runs
        ):  # run 0 gives the stored values; the others the seed variation of the replicates
            out = leiden_nmi_ari(
                conn,
                y,
                optimize_resolution=clustering == "leiden_optimized",
                resolution=resolution,
                search=search,
                n_jobs=n_jobs,
                seed=seed + k,
            )
            runs_clusters.append(np.unique(out["clusters"], return_inverse=True)[1].ravel())
            if k == 0:
                na = out
                timings["leiden_graph_build"] = out["graph_seconds"]
                timings.update({f"leiden_resolution_{r:g}": t for r, t in out["seconds"].items()})
                if clustering == "leiden_optimized":
                    meta["leiden_resolution"] = out["resolution"]
        clusters = runs_clusters[0]
    timings["clustering_nmi_ari"] = time.perf_counter() - t0
    gc_labels = None
    if with_batch:
        t0 = time.perf_counter()
        gc_labels = graph_connectivity_per_label(neighbors.knn_graph_distances, y_names)
        timings["graph_connectivity"] = time.perf_counter() - t0

    def metrics_of(w: np.ndarray | None, gc_pick: np.ndarray | None, run: int = 0) -> dict[str, float]:
        m: dict[str, float] = {}
        if w is None:
            m["nmi"], m["ari"] = float(na["nmi"]), float(na["ari"])
        elif clusters is not None:
            m["nmi"], m["ari"] = nmi_ari(contingency(y, runs_clusters[run], w))
        ws = w if sample is None or w is None else w[sample]  # weights of the silhouette cells
        w_all = ws if ipw is None else ipw * (1.0 if ws is None else ws)
        m["asw_cell_type"] = (float(np.average(cells["asw_cell_type"], weights=w_all)) + 1.0) / 2.0
        if with_batch:
            m["asw_batch"] = per_label_mean(cells["asw_batch"], ys, ws)
            m["graph_connectivity"] = float(np.mean(gc_labels if gc_pick is None else gc_labels[gc_pick]))
            m["bras"] = per_label_mean(cells["bras"], y, w)
        if all(k in m for k in BIO_METRICS):
            m["bio"] = float(np.mean([m[k] for k in BIO_METRICS]))
            batch_vals = [m[k] for k in BATCH_METRICS if k in m and np.isfinite(m[k])]
            reads_batches = [k for k in READS_BATCHES if k in m and np.isfinite(m[k])]
            if with_batch and reads_batches:  # graph connectivity alone never reads the batch labels
                m["batch"] = float(np.mean(batch_vals))
                m["overall"] = weighted_score({"bio": m["bio"], "batch": m["batch"]}, SCIB_WEIGHTS)
            else:
                m["overall"] = m["bio"]
        return m

    metrics = metrics_of(None, None)
    if with_batch and "batch" not in metrics:
        warn(
            "embedding_quality: every cell type lies in a single batch (batches confounded with cell types), so "
            "asw_batch is NaN and no metric that reads the batch labels could be computed: no batch score is "
            "reported and overall is the bio score; graph_connectivity, which reads only the cell types, is "
            "kept as it is."
        )
    replicates: dict[str, list[float]] = {}
    if n_bootstrap:
        t0 = time.perf_counter()
        gc_rng = np.random.default_rng([int(seed), 0x6C])
        for i, w in enumerate(bootstrap_weights(y.size, n_bootstrap, seed)):
            gc_pick = gc_rng.integers(0, n_labels, n_labels) if with_batch else None
            for k, v in metrics_of(w, gc_pick, i % max(len(runs_clusters), 1)).items():
                replicates.setdefault(k, []).append(v)
        timings["bootstrap"] = time.perf_counter() - t0
    ordered = [*BIO_METRICS, *BATCH_METRICS, "bras", "bio", "batch", "overall"]
    return Score(
        metrics={m: metrics[m] for m in ordered if m in metrics},
        replicates={m: np.asarray(v) for m, v in replicates.items()},
        replicate_kind="bootstrap",
        metadata=meta,
        artifacts={"timings_s": timings},
    )
