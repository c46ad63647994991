from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validate import drop_small_classes, get_labels
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark, check_splits
from ._metrics._classification import probe_splits
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

METRICS = (
    Metric("accuracy", "prediction", description="share of test cells whose type the probe predicts"),
    Metric(
        "balanced_accuracy",
        "prediction",
        description="accuracy averaged over classes (rare types weigh as much)",
    ),
    Metric("f1_macro", "prediction", description="F1 averaged over classes"),
    Metric("f1_weighted", "prediction", description="F1 averaged over classes, weighted by class size"),
)


@benchmark("linear_probe", METRICS, aliases={"label_key": "cell_type_key"}, dtype=None)
def linear_probe(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    test_size: float = 0.2,
    max_iter: int = 1000,
    seed: int = 42,
    standardize: bool = True,
    n_splits: int = 1,
    group_key: str | None = None,
    min_cells_per_class: int = 2,
    C: float = 1.0,
    n_jobs: int | None = None,
) -> Prepared:
    """Linear probe: how well a logistic regression predicts cell types from the embedding.

    Cells are split into train and test sets; a multinomial ``LogisticRegression`` is
    fitted on the training cells' embeddings and scored on the test cells. Several
    representations given in ``use_rep`` are scored on the *same* splits, so a model and its
    baselines are compared like for like.

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column with the labels (categorical, string, integer or object).
        Cells whose label is missing are left out (with a warning).
    test_size
        Fraction of cells (or of groups, with ``group_key``) held out for testing.
    max_iter
        Maximum iterations of the logistic regression solver (lbfgs).
    seed
        Seed of the splits (``random_state`` of scikit-learn's splitters).
    standardize
        Standardise each embedding dimension on the training cells before fitting
        (default). Without it, embeddings whose dimensions have tiny variance (e.g.
        0.01) make an unregularised-looking problem strongly regularised and score near
        chance; set ``False`` to reproduce the evaluation guide's plain probe.
    n_splits
        Number of random splits; metrics are the mean over splits and ``std`` their
        sample standard deviation (``ddof=1``; NaN for one split).
    group_key
        ``obs`` column (donor, batch, ...) whose groups are kept whole: test cells come from
        groups never seen in training, which measures generalisation to new contexts.
        Without it the split is stratified by cell type.
    min_cells_per_class
        Classes with fewer cells are dropped before splitting, with a warning naming them
        (a stratified split needs at least 2).
    C
        Inverse regularisation strength of the logistic regression.
    n_jobs
        Fits (splits) run at once in worker processes (``-1``: all cores). The results do
        not depend on it; it is not recorded.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table (see :func:`scmf.bm.results`). Stores per
    representation, under ``adata.uns["scmf_bench"]["linear_probe"][dataset_name][rep]``:

    ``metrics``
        ``accuracy``, ``balanced_accuracy``, ``f1_macro``, ``f1_weighted``.
    ``metrics_std``
        Their standard deviation over splits (when ``n_splits > 1``).
    ``metadata``
        ``n_cells``, ``n_classes``, ``test_size``, ``cell_type_key``, ``n_train``,
        ``n_test``, ``n_splits``, ``split`` (``"stratified"`` or ``"group"``),
        ``dropped_classes``, ``converged``.
    ``artifacts``
        ``classes``, ``confusion`` (test confusion matrix summed over splits, rows =
        true class), ``f1_per_class`` (mean over splits) and ``split_values``.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"])
    >>> res = scmf.bm.results(adata)
    >>> acc = res.query("metric == 'accuracy'").set_index("rep")["value"]
    >>> bool(acc["X_pca_baseline"] > acc["X_random_baseline"])
    True
    """
    if min_cells_per_class < 2:
        msg = f"min_cells_per_class must be at least 2 (one training and one test cell), got {min_cells_per_class}."
        raise ValueError(msg)
    check_splits(test_size, n_splits)
    if n_jobs is not None and (
        not isinstance(n_jobs, int | np.integer) or isinstance(n_jobs, bool) or n_jobs == 0
    ):
        msg = f"n_jobs must be a non-zero integer (-1: all cores) or None, got {n_jobs!r}."
        raise ValueError(msg)
    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="linear_probe")
    keep, small = drop_small_classes(labels, min_cells_per_class, "linear_probe")
    class_idx, y = np.unique(labels.codes[~small[labels.codes]], return_inverse=True)
    classes = labels.categories[class_idx]
    if classes.size < 2:
        msg = (
            f"linear_probe needs at least 2 classes in obs[{cell_type_key!r}] with >= {min_cells_per_class} cells; "
            f"found {classes.size} ({list(classes)})."
        )
        raise ValueError(msg)
    splits, split_kind, n_groups = _splits(
        adata,
        keep,
        y,
        test_size=test_size,
        n_splits=int(n_splits),
        seed=seed,
        group_key=group_key,
        n_classes=classes.size,
    )

    def score(X: np.ndarray) -> Score:
        res = probe_splits(
            X,
            y,
            splits,
            n_classes=classes.size,
            standardize=standardize,
            max_iter=max_iter,
            C=C,
            n_jobs=n_jobs,
        )
        if not res["converged"]:
            warn(
                f"linear_probe: a logistic regression did not converge in max_iter={max_iter} "
                "iterations; raise max_iter or keep standardize=True."
            )
        values = res["values"]
        return Score(
            metrics={m: float(v.mean()) for m, v in values.items()},
            replicates=values if n_splits > 1 else {},
            replicate_kind="splits",
            metadata={"converged": res["converged"]},
            artifacts={
                "classes": [str(c) for c in classes],
                "confusion": res["confusion"],
                "f1_per_class": res["f1_per_class"],
                "split_values": values,
                "n_test_per_split": np.array([len(te) for _, te in splits]),
            },
        )

    return Prepared(
        score,
        steps=len(splits),
        cells=keep,
        metadata={
            "n_cells": int(keep.sum()),
            "n_classes": int(classes.size),
            "test_size": float(test_size),
            "cell_type_key": cell_type_key,
            "n_train": round(np.mean([len(tr) for tr, _ in splits])),
            "n_test": round(np.mean([len(te) for _, te in splits])),
            "n_splits": int(n_splits),
            "split": split_kind,
            "n_groups": int(n_groups),
            "dropped_classes": [str(c) for c in labels.categories[small]],
        },
        params={"test_size": float(test_size), "C": float(C)},
    )


