"""Row-wise agreement of predicted and true profiles (perturbation responses)."""

from __future__ import annotations

import numpy as np

RESPONSE_METRICS = ("pearson", "mse", "direction_accuracy")


def response_scores(true: np.ndarray, pred: np.ndarray, prefix: str = "") -> dict[str, np.ndarray]:
    """Per row: Pearson correlation (NaN where a row is constant), MSE and sign agreement."""
    tc = true - true.mean(axis=1, keepdims=True)
    pc = pred - pred.mean(axis=1, keepdims=True)
    den = np.sqrt((tc**2).sum(axis=1) * (pc**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, (tc * pc).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
    return {
        f"{prefix}pearson": r,
        f"{prefix}mse": ((pred - true) ** 2).mean(axis=1),
        f"{prefix}direction_accuracy": (np.sign(pred) == np.sign(true)).mean(axis=1),
    }
