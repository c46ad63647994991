"""How well scores rank positives above negatives: AUROC, AUPRC, early precision, their curves
and their bootstrap, all from one sort of the scores."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

RANKING_METRICS = ("auroc", "auprc", "auprc_ratio", "epr")


def ranking_scores(y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """``auroc``, ``auprc`` (average precision), ``auprc_ratio`` (auprc / positive rate) and ``epr``.

    ``epr``, the early precision ratio: precision among the ``n_positive`` best-scored pairs
    divided by the positive rate. AUROC and AUPRC are scikit-learn's (this function calls
    it; :class:`WeightedRanking` gives the same values from one sort).
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
    """The four metrics with per-pair weights (bootstrap resampling counts), one sort for all.

    Ties between scores are treated as scikit-learn treats them (one threshold per distinct
    score), so unit weights give scikit-learn's values, and :meth:`curves` gives
    scikit-learn's ROC and precision-recall curves.
    """

    def __init__(self, y: np.ndarray, score: np.ndarray):
        score = np.asarray(score)
        order = np.argsort(-score, kind="stable")
        self.order = order
        self.y = np.asarray(y, dtype=np.float64)[order]
        s = score[order]
        self.last_idx = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
        self.last = np.zeros(s.size, dtype=bool)
        self.last[self.last_idx] = True
        self.thresholds = s[self.last_idx]

    def __call__(self, w: np.ndarray | None = None) -> dict[str, float]:
        """The metrics with weight ``w[i]`` on pair ``i`` (in the order given to the constructor)."""
        w = np.ones(self.order.size) if w is None else np.asarray(w, dtype=np.float64)
        return {k: float(v[0]) for k, v in self.many([w]).items()}

    def many(self, weights: Iterable[np.ndarray], *, chunk_bytes: int = 64 * 2**20) -> dict[str, np.ndarray]:
        """Each metric for each weight vector (a numba pass per vector, in parallel, in chunks)."""
        from ..._kernels import weighted_ranking

        n = self.order.size
        per = max(1, chunk_bytes // (8 * max(n, 1)))
        out, buf = [], []

        def flush():
            if buf:
                out.append(weighted_ranking(self.y, self.last, self.order, np.stack(buf)))
                buf.clear()

        for w in weights:
            buf.append(np.asarray(w, dtype=np.float64))
            if len(buf) == per:
                flush()
        flush()
        vals = np.concatenate(out) if out else np.empty((0, 4))
        return {k: vals[:, i] for i, k in enumerate(RANKING_METRICS)}

    def bootstrap(self, n_bootstrap: int, seed: int) -> dict[str, np.ndarray]:
        """Each metric on ``n_bootstrap`` Poisson-bootstrap resamples of the pairs (same seed, same resamples).

        Every pair is counted Poisson(1) times, independently; the counts are drawn inside the
        parallel kernel (one seed per resample; a pair's count depends on the seed and the
        pair's index only, :func:`scmf._kernels._ranking.bootstrap_counts` reproduces them), so
        no (B x pairs) weight matrix is made and every representation scored on the same
        pairs gets the same resamples.
        """
        from ..._kernels import bootstrap_ranking, bootstrap_seeds

        vals = bootstrap_ranking(self.y, self.last, self.order, bootstrap_seeds(n_bootstrap, seed))
        return {k: vals[:, i] for i, k in enumerate(RANKING_METRICS)}

    def curves(self) -> dict[str, dict[str, np.ndarray]]:
        """scikit-learn's ``roc_curve`` (intermediate collinear points dropped) and
        ``precision_recall_curve`` for unit weights."""
        tps = np.cumsum(self.y)[self.last_idx]
        fps = (self.last_idx + 1) - tps
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        rf, rt = np.r_[0.0, fps[keep]], np.r_[0.0, tps[keep]]
        roc = {"fpr": rf / fps[-1], "tpr": rt / tps[-1]}
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = np.where(tps + fps > 0, tps / (tps + fps), 0.0)
        pr = {"recall": np.r_[(tps / tps[-1])[::-1], 0.0], "precision": np.r_[precision[::-1], 1.0]}
        return {"roc": roc, "pr": pr}
