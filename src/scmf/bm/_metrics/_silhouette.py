"""Silhouette widths from per-label distance sums; equal to scib-metrics' definitions.

``silhouette_label`` is ``scib_metrics.silhouette_label`` ((mean s + 1) / 2, euclidean) and
``silhouette_batch`` is ``scib_metrics.silhouette_batch`` (per label: 1 - |s on batches|,
mean per label, mean over labels). Both are exact, computed in float64 without holding the
distance matrix, in a fraction of the time (see ``benchmarks/embedding_quality.py``).
"""

from __future__ import annotations

import numpy as np


def silhouette_from_sums(sums: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per-cell silhouette from the (n, L) sums of distances to each label's cells.

    A cell alone in its label (or with zero intra and inter distance) gets 0, as in scikit-learn
    and scib-metrics.
    """
    n_labels = sums.shape[1]
    counts = np.bincount(codes, minlength=n_labels).astype(np.float64)
    rows = np.arange(codes.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = sums[rows, codes] / (counts[codes] - 1.0)
        means = sums / counts
        means[rows, codes] = np.inf
        means[:, counts == 0] = np.inf
        b = means.min(axis=1)
        s = (b - a) / np.maximum(a, b)
    return np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


def silhouette_label(
    X: np.ndarray, labels: np.ndarray, *, rescale: bool = True, sums: np.ndarray | None = None
) -> float:
    """Average silhouette width of ``labels`` in ``X`` (euclidean); ``(asw + 1) / 2`` when ``rescale``."""
    codes, n_labels = _codes(labels)
    if sums is None:
        from ..._kernels import label_distance_sums

        sums = label_distance_sums(X, codes, n_labels)
    asw = float(np.mean(silhouette_from_sums(sums, codes)))
    return (asw + 1.0) / 2.0 if rescale else asw


def silhouette_batch(X: np.ndarray, labels: np.ndarray, batch: np.ndarray, *, rescale: bool = True) -> float:
    """Batch-mixing ASW within each label, as ``scib_metrics.silhouette_batch``.

    Labels present in a single batch (or where every cell is its own batch) are skipped;
    NaN when every label is skipped.
    """
    from ..._kernels import label_distance_sums

    codes, _ = _codes(labels)
    per_label = []
    for lab in np.unique(codes):
        mask = codes == lab
        bcodes, n_b = _codes(np.asarray(batch)[mask])
        if n_b == 1 or n_b == mask.sum():
            continue
        s = np.abs(silhouette_from_sums(label_distance_sums(X[mask], bcodes, n_b), bcodes))
        if rescale:
            s = 1.0 - s
        per_label.append(s.mean())
    return float(np.mean(per_label)) if per_label else float("nan")


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, codes = np.unique(np.asarray(values), return_inverse=True)
    return codes.astype(np.int64).ravel(), uniq.size
