"""``scmf.bm.label_prediction``: the CELLxGENE / cz-benchmarks probe protocol, natively."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from .._validate import drop_small_classes, get_labels
from ._benchmark import Prepared, Score, benchmark
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

SCORES = ("accuracy", "f1", "precision", "recall", "auroc")
CLASSIFIERS = ("lr", "knn", "rf")
METRICS = tuple(
    Metric(
        m,
        "prediction",
        description=f"{m} under stratified cross-validation, mean over lr, knn, rf (and each)",
    )
    for m in SCORES
)


@benchmark("label_prediction", METRICS, aliases={"label_key": "cell_type_key"}, dtype=None)
def label_prediction(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    n_folds: int = 5,
    min_class_size: int = 10,
    seed: int = 42,
) -> Prepared:
    """The probe protocol of the CELLxGENE Census and cz-benchmarks, without cz-benchmarks installed.

    Three classifiers under ``n_folds``-fold stratified cross-validation (shuffled, ``seed``):
    logistic regression and kNN (5 neighbours) after scaling each dimension to unit variance
    (``StandardScaler(with_mean=False)``), and a random forest (scikit-learn's defaults,
    ``random_state=seed``). Per classifier and fold: accuracy, F1, precision and recall
    (macro-averaged; binary for two classes) and the macro one-vs-rest AUROC of the predicted
    probabilities. Classes with fewer than ``min_class_size`` cells are left out first. The
    same protocol, cells and folds as cz-benchmarks' ``MetadataLabelPredictionTask``
    (:func:`scmf.bm.cz_label_prediction` runs that task itself; the two agree, tested), with
    each fold kept as a replicate so :func:`scmf.bm.compare` pairs representations fold by fold.

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column of the labels.
    n_folds
        Cross-validation folds.
    min_class_size
        Classes with fewer cells are left out (with a warning), as cz-benchmarks does.
    seed
        Seed of the folds and the forest.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Metrics ``accuracy``, ``f1``,
    ``precision``, ``recall``, ``auroc`` (means over folds and the three classifiers) and
    the same per classifier: ``accuracy_lr``, ``accuracy_knn``, ``accuracy_rf``, ...

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.label_prediction(adata, "bulk_labels", use_rep="X_pca", min_class_size=5)
    >>> r = scmf.bm.results(adata).set_index("metric")["value"]
    >>> bool(0.5 < r["accuracy"] <= 1), "auroc_rf" in r
    (True, True)
    """
    from sklearn.model_selection import StratifiedKFold

    if int(n_folds) < 2:
        msg = f"n_folds must be at least 2, got {n_folds!r}."
        raise ValueError(msg)
    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="label_prediction")
    keep, small = drop_small_classes(labels, min_class_size, "label_prediction")
    names = np.asarray(labels.categories[labels.codes[~small[labels.codes]]]).astype(str)
    classes, y = np.unique(names, return_inverse=True)  # the codes of a categorical of the label text
    if classes.size < 2:
        msg = f"label_prediction needs at least 2 classes with >= min_class_size={min_class_size} cells; found {classes.size}."
        raise ValueError(msg)
    if np.bincount(y).min() < int(n_folds):
        msg = f"n_folds={n_folds} is more than the cells of the smallest class kept ({np.bincount(y).min()})."
        raise ValueError(msg)
    folds = list(
        StratifiedKFold(n_splits=int(n_folds), shuffle=True, random_state=seed).split(np.zeros(y.size), y)
    )
    average = "binary" if classes.size == 2 else "macro"

    def score(X: np.ndarray) -> Score:
        per = {f"{m}_{c}": [] for c in CLASSIFIERS for m in SCORES}
        for train, test in folds:
            for c in CLASSIFIERS:
                for m, v in _fold(c, X[train], y[train], X[test], y[test], average, seed).items():
                    per[f"{m}_{c}"].append(v)
        reps = {k: np.asarray(v) for k, v in per.items()}
        for m in SCORES:
            reps[m] = np.mean([reps[f"{m}_{c}"] for c in CLASSIFIERS], axis=0)
        return Score({k: float(v.mean()) for k, v in reps.items()}, reps, "splits")

    n_test = int(np.mean([len(te) for _, te in folds]))
    return Prepared(
        score,
        cells=keep,
        steps=1,
        metadata={
            "n_cells": int(keep.sum()),
            "n_classes": int(classes.size),
            "n_train": int(y.size - n_test),
            "n_test": n_test,
            "cell_type_key": cell_type_key,
            "dropped_classes": [str(c) for c in labels.categories[small]],
        },
    )


def _fold(name, X_train, y_train, X_test, y_test, average, seed) -> dict[str, float]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "rf":
        clf = RandomForestClassifier(random_state=seed)
    else:
        last = LogisticRegression() if name == "lr" else KNeighborsClassifier()
        clf = Pipeline([("scaler", StandardScaler(with_mean=False)), (name, last)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the protocol's defaults (lbfgs, 100 iterations) warn on some data
        clf.fit(X_train, y_train)
        pred = clf.predict(X_test)
        proba = clf.predict_proba(X_test)
        auroc = roc_auc_score(
            y_test, proba[:, 1] if proba.shape[1] == 2 else proba, average="macro", multi_class="ovr"
        )
        return {
            "accuracy": float(accuracy_score(y_test, pred)),
            "f1": float(f1_score(y_test, pred, average=average)),
            "precision": float(precision_score(y_test, pred, average=average)),
            "recall": float(recall_score(y_test, pred, average=average)),
            "auroc": float(auroc),
        }
