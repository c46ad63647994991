"""Agreement between clusters and labels, and graph connectivity, in forms that can be resampled."""

from __future__ import annotations

import numpy as np
from scipy import sparse


def contingency(labels: np.ndarray, clusters: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(labels x clusters) table of (weighted) cell counts; codes must be 0..k-1."""
    n_l, n_c = int(labels.max()) + 1, int(clusters.max()) + 1
    w = None if weights is None else np.asarray(weights, dtype=float)
    return (
        np.bincount(labels * n_c + clusters, weights=w, minlength=n_l * n_c).reshape(n_l, n_c).astype(float)
    )


def nmi_ari(table: np.ndarray) -> tuple[float, float]:
    """NMI (arithmetic normalisation) and ARI from a contingency table, as scikit-learn computes them."""
    n = float(table.sum())
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    i, j = np.nonzero(table)
    nz = table[i, j]
    a, b = rows[rows > 0], cols[cols > 0]
    if a.size == b.size == 1:
        nmi = 1.0
    else:
        mi = float(np.sum(nz / n * (np.log(nz) + np.log(n) - np.log(rows[i]) - np.log(cols[j]))))
        h_a = float(-np.sum(a / n * np.log(a / n)))
        h_b = float(-np.sum(b / n * np.log(b / n)))
        nmi = 0.0 if mi <= 0 else mi / max((h_a + h_b) / 2.0, np.finfo(float).eps)

    def pairs(x):
        return x * (x - 1.0) / 2.0

    sum_ij, sum_a, sum_b = pairs(nz).sum(), pairs(a).sum(), pairs(b).sum()
    expected = sum_a * sum_b / pairs(n) if n > 1 else 0.0
    top = (sum_a + sum_b) / 2.0
    ari = 1.0 if top == expected else float((sum_ij - expected) / (top - expected))
    return float(nmi), ari


def graph_connectivity_per_label(distances: sparse.spmatrix, labels: np.ndarray) -> np.ndarray:
    """Per label, the share of its cells in the largest strongly connected component of its kNN subgraph.

    The mean over labels is ``scib_metrics.graph_connectivity``.
    """
    from scipy.sparse.csgraph import connected_components

    graph = sparse.csr_matrix(distances)
    out = []
    for lab in np.unique(labels):
        idx = np.flatnonzero(labels == lab)
        sub = graph[idx][:, idx]
        _, comps = connected_components(sub, connection="strong")
        out.append(np.bincount(comps).max() / idx.size)
    return np.asarray(out, dtype=float)