def _splits(adata, keep, y, *, test_size, n_splits, seed, group_key, n_classes):
    from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

    dummy = np.zeros((y.size, 1))
    if group_key is None:
        n_test = int(np.ceil(test_size * y.size))
        if n_test < n_classes or y.size - n_test < n_classes:
            msg = (
                f"test_size={test_size} gives {n_test} test and {y.size - n_test} training cells for "
                f"{n_classes} classes; a stratified split needs at least one cell per class on each side. "
                "Change test_size or drop rare classes (min_cells_per_class)."
            )
            raise ValueError(msg)
        splitter = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
        return list(splitter.split(dummy, y)), "stratified", 0
    groups_all = get_labels(adata, group_key, param="group_key", func="linear_probe")
    if not groups_all.mask[keep].all():
        msg = f"linear_probe: some labelled cells have no {group_key!r} value; fill or drop them first."
        raise ValueError(msg)
    group_codes = np.empty(adata.n_obs, dtype=np.int64)
    group_codes[groups_all.mask] = groups_all.codes
    groups = group_codes[keep]
    n_groups = np.unique(groups).size
    if n_groups < 2:
        msg = f"group_key={group_key!r} has only {n_groups} group among the cells; a group split needs at least 2."
        raise ValueError(msg)
    splitter = GroupShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
    splits = list(splitter.split(dummy, y, groups))
    unseen = sum(np.setdiff1d(y[te], y[tr]).size for tr, te in splits)
    if unseen:
        warn(
            f"linear_probe: with group_key={group_key!r}, {unseen} (class, split) pairs occur only in the test "
            "groups; the probe cannot predict them and they count as errors."
        )
    return splits, "group", n_groups
