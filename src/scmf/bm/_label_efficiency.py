"""``scmf.bm.label_efficiency``: how prediction grows with the labelled cells per type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._validate import drop_small_classes, get_labels
from ._benchmark import MAX_SPLITS, Prepared, Score, benchmark
from ._metrics._classifiers import check_classifiers, confusion_scores, fit_predict
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

METRICS = (
    Metric("accuracy", "label efficiency", description="test accuracy with <budget> labelled cells per type",
           aggregated=False),
    Metric("f1_macro", "label efficiency", description="test macro F1 with <budget> labelled cells per type",
           aggregated=False),
)  # fmt: skip
BUDGETS = (1, 5, 10, 25, 50, 100, "all")


def metric_name(metric: str, classifier: str, budget) -> str:
    """``"accuracy_logistic_5"``: the stored name of a metric at one budget."""
    return f"{metric}_{classifier}_{budget}"


@benchmark("label_efficiency", METRICS, aliases={"label_key": "cell_type_key"}, dtype=None)
def label_efficiency(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    budgets: Sequence[int | str] = BUDGETS,
    n_draws: int = 10,
    classifiers: Sequence[str] = ("logistic", "logistic_l1", "knn"),
    test_size: float = 0.2,
    max_test_cells: int = 10_000,
    n_neighbors: int = 5,
    standardize: bool = True,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> Prepared:
    """Label efficiency: accuracy and macro F1 as a function of the labelled cells per cell type.

    Few-shot annotation is where a pretrained embedding should help most, and where Boiarsky
    et al. (2023) found an L1 logistic regression on expression as good as fine-tuned
    foundation models. One stratified split sets a test set aside (at most ``max_test_cells``,
    stratified); for each budget ``b`` (cells per type; ``"all"``: the whole training pool), ``n_draws``
    times, ``b`` cells of each type are drawn from the training pool (all of a type's cells
    where it has fewer), each classifier is fitted on them and scored on the same test set.
    Every representation sees the same draws, so :func:`scmf.bm.compare` pairs them.

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column of the cell types (types with fewer than 2 cells are left out, with a warning).
    budgets
        Labelled cells per type (positive integers, and/or ``"all"``).
    n_draws
        Draws per budget (``"all"`` is drawn once).
    classifiers
        Any of ``"logistic"`` (L2), ``"logistic_l1"`` (L1, saga), ``"knn"``.
    test_size
        Fraction of the cells held out for testing.
    max_test_cells
        Cap on the test cells (a stratified subsample of the held-out cells).
    n_neighbors
        Neighbours of ``"knn"`` (capped by the training cells of a draw).
    standardize
        Standardise each dimension on a draw's training cells first.
    C, max_iter
        Logistic regression settings.
    seed
        Seed of the split and the draws.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Metrics ``accuracy_<classifier>_<budget>``
    and ``f1_macro_<classifier>_<budget>`` (mean over draws; each draw a replicate), e.g.
    ``accuracy_logistic_5``. :func:`scmf.pl.label_efficiency` draws the curves.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.label_efficiency(adata, "bulk_labels", use_rep="X_pca_baseline", budgets=[1, 10, "all"],
    ...                          n_draws=3, classifiers=["logistic"])
    >>> acc = scmf.bm.results(adata).set_index("metric")["value"]
    >>> bool(acc["accuracy_logistic_1"] < acc["accuracy_logistic_all"])
    True
    """
    from sklearn.model_selection import train_test_split

    names = check_classifiers(classifiers)
    if "random_forest" in names:
        msg = "label_efficiency fits 'logistic', 'logistic_l1' and 'knn'; for the forest use cz_label_prediction."
        raise ValueError(msg)
    plan = _budgets(budgets)
    if (
        isinstance(n_draws, bool)
        or not isinstance(n_draws, int | np.integer)
        or not 1 <= n_draws <= MAX_SPLITS
    ):
        msg = f"n_draws must be an integer from 1 to {MAX_SPLITS}, got {n_draws!r}."
        raise ValueError(msg)
    if not 0.0 < float(test_size) < 1.0:
        msg = f"test_size must be a fraction in (0, 1), got {test_size!r}."
        raise ValueError(msg)
    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="label_efficiency")
    keep, small = drop_small_classes(labels, 2, "label_efficiency")
    _, y = np.unique(labels.codes[~small[labels.codes]], return_inverse=True)
    k = int(y.max()) + 1 if y.size else 0
    if k < 2:
        msg = f"label_efficiency needs at least 2 cell types with >= 2 cells in obs[{cell_type_key!r}]."
        raise ValueError(msg)
    idx = np.arange(y.size)
    pool, test = train_test_split(idx, test_size=float(test_size), stratify=y, random_state=seed)
    if test.size > int(max_test_cells):
        test, _ = train_test_split(test, train_size=int(max_test_cells), stratify=y[test], random_state=seed)
    by_class = [pool[y[pool] == c] for c in range(k)]
    draws = {b: _draws(by_class, b, 1 if b == "all" else int(n_draws), seed, i) for i, b in enumerate(plan)}
    y_test = y[test]

    def score(X: np.ndarray) -> Score:
        metrics, replicates, converged = {}, {}, True
        X_test = X[test]
        for b, sets in draws.items():
            for name in names:
                acc, f1 = [], []
                for train in sets:
                    pred, ok = fit_predict(
                        name, X[train], y[train], X_test, standardize=standardize, C=C, max_iter=max_iter,
                        n_neighbors=n_neighbors, seed=seed,
                    )  # fmt: skip
                    converged &= ok
                    s = confusion_scores(np.bincount(y_test * k + pred, minlength=k * k).reshape(k, k))
                    acc.append(s["accuracy"])
                    f1.append(s["f1_macro"])
                for m, v in (("accuracy", acc), ("f1_macro", f1)):
                    key = metric_name(m, name, b)
                    metrics[key] = float(np.mean(v))
                    if len(v) > 1:
                        replicates[key] = np.asarray(v)
        return Score(metrics, replicates, "splits", metadata={"converged": bool(converged)})

    return Prepared(
        score,
        cells=keep,
        steps=1,
        metadata={
            "n_cells": int(keep.sum()),
            "n_classes": k,
            "n_pool": int(pool.size),
            "n_test": int(test.size),
            "cell_type_key": cell_type_key,
            "cells_per_budget": {str(b): int(np.mean([len(t) for t in sets])) for b, sets in draws.items()},
        },
        params={"budgets": [str(b) for b in plan], "classifiers": names},  # text: h5ad lists hold one type
    )


def _budgets(budgets) -> list:
    if isinstance(budgets, Mapping) or isinstance(budgets, float):
        msg = f"budgets must be a list of positive integers (cells per type) or 'all', got {budgets!r}."
        raise ValueError(msg)
    out = []
    for b in [budgets] if isinstance(budgets, int | str) else list(budgets):
        if b == "all" or (isinstance(b, int | np.integer) and not isinstance(b, bool) and b >= 1):
            out.append("all" if b == "all" else int(b))
        else:
            msg = f"budgets must be positive integers (cells per type) or 'all', got {b!r}."
            raise ValueError(msg)
    if not out:
        msg = "budgets is empty."
        raise ValueError(msg)
    return list(dict.fromkeys(out))


def _draws(by_class: list[np.ndarray], budget, n: int, seed: int, which: int) -> list[np.ndarray]:
    """``n`` training sets of ``budget`` cells per class (fewer where a class has fewer)."""
    if budget == "all":
        return [np.sort(np.concatenate(by_class))]
    out = []
    for d in range(n):
        rng = np.random.default_rng([seed, which, d])
        parts = [rng.choice(c, size=min(int(budget), c.size), replace=False) for c in by_class]
        out.append(np.sort(np.concatenate(parts)))
    return out
