from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._keys import BENCH_KEY, EMBED_KEY
from .._store import Result
from .._validate import as_rep_list, check_anndata, get_labels, get_rep
from .._warnings import ScmfWarning
from ._common import check_splits, dataset_name_or_default, finish

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData

METRICS = ("accuracy", "balanced_accuracy", "f1_macro", "f1_weighted")


def linear_probe(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    use_rep: str | Sequence[str] = EMBED_KEY,
    test_size: float = 0.2,
    max_iter: int = 1000,
    seed: int = 42,
    standardize: bool = True,
    n_splits: int = 1,
    group_key: str | None = None,
    min_cells_per_class: int = 2,
    C: float = 1.0,
    dataset_name: str | None = None,
    inplace: bool = True,
    key_added: str = BENCH_KEY,
) -> pd.DataFrame | None:
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
    use_rep
        ``obsm`` key, or a list of keys, to evaluate. A float32 or float64 embedding is
        used in its own dtype (as scikit-learn would receive it); other types become float64.
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
    dataset_name
        Name under which the results are stored (default ``"dataset"``).
    inplace
        Store results in ``adata.uns[key_added]`` and return ``None``; otherwise return
        the results table and leave ``adata`` untouched.
    key_added
        ``uns`` key of the results store.

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
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score
    from sklearn.preprocessing import StandardScaler

    check_anndata(adata, "scmf.bm.linear_probe")
    reps = as_rep_list(use_rep)
    dataset = dataset_name_or_default(dataset_name)
    check_splits(test_size, n_splits)
    if min_cells_per_class < 2:
        msg = f"min_cells_per_class must be at least 2 (one training and one test cell), got {min_cells_per_class}."
        raise ValueError(msg)
    # the user's float dtype is kept: the probe is scikit-learn on the same array, no upcast copy
    embeddings = {rep: get_rep(adata, rep, dtype=None) for rep in reps}

    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="linear_probe")
    keep = labels.mask.copy()
    counts = np.bincount(labels.codes, minlength=labels.n_classes)
    small = counts < min_cells_per_class
    if small.any():
        dropped = [f"{c} ({n})" for c, n in zip(labels.categories[small], counts[small], strict=True)]
        warnings.warn(
            f"linear_probe: dropping {small.sum()} classes with fewer than {min_cells_per_class} cells: "
            f"{', '.join(dropped)}.",
            ScmfWarning,
            stacklevel=2,
        )
        keep[np.flatnonzero(keep)[small[labels.codes]]] = False
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

    results = []
    for rep, X_all in embeddings.items():
        X = X_all if keep.all() else X_all[keep]
        values = {m: [] for m in METRICS}
        confusion = np.zeros((classes.size, classes.size), dtype=np.int64)
        f1_per_class = np.zeros(classes.size)
        converged = True
        for train, test in splits:
            X_train, X_test = X[train], X[test]
            if standardize:
                # X[train] / X[test] are fresh copies: scale them in place
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
            values["balanced_accuracy"].append(_balanced_accuracy(yt, pred, balanced_accuracy_score))
            values["f1_macro"].append(f1_score(yt, pred, average="macro", zero_division=0))
            values["f1_weighted"].append(f1_score(yt, pred, average="weighted", zero_division=0))
            confusion += confusion_matrix(yt, pred, labels=np.arange(classes.size))
            f1_per_class += f1_score(yt, pred, labels=np.arange(classes.size), average=None, zero_division=0)
        if not converged:
            warnings.warn(
                f"linear_probe: logistic regression on {rep!r} did not converge in max_iter={max_iter} "
                "iterations; raise max_iter or keep standardize=True.",
                ScmfWarning,
                stacklevel=2,
            )
        arr = {m: np.asarray(v, dtype=float) for m, v in values.items()}
        results.append(
            Result(
                benchmark="linear_probe",
                dataset=dataset,
                rep=rep,
                metrics={m: float(a.mean()) for m, a in arr.items()},
                metrics_std={m: float(a.std(ddof=1)) for m, a in arr.items()} if n_splits > 1 else {},
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
                    "converged": bool(converged),
                },
                params={
                    "cell_type_key": cell_type_key,
                    "use_rep": rep,
                    "test_size": float(test_size),
                    "max_iter": int(max_iter),
                    "seed": int(seed),
                    "standardize": bool(standardize),
                    "n_splits": int(n_splits),
                    "group_key": group_key,
                    "min_cells_per_class": int(min_cells_per_class),
                    "C": float(C),
                },
                artifacts={
                    "classes": [str(c) for c in classes],
                    "confusion": confusion,
                    "f1_per_class": f1_per_class / len(splits),
                    "split_values": arr,
                },
            )
        )
    return finish(adata, results, inplace=inplace, key_added=key_added)


def _balanced_accuracy(yt, pred, fn):
    with warnings.catch_warnings():  # classes absent from a group-split's test set
        warnings.simplefilter("ignore", UserWarning)
        return fn(yt, pred)


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
        warnings.warn(
            f"linear_probe: with group_key={group_key!r}, {unseen} (class, split) pairs occur only in the test "
            "groups; the probe cannot predict them and they count as errors.",
            ScmfWarning,
            stacklevel=3,
        )
    return splits, "group", n_groups
