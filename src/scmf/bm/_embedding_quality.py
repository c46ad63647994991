from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from .._keys import BENCH_KEY, EMBED_KEY
from .._store import Result
from .._validate import as_rep_list, check_anndata, get_labels, get_rep, warn_duplicate_rows
from .._warnings import ScmfWarning
from ._common import dataset_name_or_default, finish
from ._metrics._leiden import leiden_nmi_ari
from ._metrics._silhouette import silhouette_from_sums

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData

logger = logging.getLogger("scmf")

BIO_METRICS = ("nmi", "ari", "asw_cell_type")
BATCH_METRICS = ("asw_batch", "graph_connectivity")
Clustering = Literal["leiden_optimized", "leiden", "kmeans"]


def embedding_quality(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    batch_key: str | None = "batch",
    use_rep: str | Sequence[str] = EMBED_KEY,
    n_neighbors: int = 15,
    clustering: Clustering = "leiden_optimized",
    resolution: float = 1.0,
    seed: int = 42,
    n_jobs: int | None = None,
    dataset_name: str | None = None,
    inplace: bool = True,
    key_added: str = BENCH_KEY,
) -> pd.DataFrame | None:
    """Biological conservation and batch mixing of an embedding (scIB-style metrics).

    Bio conservation: ``nmi`` and ``ari`` between clusters of the kNN graph and the cell
    types, and ``asw_cell_type`` = (silhouette of the cell types + 1) / 2. Batch mixing (with
    ``batch_key`` and more than one batch): ``asw_batch`` (per cell type, one minus the absolute
    silhouette of the batches, averaged per type then over types) and ``graph_connectivity`` (per cell type,
    the share of its cells in the largest connected component of its kNN subgraph, averaged).
    ``overall = 0.6 * mean(bio) + 0.4 * mean(batch)``, or ``mean(bio)`` without batch metrics.

    The metrics are scib-metrics' definitions. The exact euclidean kNN graph (self included)
    is computed once per representation, in the same pass over the distances that gives both
    silhouettes; ``nmi``/``ari`` and ``graph_connectivity`` are scib-metrics' own functions on
    that graph. Only ``obsm[use_rep]`` and two ``obs`` columns are read: ``adata`` (and its
    ``X``) is never copied.

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column with cell-type labels; cells without one are left out (warned).
    batch_key
        ``obs`` column with batches (donor, condition, ...). ``None`` skips the batch metrics;
        with a single batch they are skipped with a warning.
    use_rep
        ``obsm`` key or list of keys.
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
        Seed of the Leiden runs.
    n_jobs
        Processes sharing the Leiden resolutions of ``"leiden_optimized"`` (joblib); each
        builds the graph once. ``None``: one below 20,000 cells (starting processes costs
        more than it saves), else all cores. Results do not depend on it (each run is seeded
        exactly as scib-metrics seeds it).
    dataset_name
        Name under which the results are stored (default ``"dataset"``).
    inplace
        Store the results (and return ``None``) or return the results table.
    key_added
        ``uns`` key of the results store.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Stores under
    ``adata.uns["scmf_bench"]["embedding_quality"][dataset_name][rep]``:

    ``metrics``
        ``nmi``, ``ari``, ``asw_cell_type``, and with batches ``asw_batch`` and
        ``graph_connectivity``; ``bio``, ``batch`` (their means) and ``overall``.
    ``metadata``
        ``n_cells``, ``n_classes``, ``n_batches``, ``cell_type_key``, ``batch_key``,
        ``batch_metrics`` (``"computed"`` or why not), ``overall_definition``.
    ``artifacts``
        ``timings_s``: seconds per step.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.embed(adata, "pca", n_comps=30)
    >>> scmf.bm.embedding_quality(adata, "bulk_labels", batch_key="phase")
    >>> m = scmf.bm.results(adata).set_index("metric")["value"]
    >>> sorted(m.index)
    ['ari', 'asw_batch', 'asw_cell_type', 'batch', 'bio', 'graph_connectivity', 'nmi', 'overall']
    """
    import scib_metrics
    from scib_metrics.nearest_neighbors import NeighborsResults

    from .._kernels import label_distance_sums

    check_anndata(adata, "scmf.bm.embedding_quality")
    reps = as_rep_list(use_rep)
    dataset = dataset_name_or_default(dataset_name)
    if clustering not in ("leiden_optimized", "leiden", "kmeans"):
        msg = f"clustering must be 'leiden_optimized', 'leiden' or 'kmeans', got {clustering!r}."
        raise ValueError(msg)
    embeddings = {rep: get_rep(adata, rep, dtype=np.float32) for rep in reps}

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
            warnings.warn(
                f"embedding_quality: obs[{batch_key!r}] has a single batch; batch metrics are skipped and "
                "overall = mean(bio).",
                ScmfWarning,
                stacklevel=2,
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
    n_b = uniq_b.size
    with_batch = batch_status == "computed"

    results = []
    for rep, X_all in embeddings.items():
        timings: dict[str, float] = {}
        X = X_all[keep] if n_keep < adata.n_obs else X_all
        warn_duplicate_rows(X, rep)

        t0 = time.perf_counter()
        sums, idx, dist = label_distance_sums(X, y * n_b + b, n_labels * n_b, k=n_neighbors)
        sums = sums.reshape(-1, n_labels, n_b)
        neighbors = NeighborsResults(indices=idx, distances=dist)
        timings["pairwise_knn_and_silhouette_sums"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        metrics = {}
        metrics["asw_cell_type"] = (float(np.mean(silhouette_from_sums(sums.sum(axis=2), y))) + 1.0) / 2.0
        if with_batch:
            metrics["asw_batch"] = _asw_batch_from_sums(sums, y, b)
        timings["silhouettes"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if clustering == "kmeans":
            na = scib_metrics.nmi_ari_cluster_labels_kmeans(X, y)
        else:
            jobs = n_jobs if n_jobs is not None else (1 if n_keep < 20_000 else -1)
            na = leiden_nmi_ari(
                neighbors.knn_graph_connectivities,
                y,
                optimize_resolution=clustering == "leiden_optimized",
                resolution=resolution,
                n_jobs=jobs,
                seed=seed,
            )
        metrics["nmi"], metrics["ari"] = float(na["nmi"]), float(na["ari"])
        timings["clustering_nmi_ari"] = time.perf_counter() - t0

        if with_batch:
            t0 = time.perf_counter()
            metrics["graph_connectivity"] = float(scib_metrics.graph_connectivity(neighbors, y_names))
            timings["graph_connectivity"] = time.perf_counter() - t0

        bio = float(np.mean([metrics[m] for m in BIO_METRICS]))
        metrics["bio"] = bio
        batch_vals = [metrics[m] for m in BATCH_METRICS if m in metrics and np.isfinite(metrics[m])]
        if with_batch and batch_vals:
            metrics["batch"] = float(np.mean(batch_vals))
            metrics["overall"] = 0.6 * bio + 0.4 * metrics["batch"]
            definition = "0.6*mean(nmi, ari, asw_cell_type) + 0.4*mean(asw_batch, graph_connectivity)"
        else:
            metrics["overall"] = bio
            definition = "mean(nmi, ari, asw_cell_type) (no batch metrics)"
        logger.info("embedding_quality on %r: %s", rep, {k: round(v, 2) for k, v in timings.items()})
        ordered = [*BIO_METRICS, *BATCH_METRICS, "bio", "batch", "overall"]
        results.append(
            Result(
                benchmark="embedding_quality",
                dataset=dataset,
                rep=rep,
                metrics={m: metrics[m] for m in ordered if m in metrics},
                metadata={
                    "n_cells": n_keep,
                    "n_classes": int(n_labels),
                    "n_batches": int(n_b) if batch_key is not None else 0,
                    "cell_type_key": cell_type_key,
                    "batch_key": batch_key,
                    "batch_metrics": batch_status,
                    "overall_definition": definition,
                },
                params={
                    "cell_type_key": cell_type_key,
                    "batch_key": batch_key,
                    "use_rep": rep,
                    "n_neighbors": int(n_neighbors),
                    "clustering": clustering,
                    "resolution": float(resolution),
                    "seed": int(seed),
                },
                artifacts={"timings_s": timings},
            )
        )
    return finish(adata, results, inplace=inplace, key_added=key_added)


def _asw_batch_from_sums(sums: np.ndarray, y: np.ndarray, b: np.ndarray) -> float:
    """scib-metrics' ``silhouette_batch`` from the (n, labels, batches) distance sums."""
    per_label = []
    for lab in range(sums.shape[1]):
        mask = y == lab
        present, bc = np.unique(b[mask], return_inverse=True)
        if present.size == 1 or present.size == mask.sum():
            continue
        s = silhouette_from_sums(sums[mask, lab][:, present], bc)
        per_label.append(float(np.mean(1.0 - np.abs(s))))
    if not per_label:
        warnings.warn(
            "embedding_quality: every cell type lies in a single batch; asw_batch is NaN and left out of the batch score.",
            ScmfWarning,
            stacklevel=3,
        )
        return float("nan")
    return float(np.mean(per_label))
