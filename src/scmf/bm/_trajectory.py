"""``scmf.bm.trajectory_conservation``: scIB's trajectory conservation of an embedding."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validate import get_labels
from ._benchmark import Prepared, Score, benchmark
from ._metrics import trajectory_conservation as _score
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

METRICS = (
    Metric(
        "trajectory_conservation",
        "bio",
        description="(Spearman of the reference pseudotime and a DPT on the embedding + 1) / 2",
    ),
)
MIN_CELLS = 10


@benchmark("trajectory_conservation", METRICS, aliases={"label_key": "cell_type_key"}, dtype=None)
def trajectory_conservation(
    adata: AnnData,
    pseudotime_key: str = "dpt_pseudotime",
    cell_type_key: str = "cell_type",
    *,
    batch_key: str | None = None,
    n_neighbors: int = 15,
) -> Prepared:
    """Trajectory conservation: does the embedding order cells along a known trajectory?

    scIB's definition (Luecken et al. 2022, ``scib.me.trajectory_conservation``): on the
    embedding's kNN graph a diffusion pseudotime (scanpy's ``tl.dpt``) is started from a cell
    of the cell type whose reference pseudotime is lowest, and the score is ``(s + 1) / 2``
    with ``s`` Spearman's correlation of the two pseudotimes (per batch and averaged with
    ``batch_key``). Only the cells with a reference pseudotime take part; no cell-type
    annotation beyond the start type is needed, which makes it a label-light bio metric.
    Equal to scib's function given the same graph (tested).

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    pseudotime_key
        ``obs`` column of the reference pseudotime (numeric; cells without one, NaN, are left
        out), e.g. computed on the unintegrated data or known from the experiment.
    cell_type_key
        ``obs`` column of the cell types (chooses the root's type).
    batch_key
        Correlate within each batch and average (scIB's option).
    n_neighbors
        Neighbours of the kNN graph (scanpy's ``pp.neighbors`` on the embedding).

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Stores ``trajectory_conservation`` and the
    metadata ``n_cells`` (cells with a reference pseudotime).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> adata.uns["iroot"] = 0
    >>> sc.tl.dpt(adata)  # a reference pseudotime on scanpy's own graph
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.trajectory_conservation(adata, "dpt_pseudotime", "bulk_labels",
    ...                                 use_rep=["X_pca_baseline", "X_random_baseline"])
    >>> r = scmf.bm.results(adata).set_index("rep")["value"]
    >>> bool(r["X_pca_baseline"] > r["X_random_baseline"])
    True
    """
    if pseudotime_key not in adata.obs.columns:
        msg = (
            f"pseudotime_key={pseudotime_key!r} is not a column of adata.obs (columns: {list(adata.obs.columns)}); "
            "compute a reference pseudotime first, e.g. sc.tl.dpt on the unintegrated data."
        )
        raise KeyError(msg)
    try:
        pt = np.asarray(adata.obs[pseudotime_key], dtype=float)
    except (TypeError, ValueError):
        msg = f"adata.obs[{pseudotime_key!r}] must be numeric (a pseudotime), got {adata.obs[pseudotime_key].dtype}."
        raise TypeError(msg) from None
    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="trajectory_conservation")
    pt = np.where(labels.mask, pt, np.nan)
    n = int(np.isfinite(pt).sum())
    if n < MIN_CELLS:
        msg = f"trajectory_conservation needs at least {MIN_CELLS} cells with a finite {pseudotime_key!r}; found {n}."
        raise ValueError(msg)
    names = np.full(adata.n_obs, "", dtype=object)
    names[labels.mask] = labels.categories[labels.codes]
    batches = None
    if batch_key is not None:
        b = get_labels(adata, batch_key, param="batch_key", func="trajectory_conservation")
        batches = np.full(adata.n_obs, "", dtype=object)
        batches[b.mask] = b.categories[b.codes]
        pt = np.where(b.mask, pt, np.nan)

    def score(X: np.ndarray) -> Score:
        value = _score(X, names, pt, batches=batches, n_neighbors=int(n_neighbors))
        return Score({"trajectory_conservation": value})

    return Prepared(score, metadata={"n_cells": int(np.isfinite(pt).sum())})
