"""Linear-probe scores: a logistic regression per split, scored as scikit-learn scores it."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

PROBE_METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted")


def probe_splits(
    X: np.ndarray,
    y: np.ndarray,
    splits: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    n_classes: int,
    standardize: bool = True,
    max_iter: int = 1000,
    C: float = 1.0,
    n_jobs: int | None = None,
) -> dict:
    """Fit and score one multinomial ``LogisticRegression`` per (train, test) split.

    ``n_jobs`` fits run at once in worker processes (joblib; the embedding is memory-mapped
    to them, not copied; ``None``/1: one at a time, ``-1``: all cores). Results do not
    depend on it. Each finished fit advances the open progress bar.

    Returns ``values`` (metric -> one value per split), ``confusion`` (summed over splits,
    rows = true class), ``f1_per_class`` (mean over splits) and ``converged`` (all fits).
    """
    from ..._progress import advance

    labels = np.arange(n_classes)

    def one(split):
        return _fit_score(X, y, split, labels, standardize=standardize, max_iter=max_iter, C=C)

    jobs = 1 if n_jobs is None else int(n_jobs)
    if jobs == 1 or len(splits) == 1:
        fits = []
        for split in splits:
            fits.append(one(split))
            advance()
    else:
        from joblib import Parallel, delayed

        fits = []
        for f in Parallel(n_jobs=jobs, return_as="generator")(delayed(one)(sp) for sp in splits):
            fits.append(f)
            advance()
    return {
        "values": {m: np.asarray([f["values"][m] for f in fits], dtype=float) for m in PROBE_METRICS},
        "confusion": np.sum([f["confusion"] for f in fits], axis=0),
        "f1_per_class": np.mean([f["f1_per_class"] for f in fits], axis=0),
        "converged": all(f["converged"] for f in fits),
    }


def _fit_score(X, y, split, labels, *, standardize: bool, max_iter: int, C: float) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
    from sklearn.preprocessing import StandardScaler

    train, test = split
    X_train, X_test = X[train], X[test]
    if standardize:  # X[train] / X[test] are fresh copies: scale them in place
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train, copy=False), scaler.transform(X_test, copy=False)
    clf = LogisticRegression(max_iter=max_iter, C=C)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X_train, y[train])
    pred = clf.predict(X_test)
    yt = y[test]
    with warnings.catch_warnings():  # classes absent from a group split's test set
        warnings.simplefilter("ignore", UserWarning)
        bal = balanced_accuracy_score(yt, pred)
    return {
        "values": {
            "accuracy": accuracy_score(yt, pred),
            "balanced_accuracy": bal,
            "f1_macro": f1_score(yt, pred, average="macro", zero_division=0),
            "f1_weighted": f1_score(yt, pred, average="weighted", zero_division=0),
        },
        "confusion": confusion_matrix(yt, pred, labels=labels),
        "f1_per_class": f1_score(yt, pred, labels=labels, average=None, zero_division=0),
        "converged": not any("converge" in str(w.message).lower() for w in caught),
    }
