"""Silhouette widths from per-group distance sums; equal to scib-metrics' definitions.

``silhouette_label`` is ``scib_metrics.silhouette_label`` ((mean s + 1) / 2, euclidean),
``silhouette_batch`` is ``scib_metrics.silhouette_batch`` (per label: 1 - |s on batches|,
mean per label, mean over labels) and ``bras`` is ``scib_metrics.bras`` (the same with the
mean distance to all other batches in place of the nearest batch, cosine by default). All are
exact, computed in float64 without holding the distance matrix. Every function also has a
per-cell form (``*_cells``) that the benchmarks resample for their confidence intervals.
"""

from __future__ import annotations

from typing import Literal

import numpy as np


def silhouette_from_sums(
    sums: np.ndarray, codes: np.ndarray, *, between: str = "nearest", counts: np.ndarray | None = None
) -> np.ndarray:
    """Per-cell silhouette from the (n, G) sums of distances to each group's cells.

    ``between="nearest"`` is the classic silhouette; ``"mean_other"`` (BRAS) takes the mean
    distance to all cells of the other groups. A cell alone in its group (or with zero intra and
    inter distance) gets 0, as in scikit-learn and scib-metrics. ``counts``: the size of each
    group among the cells the sums run over, when ``sums`` has rows for a sample of them only.
    """
    n_groups = sums.shape[1]
    if counts is None:
        counts = np.bincount(codes, minlength=n_groups)
    counts = np.asarray(counts, dtype=np.float64)
    rows = np.arange(codes.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        own = sums[rows, codes]
        a = own / (counts[codes] - 1.0)
        if between == "nearest":
            means = sums / counts
            means[rows, codes] = np.inf
            means[:, counts == 0] = np.inf
            b = means.min(axis=1)
        elif between == "mean_other":
            b = (sums.sum(axis=1) - own) / (counts.sum() - counts[codes])
        else:
            msg = f"between must be 'nearest' or 'mean_other', got {between!r}."
            raise ValueError(msg)
        s = (b - a) / np.maximum(a, b)
    return np.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


def batch_silhouette_cells(
    sums: np.ndarray,
    labels: np.ndarray,
    batches: np.ndarray,
    *,
    between: str = "nearest",
    counts: np.ndarray | None = None,
) -> np.ndarray:
    """Per cell ``1 - |s|`` of its batch within its label, from (n, labels, batches) distance sums.

    NaN for cells of labels that scib-metrics skips (one batch, or every cell its own batch).
    ``counts``: (labels, batches) cell counts of all cells the sums run over, when the rows
    are a sample of them.
    """
    n_l, n_b = sums.shape[1], sums.shape[2]
    if counts is None:
        counts = np.bincount(labels * n_b + batches, minlength=n_l * n_b).reshape(n_l, n_b)
    out = np.full(labels.size, np.nan)
    remap = np.zeros(n_b, dtype=np.int64)
    for lab in range(n_l):
        mask = labels == lab
        present = np.flatnonzero(counts[lab])
        if present.size <= 1 or present.size == counts[lab].sum() or not mask.any():
            continue
        remap[present] = np.arange(present.size)
        s = silhouette_from_sums(
            sums[mask, lab][:, present], remap[batches[mask]], between=between, counts=counts[lab, present]
        )
        out[mask] = 1.0 - np.abs(s)
    return out


def stratified_sample(codes: np.ndarray, size: int, seed: int, *, min_per_group: int = 100) -> np.ndarray:
    """Sorted indices of a sample of about ``size`` cells, proportional to each group's size.

    Every group gets at least ``min(min_per_group, its size)`` cells, so rare cell types are
    estimated too; the estimators below weight cells by ``group size / sampled``.
    """
    n_g = int(codes.max()) + 1
    sizes = np.bincount(codes, minlength=n_g)
    want = np.minimum(sizes, np.maximum(np.round(size * sizes / codes.size).astype(np.int64), min_per_group))
    rng = np.random.default_rng([int(seed), 0x51])
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    picks = [
        order[starts[g] + rng.choice(sizes[g], want[g], replace=False)] for g in range(n_g) if want[g] > 0
    ]
    return np.sort(np.concatenate(picks))


def stratified_mean_se(values: np.ndarray, codes: np.ndarray, sizes: np.ndarray, *, per_group: bool) -> float:
    """Standard error of a stratified-sample mean (without-replacement correction).

    ``per_group=False``: the mean over all cells (groups weighted by their size);
    ``True``: the mean over groups of the group means (NaN values and empty groups left out).
    """
    var_terms, weights = [], []
    for g in range(sizes.size):
        v = values[(codes == g) & ~np.isnan(values)]
        if v.size == 0 or sizes[g] == 0:
            continue
        fpc = max(1.0 - v.size / sizes[g], 0.0)
        var = float(np.var(v, ddof=1)) if v.size > 1 else 0.0
        var_terms.append(var / v.size * fpc)
        weights.append(1.0 if per_group else float(sizes[g]))
    if not weights:
        return float("nan")
    w = np.asarray(weights) / np.sum(weights)
    return float(np.sqrt(np.sum(w**2 * np.asarray(var_terms))))


def per_label_mean(values: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean over labels of the (weighted) mean of ``values`` per label; NaN values and empty labels skipped."""
    ok = ~np.isnan(values)
    w = np.ones(values.size) if weights is None else np.asarray(weights, dtype=float)
    w = np.where(ok, w, 0.0)
    n_lab = int(labels.max()) + 1 if labels.size else 0
    tot = np.bincount(labels, weights=w, minlength=n_lab)
    s = np.bincount(labels, weights=np.where(ok, values, 0.0) * w, minlength=n_lab)
    has = tot > 0
    return float(np.mean(s[has] / tot[has])) if has.any() else float("nan")


def cosine_group_sums(X: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """(n, G) sums of cosine distances ``1 - cos(x_i, x_j)`` from each cell to each group's cells.

    Exact, in O(n * G * d): the sum over a group is its size minus the dot product with the
    group's sum of unit vectors.
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    U = np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
    S = np.zeros((n_groups, X.shape[1]))
    np.add.at(S, codes, U)
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    return counts[None, :] - U @ S.T


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


def silhouette_batch(X: np.ndarray, labels: np.ndarray, batch: np.ndarray) -> float:
    """Batch-mixing ASW within each label (euclidean, nearest batch), as ``scib_metrics.silhouette_batch``.

    Labels present in a single batch (or where every cell is its own batch) are skipped;
    NaN when every label is skipped.
    """
    from ..._kernels import label_distance_sums

    y, n_l = _codes(labels)
    b, n_b = _codes(batch)
    sums = label_distance_sums(np.asarray(X, dtype=np.float64), y * n_b + b, n_l * n_b).reshape(-1, n_l, n_b)
    return per_label_mean(batch_silhouette_cells(sums, y, b), y)


def bras(
    X: np.ndarray, labels: np.ndarray, batch: np.ndarray, *, metric: Literal["cosine", "euclidean"] = "cosine"
) -> float:
    """Batch removal adapted silhouette, as ``scib_metrics.bras`` (``between_cluster_distances="mean_other"``).

    Per label, the silhouette of the batches with the mean distance to all cells of the other
    batches as the between-batch distance; ``1 - |s|`` averaged per label, then over labels.
    """
    y, n_l = _codes(labels)
    b, n_b = _codes(batch)
    return per_label_mean(bras_cells(X, y, b, n_l, n_b, metric=metric), y)


def bras_cells(X, y, b, n_labels: int, n_batches: int, *, metric: str = "cosine", sums=None) -> np.ndarray:
    """Per-cell BRAS values (NaN for skipped labels); ``sums``: euclidean (n, labels, batches) sums to reuse."""
    if metric not in ("cosine", "euclidean"):
        msg = f"metric must be 'cosine' or 'euclidean', got {metric!r}."
        raise ValueError(msg)
    if metric == "cosine":
        sums = cosine_group_sums(X, y * n_batches + b, n_labels * n_batches)
    elif sums is None:
        from ..._kernels import label_distance_sums

        sums = label_distance_sums(np.asarray(X, dtype=np.float64), y * n_batches + b, n_labels * n_batches)
    return batch_silhouette_cells(sums.reshape(-1, n_labels, n_batches), y, b, between="mean_other")


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    uniq, codes = np.unique(np.asarray(values), return_inverse=True)
    return codes.astype(np.int64).ravel(), uniq.size
