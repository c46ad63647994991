"""Weighted ranking metrics (AUROC, AUPRC, early precision) of many bootstrap resamples,
each in one pass over the pairs sorted once, resamples in parallel."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._cache import CACHE


@njit(cache=CACHE)
def _ranking_one(ys, last, order, w, out):  # pragma: no cover - numba
    # ys: labels (0/1) in score order, last[j]: j is the last pair of its distinct score,
    # order: score order of the pairs, w: weights in pair order; out: auroc, auprc, ratio, epr
    n = ys.size
    w_pos = 0.0
    w_all = 0.0
    for j in range(n):
        x = w[order[j]]
        w_all += x
        w_pos += x * ys[j]
    f_last = w_all - w_pos
    if w_pos <= 0.0 or f_last <= 0.0:
        for m in range(4):
            out[m] = math.nan
        return
    tp = 0.0
    cw = 0.0
    prev_tpr = 0.0
    prev_fpr = 0.0
    auroc = 0.0
    auprc = 0.0
    k_tp = -1.0
    k_cw = -1.0
    for j in range(n):
        x = w[order[j]]
        tp += x * ys[j]
        cw += x
        if j == 0 or cw <= w_pos:  # the best-scored pairs up to the positive weight (at least one)
            k_tp = tp
            k_cw = cw
        if last[j]:
            fp = cw - tp
            tpr = tp / w_pos
            fpr = fp / f_last
            auroc += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0
            prec = tp / (tp + fp) if tp + fp > 0.0 else 1.0
            auprc += (tpr - prev_tpr) * prec
            prev_tpr = tpr
            prev_fpr = fpr
    rate = w_pos / w_all
    out[0] = auroc
    out[1] = auprc
    out[2] = auprc / rate
    out[3] = (k_tp / k_cw) / rate if k_cw > 0.0 else math.nan


@njit(parallel=True, cache=CACHE)
def _weighted_ranking(ys, last, order, W, out):  # pragma: no cover - numba
    for b in prange(W.shape[0]):
        _ranking_one(ys, last, order, W[b], out[b])


@njit(cache=CACHE)
def _draw_counts(n, seed, w):  # pragma: no cover - numba
    # multinomial resampling counts of n units (n draws with replacement), seeded per resample
    np.random.seed(seed)  # noqa: NPY002 - numba: seeds this thread's own generator
    w[:] = 0.0
    for _ in range(n):
        w[np.random.randint(0, n)] += 1.0  # noqa: NPY002


@njit(parallel=True, cache=CACHE)
def _bootstrap_ranking(ys, last, order, seeds, out):  # pragma: no cover - numba
    n = ys.size
    for b in prange(seeds.size):
        w = np.empty(n)
        _draw_counts(n, seeds[b], w)
        _ranking_one(ys, last, order, w, out[b])


def _args(ys, last, order):
    return (
        np.ascontiguousarray(ys, dtype=np.float64),
        np.ascontiguousarray(last, dtype=np.bool_),
        np.ascontiguousarray(order, dtype=np.int64),
    )


def weighted_ranking(ys: np.ndarray, last: np.ndarray, order: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(B, 4) array of auroc, auprc, auprc_ratio, epr for each row of weights ``W`` (pair order)."""
    out = np.empty((W.shape[0], 4), dtype=np.float64)
    _weighted_ranking(*_args(ys, last, order), np.ascontiguousarray(W, dtype=np.float64), out)
    return out


def bootstrap_seeds(n_bootstrap: int, seed: int) -> np.ndarray:
    """One seed per resample, from ``seed``: the same resamples for the same ``(n_bootstrap, seed)``."""
    return np.random.default_rng([int(seed), 0x5CF]).integers(0, 2**31 - 1, n_bootstrap).astype(np.int64)


def bootstrap_counts(n: int, seed: int) -> np.ndarray:
    """The resampling counts :func:`bootstrap_ranking` draws for one resample seed."""
    w = np.empty(n)
    _draw_counts(n, int(seed), w)
    return w


def bootstrap_ranking(ys, last, order, seeds: np.ndarray) -> np.ndarray:
    """(B, 4) metrics of ``len(seeds)`` multinomial resamples of the pairs, drawn in the kernel."""
    out = np.empty((seeds.size, 4), dtype=np.float64)
    _bootstrap_ranking(*_args(ys, last, order), np.ascontiguousarray(seeds, dtype=np.int64), out)
    return out
