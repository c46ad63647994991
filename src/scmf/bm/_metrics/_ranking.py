"""How well scores rank positives above negatives: AUROC, AUPRC, early precision, and their bootstrap."""

from __future__ import annotations

import numpy as np

RANKING_METRICS = ("auroc", "auprc", "auprc_ratio", "epr")


def ranking_scores(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """``auroc``, ``auprc`` (average precision), ``auprc_ratio`` (auprc / positive rate) and ``epr``.

    ``epr``, the early precision ratio: precision among the ``n_positive`` best-scored pairs
    divided by the positive rate. AUROC and AUPRC are scikit-learn's.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    n_pos = int(y.sum())
    rate = n_pos / y.size
    auprc = float(average_precision_score(y, score))
    top = np.argsort(-score, kind="stable")[:n_pos]
    return {
        "auroc": float(roc_auc_score(y, score)),
        "auprc": auprc,
        "auprc_ratio": auprc / rate,
        "epr": float(y[top].mean() / rate),
    }


class WeightedRanking:
    """The same four metrics with per-pair weights (bootstrap resampling counts), one sort for all.

    Ties between scores are treated as scikit-learn treats them (one threshold per distinct
    score), so unit weights give scikit-learn's values.
    """

    def __init__(self, y: np.ndarray, score: np.ndarray):
        order = np.argsort(-score, kind="stable")
        self.order = order
        self.y = np.asarray(y, dtype=float)[order]
        s = np.asarray(score)[order]
        self.last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score

    def __call__(self, w: np.ndarray) -> dict[str, float]:
        """The metrics with weight ``w[i]`` on pair ``i`` (in the order given to the constructor)."""
        w = np.asarray(w, dtype=float)[self.order]
        tp_all = np.cumsum(w * self.y)
        cw = np.cumsum(w)
        tps, fps = tp_all[self.last], (cw - tp_all)[self.last]
        w_pos, w_all = tps[-1], cw[-1]
        if w_pos <= 0 or fps[-1] <= 0:
            return dict.fromkeys(RANKING_METRICS, float("nan"))
        tpr, fpr = np.r_[0.0, tps / w_pos], np.r_[0.0, fps / fps[-1]]
        auroc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(tps + fps > 0, tps / (tps + fps), 1.0)
        auprc = float(np.sum(np.diff(np.r_[0.0, tps / w_pos]) * precision))
        rate = w_pos / w_all
        k = max(
            int(np.searchsorted(cw, w_pos, side="right")), 1
        )  # best-scored pairs up to the positive weight
        epr = float(tp_all[k - 1] / cw[k - 1] / rate)
        return {"auroc": auroc, "auprc": auprc, "auprc_ratio": auprc / rate, "epr": epr}
