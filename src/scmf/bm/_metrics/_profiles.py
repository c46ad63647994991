"""Perturbation profiles scored as the Virtual Cell Challenge scores them (cell-eval's definitions), vectorised.

Every function takes a block of perturbations at once: ``true`` and ``pred`` are
(perturbations x genes) deltas from the control mean (log-normalised expression), and the
differential expression of the measured cells (``fdr``, ``lfc``: log2 fold changes of the
pseudobulk means, as ``pdex`` computes them). A prediction here is a profile, not cells, so
its DE calls come from :func:`predicted_fdr`: the predicted change against the gene's
spread over the cells known before the prediction (controls and training perturbations) at
the perturbation's cell count (a z-test, Benjamini-Hochberg). The DE
metrics are then cell-eval's on those two DE tables. Like cell-eval, DE tables are read as
float32 (its polars cast) before thresholding and ranking, ties ranked in gene order.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-9
"""pdex's pseudocount on the count-space means of a log2 fold change."""
OVERLAP_K = (50, 100, 200)
PROFILE_METRICS = (
    "pearson_delta",
    "pearson_delta_de",
    "mae",
    "mse",
    "discrimination_score",
    *(f"overlap_at_{k}" for k in OVERLAP_K),
    "overlap_at_N",
    *(f"precision_at_{k}" for k in OVERLAP_K),
    "direction_match",
    "de_recall",
    "de_precision",
)


def log2_fold_change(mean_log: np.ndarray, control_log: np.ndarray) -> np.ndarray:
    """pdex's log2 fold change from means of log1p values: log2((expm1(m) + eps) / (expm1(c) + eps))."""
    m = np.expm1(np.maximum(mean_log, 0.0))  # a predicted mean below 0 is no expression
    c = np.expm1(np.maximum(control_log, 0.0))
    return np.log2((m + EPSILON) / (c + EPSILON))


