"""Cell-cycle conservation (scIB's definition): is the variance explained by the S and G2/M
scores the same in the embedding as in the expression?"""

from __future__ import annotations

import numpy as np
from scipy import sparse


def pc_regression(X, covariates: np.ndarray, n_comps: int = 50) -> float:
    """Variance of ``X`` explained by ``covariates`` through its principal components (scIB's PCR).

    ``sum_i R2(PC_i ~ covariates) * var_i / sum(var)`` over the first ``n_comps`` principal
    components (scanpy's ``pp.pca``: ARPACK, or the full SVD when ``n_comps`` reaches the
    matrix's smaller side), each regressed on the covariates with an intercept by least squares;
    negative R2 count as 0.
    """
    import scanpy as sc

    k = min(X.shape) if n_comps is None or n_comps > min(X.shape) else int(n_comps)
    solver = "arpack"
    if k == min(X.shape):
        solver = "full"
        X = X.toarray() if sparse.issparse(X) else X
    pcs, _, _, var = sc.pp.pca(X, n_comps=k, svd_solver=solver, return_info=True)
    design = np.hstack(
        [np.ones((pcs.shape[0], 1)), np.asarray(covariates, dtype=float).reshape(pcs.shape[0], -1)]
    )
    beta = np.linalg.pinv(design.T @ design) @ design.T @ pcs
    total = np.sum((pcs - pcs.mean(axis=0)) ** 2, axis=0)
    r2 = np.maximum(0.0, 1 - np.sum((pcs - design @ beta) ** 2, axis=0) / total)
    return float(np.sum(r2 * var / np.sum(var)))


def cell_cycle_conservation(before: float, after: float) -> float:
    """``max(0, 1 - |after - before| / before)``: 1 when the embedding keeps the cell-cycle share of variance."""
    return max(0.0, 1.0 - abs(after - before) / before)
