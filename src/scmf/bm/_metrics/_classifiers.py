"""The classifiers label benchmarks fit on embeddings, and their scores, as scikit-learn computes them."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

CLASSIFIERS = ("logistic", "logistic_l1", "knn", "random_forest")
"""``logistic``: L2 multinomial logistic regression (lbfgs); ``logistic_l1``: L1 (saga, stopping
at tolerance ``L1_TOL``), the few-shot reference of Boiarsky et al. 2023; ``knn``: k nearest
neighbours (Euclidean, majority vote); ``random_forest``: scikit-learn's default forest."""

L1_TOL = 1e-2
"""saga's stopping tolerance for the L1 regression. scikit-learn's default (1e-4) took 123 s on
80,000 cells x 128 dims (10 types) against 7.5 s here, for test accuracies of 0.9932 and
0.9929: the predictions do not need the coefficients to four decimals."""


def check_classifiers(classifiers) -> list[str]:
    names = [classifiers] if isinstance(classifiers, str) else list(classifiers)
    bad = [c for c in names if c not in CLASSIFIERS]
    if bad or not names:
        msg = f"classifiers must be among {list(CLASSIFIERS)}, got {names}."
        raise ValueError(msg)
    return list(dict.fromkeys(names))


def _logistic(l1: bool, C: float, max_iter: int, seed: int):
    import sklearn
    from sklearn.linear_model import LogisticRegression

    if not l1:
        return LogisticRegression(C=C, max_iter=max_iter)
    major, minor = (int(x) for x in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        return LogisticRegression(
            C=C, l1_ratio=1.0, solver="saga", max_iter=max_iter, tol=L1_TOL, random_state=seed
        )
    return LogisticRegression(
        C=C, penalty="l1", solver="saga", max_iter=max_iter, tol=L1_TOL, random_state=seed
    )


def fit_predict(
    name: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    *,
    standardize: bool = True,
    C: float = 1.0,
    max_iter: int = 1000,
    n_neighbors: int = 5,
    seed: int = 0,
    approximate: bool = False,
) -> tuple[np.ndarray, bool]:
    """Fit classifier ``name`` on the training cells and predict the test cells: ``(pred, converged)``.

    Embedding dimensions are standardised on the training cells (``standardize``) for the
    logistic regressions and kNN; the forest reads them as they are. ``approximate`` kNN
    searches a pynndescent index of the training cells (for references of millions of cells);
    ties of the vote go to the smallest label, as scikit-learn's.
    """
    from sklearn.preprocessing import StandardScaler

    if standardize and name != "random_forest":
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    converged = True
    if name == "knn":
        k = min(int(n_neighbors), X_train.shape[0])
        if approximate:
            return _knn_approximate(X_train, y_train, X_test, k, seed), True
        from sklearn.neighbors import KNeighborsClassifier

        clf: Any = KNeighborsClassifier(n_neighbors=k)
    elif name == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        clf = RandomForestClassifier(random_state=seed)
    else:
        clf = _logistic(name == "logistic_l1", C, max_iter, seed)
    if (
        np.unique(y_train).size < 2
    ):  # one class in the training cells (a budget of one type): it is the answer
        return np.full(X_test.shape[0], y_train[0]), True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X_train, y_train)
    converged = not any("converge" in str(w.message).lower() for w in caught)
    return clf.predict(X_test), converged


def _knn_approximate(X_train, y_train, X_test, k: int, seed: int) -> np.ndarray:
    from pynndescent import NNDescent

    index = NNDescent(
        np.ascontiguousarray(X_train, dtype=np.float32), n_neighbors=max(2 * k, 30), random_state=seed
    )
    idx, _ = index.query(np.ascontiguousarray(X_test, dtype=np.float32), k=k)
    votes = y_train[idx]
    n_classes = int(y_train.max()) + 1
    counts = np.zeros((votes.shape[0], n_classes), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(votes.shape[0]), k), votes.ravel()), 1)
    return counts.argmax(axis=1)


def scores(y_true: np.ndarray, pred: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """accuracy, balanced accuracy, macro/weighted F1 (scikit-learn's, over the classes that occur in
    ``y_true`` or ``pred``, as ``linear_probe``), per-class F1 over ``labels`` and the confusion."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # classes absent from the test cells
        bal = balanced_accuracy_score(y_true, pred)
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "balanced_accuracy": float(bal),
        "f1_macro": float(f1_score(y_true, pred, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(y_true, pred, average="weighted", zero_division=0)),
        "f1_per_class": f1_score(y_true, pred, labels=labels, average=None, zero_division=0),
        "confusion": confusion_matrix(y_true, pred, labels=labels),
    }


def confusion_scores(C: np.ndarray) -> dict[str, float]:
    """The four probe metrics from a confusion matrix (rows = true class), as scikit-learn defines them.

    Macro and weighted F1 run over the classes that occur as truth or prediction (scikit-learn's
    default); balanced accuracy over the classes that occur as truth. Lets a bootstrap over
    cells rescore from resampled counts without refitting anything.
    """
    C = np.asarray(C, dtype=np.float64)
    total = C.sum()
    tp = np.diag(C)
    support, predicted = C.sum(axis=1), C.sum(axis=0)
    seen = support > 0
    present = seen | (predicted > 0)
    denom = support + predicted
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=seen)
    return {
        "accuracy": float(tp.sum() / total) if total else float("nan"),
        "balanced_accuracy": float(recall[seen].mean()) if seen.any() else float("nan"),
        "f1_macro": float(f1[present].mean()) if present.any() else float("nan"),
        "f1_weighted": float((f1 * support).sum() / support.sum()) if support.sum() else float("nan"),
    }


def bootstrap_confusion_scores(
    y_true: np.ndarray, pred: np.ndarray, n_classes: int, n_bootstrap: int, seed: int
) -> dict[str, np.ndarray]:
    """:func:`confusion_scores` on ``n_bootstrap`` resamples (with replacement) of the cells.

    Resample ``i`` draws from ``numpy.random.default_rng([seed, i])``, so representations scored
    on the same cells get the same resamples (a paired bootstrap).
    """
    cell_pair = y_true.astype(np.int64) * n_classes + pred.astype(np.int64)
    out: dict[str, list[float]] = {
        m: [] for m in ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted")
    }
    n = y_true.size
    for i in range(int(n_bootstrap)):
        draw = np.random.default_rng([seed, i]).integers(0, n, n)
        C = np.bincount(cell_pair[draw], minlength=n_classes * n_classes).reshape(n_classes, n_classes)
        for m, v in confusion_scores(C).items():
            out[m].append(v)
    return {m: np.asarray(v) for m, v in out.items()}
