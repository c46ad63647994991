"""Weighted ranking metrics of many bootstrap resamples in one parallel pass each."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _weighted_ranking(ys, last, order, W, out):  # pragma: no cover - numba
    # ys: labels (0/1) in score order, last[j]: j is the last pair of its distinct score,
    # order: score order of the pairs, W: (B, n) weights in pair order; out: (B, 4)
    B, n = W.shape
    for b in prange(B):
        w_pos = 0.0
        w_all = 0.0
        for j in range(n):
            w = W[b, order[j]]
            w_all += w
            w_pos += w * ys[j]
        f_last = w_all - w_pos
        if w_pos <= 0.0 or f_last <= 0.0:
            for m in range(4):
                out[b, m] = math.nan
            continue
        tp = 0.0
        cw = 0.0
        prev_tpr = 0.0
        prev_fpr = 0.0
        auroc = 0.0
        auprc = 0.0
        k_tp = -1.0
        k_cw = -1.0
        for j in range(n):
            w = W[b, order[j]]
            tp += w * ys[j]
            cw += w
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
        out[b, 0] = auroc
        out[b, 1] = auprc
        out[b, 2] = auprc / rate
        out[b, 3] = (k_tp / k_cw) / rate if k_cw > 0.0 else math.nan


def weighted_ranking(ys: np.ndarray, last: np.ndarray, order: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(B, 4) array of auroc, auprc, auprc_ratio, epr for each row of weights ``W`` (pair order)."""
    out = np.empty((W.shape[0], 4), dtype=np.float64)
    _weighted_ranking(
        np.ascontiguousarray(ys, dtype=np.float64),
        np.ascontiguousarray(last, dtype=np.bool_),
        np.ascontiguousarray(order, dtype=np.int64),
        np.ascontiguousarray(W, dtype=np.float64),
        out,
    )
    return out
