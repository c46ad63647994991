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
) -> dict:
    """Fit and score one multinomial ``LogisticRegression`` per (train, test) split.

    Returns ``values`` (metric -> one value per split), ``confusion`` (summed over splits,
    rows = true class), ``f1_per_class`` (mean over splits) and ``converged`` (all fits).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
    from sklearn.preprocessing import StandardScaler

    values: dict[str, list[float]] = {m: [] for m in PROBE_METRICS}
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    f1_per_class = np.zeros(n_classes)
    converged = True
    labels = np.arange(n_classes)
    for train, test in splits:
        X_train, X_test = X[train], X[test]
        if standardize:  # X[train] / X[test] are fresh copies: scale them in place
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train, copy=False), scaler.transform(X_test, copy=False)
        clf = LogisticRegression(max_iter=max_iter, C=C)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf.fit(X_train, y[train])
        converged &= not any("converge" in str(w.message).lower() for w in caught)
        pred = clf.predict(X_test)
        yt = y[test]
        values["accuracy"].append(accuracy_score(yt, pred))
        with warnings.catch_warnings():  # classes absent from a group split's test set
            warnings.simplefilter("ignore", UserWarning)
            values["balanced_accuracy"].append(balanced_accuracy_score(yt, pred))
        values["f1_macro"].append(f1_score(yt, pred, average="macro", zero_division=0))
        values["f1_weighted"].append(f1_score(yt, pred, average="weighted", zero_division=0))
        confusion += confusion_matrix(yt, pred, labels=labels)
        f1_per_class += f1_score(yt, pred, labels=labels, average=None, zero_division=0)
    return {
        "values": {m: np.asarray(v, dtype=float) for m, v in values.items()},
        "confusion": confusion,
        "f1_per_class": f1_per_class / len(splits),
        "converged": bool(converged),
    }