def predicted_fdr(pred: np.ndarray, spread: np.ndarray, n_control, n_cells: np.ndarray) -> np.ndarray:
    """FDR of each predicted change: z = delta / sqrt(spread (1/n_control + 1/n_cells)), two-sided, BH per row.

    ``spread`` is each gene's variance over the cells known before the prediction (the
    controls and the training perturbations' cells: a prediction has no cells of its own, and
    the controls alone are too sparse to say, many genes are 0 in all of them); one vector,
    or one row per prediction. The cell count is the perturbation's: a predicted change is
    called at about the power the measured test had. A gene without any spread is called
    when its change is not 0.
    """
    from scipy.special import erfc

    from ..._kernels import benjamini_hochberg

    n_control = np.broadcast_to(np.asarray(n_control, dtype=float), (pred.shape[0],))
    se = np.sqrt(
        np.atleast_2d(spread) * (1.0 / n_control[:, None] + 1.0 / np.asarray(n_cells, dtype=float)[:, None])
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(se > 0, np.abs(pred) / np.where(se > 0, se, 1.0), np.where(pred != 0, np.inf, 0.0))
    return benjamini_hochberg(erfc(z / np.sqrt(2.0)))


def rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ac = a - a.mean(axis=1, keepdims=True)
    bc = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((ac**2).sum(axis=1) * (bc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ac * bc).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)


def _ranks_desc(values: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Per row, each gene's 0-based position by descending value (ties: gene order); ``keep`` False -> n."""
    n = values.shape[1]
    order = np.argsort(-values, axis=1, kind="stable")
    if keep is not None:  # filtered genes go last, keeping the order of the rest
        order = np.take_along_axis(
            order, np.argsort(~np.take_along_axis(keep, order, 1), 1, kind="stable"), 1
        )
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(n)[None, :].repeat(values.shape[0], 0), axis=1)
    if keep is not None:
        ranks = np.where(keep, ranks, n)
    return ranks


def discrimination(pred: np.ndarray, true: np.ndarray, target_cols: np.ndarray) -> np.ndarray:
    """cell-eval's L1 discrimination score: 1 - (rank of the right perturbation among all) / n.

    Distances are from each predicted delta to every measured delta, leaving out the
    perturbation's own target gene (``target_cols[i]``: its column, ``-1`` when its name is
    not a gene).
    """
    n = pred.shape[0]
    if n * n * pred.shape[1] <= 5e7:
        dist = np.abs(pred[:, None, :] - true[None, :, :]).sum(axis=2)
    else:  # large blocks: one perturbation at a time (bounded memory)
        dist = np.stack([np.abs(true - pred[i]).sum(axis=1) for i in range(n)])
    rows = np.flatnonzero(target_cols >= 0)
    cols = target_cols[rows]
    dist[rows] -= np.abs(pred[rows, cols][:, None] - true[:, cols].T)
    order = np.argsort(dist, axis=1)  # cell-eval's np.argsort (its tie order)
    rank = np.argmax(order == np.arange(n)[:, None], axis=1)
    return 1.0 - rank / n


def profile_scores(
    pred: np.ndarray,
    true: np.ndarray,
    control: np.ndarray,
    fdr: np.ndarray,
    lfc: np.ndarray,
    target_cols: np.ndarray,
    pred_fdr: np.ndarray,
    *,
    n_top_genes: int = 50,
    fdr_threshold: float = 0.05,
) -> dict[str, np.ndarray]:
    """Every metric of ``PROFILE_METRICS`` per perturbation (row).

    ``control`` is the control mean (log1p scale) the deltas are taken from (one vector, or
    one per row when contexts have their own controls); ``fdr`` and
    ``lfc`` the measured DE of each perturbation, ``pred_fdr`` the prediction's
    (:func:`predicted_fdr`). ``pearson_delta_de`` is the Pearson on the
    ``n_top_genes`` significant genes of largest ``|lfc|`` (NaN with fewer than 3);
    ``direction_match`` is NaN for a perturbation without significant genes (cell-eval
    leaves it out).
    """
    n, g = true.shape
    out: dict[str, np.ndarray] = {}
    out["pearson_delta"] = rowwise_pearson(pred, true)
    err = pred - true
    out["mae"] = np.abs(err).mean(axis=1)
    out["mse"] = (err**2).mean(axis=1)
    out["discrimination_score"] = discrimination(pred, true, target_cols)

    lfc32 = lfc.astype(np.float32)
    sig = fdr.astype(np.float32) < np.float32(fdr_threshold)
    n_sig = sig.sum(axis=1)
    real_rank = _ranks_desc(np.abs(lfc32), sig)  # significant genes by |lfc|; others at n
    control = np.broadcast_to(control, pred.shape)  # one control mean, or each row's own
    pred_lfc = log2_fold_change(control + pred, control).astype(np.float32)
    pred_sig = pred_fdr.astype(np.float32) < np.float32(fdr_threshold)
    n_pred = pred_sig.sum(axis=1)
    pred_rank = _ranks_desc(np.abs(pred_lfc), pred_sig)

    top = real_rank < min(int(n_top_genes), g)
    enough = top.sum(axis=1) >= 3
    r = np.full(n, np.nan)
    if enough.any():
        idx = np.flatnonzero(enough)
        for i in idx:  # rows differ in how many genes they keep
            r[i] = rowwise_pearson(pred[i, top[i]][None], true[i, top[i]][None])[0]
    out["pearson_delta_de"] = r

    for k in (*OVERLAP_K, None):  # cell-eval's compute_overlap, "overlap" then "precision"
        for kind, size in (("overlap", n_sig), ("precision", n_pred)):
            if kind == "precision" and k is None:
                continue
            k_eff = size if k is None else np.minimum(k, size)
            hit = ((real_rank < k_eff[:, None]) & (pred_rank < k_eff[:, None])).sum(axis=1)
            out[f"{kind}_at_{'N' if k is None else k}"] = np.where(k_eff > 0, hit / np.maximum(k_eff, 1), 0.0)
    both = (sig & pred_sig).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["de_recall"] = np.where(n_sig > 0, both / np.maximum(n_sig, 1), np.nan)
        out["de_precision"] = np.where(n_pred > 0, both / np.maximum(n_pred, 1), np.nan)
    same = (np.sign(lfc32) == np.sign(pred_lfc)) & sig
    with np.errstate(invalid="ignore", divide="ignore"):
        out["direction_match"] = np.where(n_sig > 0, same.sum(axis=1) / np.maximum(n_sig, 1), np.nan)
    return {m: out[m] for m in PROFILE_METRICS}
