"""The CZI-standard tasks, delegated to the real ``cz-benchmarks`` package (extra ``scmf[cz]``).

scmf only prepares inputs the way cz-benchmarks accepts them and stores what it returns:
labels go in as plain string arrays (cz's pydantic inputs reject ``pd.Categorical``, which is
what ``read_h5ad`` gives), unused categories and cells without a label are dropped (warned),
clustering gets the ``obs`` table it requires, sparse embeddings are made dense. Metric values
are cz-benchmarks' own, under the names documented per function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._keys import BENCH_KEY, EMBED_KEY
from .._store import Result
from .._validate import as_rep_list, check_anndata, get_labels, get_rep
from ._common import dataset_name_or_default, finish

if TYPE_CHECKING:
    from anndata import AnnData

INSTALL = 'pip install "scmf[cz]"'
MIN_VERSION = (0, 11)
_NAMES = {
    "adjusted_rand_index": "ari",
    "normalized_mutual_info": "nmi",
    "silhouette_score": "silhouette_score",
    "entropy_per_cell": "entropy_per_cell",
    "batch_silhouette": "batch_silhouette",
    "mean_fold_accuracy": "accuracy",
    "mean_fold_f1": "f1",
    "mean_fold_precision": "precision",
    "mean_fold_recall": "recall",
    "mean_fold_auroc": "auroc",
}


def _cz_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("cz-benchmarks")
    except PackageNotFoundError:
        msg = f"the cz_* benchmarks delegate to cz-benchmarks, which is not installed: {INSTALL}"
        raise ImportError(msg) from None
    parts = tuple(int(p) for p in v.split(".")[:2] if p.isdigit())
    if parts < MIN_VERSION:
        msg = f"cz-benchmarks {v} is too old (scmf needs >= 0.11): {INSTALL}"
        raise ImportError(msg)
    _import_keeping_logging("czbenchmarks.tasks")
    return v


def _import_keeping_logging(module: str) -> None:
    """Import ``module`` but undo a ``logging.basicConfig`` it runs on import.

    cz-benchmarks configures the root logger at INFO when imported, which would flood the
    user's session with its messages; the user's own logging setup is kept instead.
    """
    import importlib
    import logging
    import sys

    if module in sys.modules:
        return
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        importlib.import_module(module)
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        root.setLevel(level)


def _labels(adata, key: str, param: str, func: str):
    lab = get_labels(adata, key, param=param, func=func, stacklevel=4)
    return lab.mask, np.asarray(lab.categories[lab.codes], dtype=str)


def _metric_names(results) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in results:
        base = _NAMES.get(r.metric_type.value, r.metric_type.value)
        clf = (r.params or {}).get("classifier")
        name = base if clf is None or str(clf).startswith("MEAN(") else f"{base}_{clf}"
        if name in out:
            msg = f"cz-benchmarks returned {name!r} twice; scmf refuses to keep only one of them."
            raise RuntimeError(msg)
        out[name] = float(r.value)
    return out


def _expression(adata, layer):
    from scipy import sparse

    from ..tl._expression import get_expression

    X = get_expression(adata, layer)
    return sparse.csr_matrix(X) if sparse.issparse(X) else np.asarray(X)


def _run(
    benchmark: str,
    adata: AnnData,
    *,
    use_rep,
    seed: int,
    make_task,
    make_input,
    keep: np.ndarray,
    params: dict[str, Any],
    metadata: dict[str, Any],
    baseline: bool,
    baseline_rep: str,
    baseline_input,
    layer,
    dataset_name,
    inplace: bool,
    key_added: str,
):
    version = _cz_version()
    dataset = dataset_name_or_default(dataset_name)
    reps = as_rep_list(use_rep)
    embeddings = {rep: get_rep(adata, rep, dtype=None) for rep in reps}
    inputs = make_input()
    runs = [(rep, E if keep.all() else E[keep]) for rep, E in embeddings.items()]
    if baseline:
        expr = _expression(adata, layer)
        expr = expr.copy() if keep.all() else expr[keep]  # a copy: cz preprocesses what it is given
        runs.append((baseline_rep, make_task().compute_baseline(expr, baseline_input())))
    results = []
    for rep, X in runs:
        metrics = _metric_names(make_task().run(np.ascontiguousarray(X), inputs))
        results.append(
            Result(
                benchmark=benchmark,
                dataset=dataset,
                rep=rep,
                metrics=metrics,
                metadata={**metadata, "n_cells": int(keep.sum()), "cz_benchmarks_version": version},
                params={**params, "use_rep": rep, "seed": int(seed)},
            )
        )
    return finish(adata, results, inplace=inplace, key_added=key_added)


_COMMON_DOC = """
    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    label_key
        ``obs`` column with the cell labels (categorical, string, integer or object).
    use_rep
        ``obsm`` key or list of keys (dense or sparse, float32 or float64).
    seed
        ``random_seed`` of the cz-benchmarks task.
    baseline
        Also run the task on cz-benchmarks' own baseline computed from the expression
        (``layer``), stored as its own representation ``{baseline_rep!r}``.
    layer
        Expression layer for the baseline (``None``: ``X``).
    batch_key, n_iterations, flavor, n_folds, min_class_size
        Where the function has them: the ``obs`` column of batches (batch integration), and
        the cz task's own settings under cz-benchmarks' names (Leiden iterations and flavour
        for clustering; folds and the smallest class kept for label prediction).
    dataset_name, inplace, key_added
        As for every benchmark.
"""


def cz_clustering(
    adata: AnnData,
    label_key: str = "cell_type",
    *,
    use_rep: str | Sequence[str] = EMBED_KEY,
    seed: int = 42,
    n_iterations: int = 2,
    flavor: str = "igraph",
    baseline: bool = False,
    layer: str | None = None,
    dataset_name: str | None = None,
    inplace: bool = True,
    key_added: str = BENCH_KEY,
) -> pd.DataFrame | None:
    """cz-benchmarks' ``ClusteringTask``: Leiden clusters of the embedding vs the labels.

    Metrics: ``ari`` and ``nmi`` (cz's ``adjusted_rand_index``, ``normalized_mutual_info``).
    ``n_iterations`` and ``flavor`` are the task's Leiden settings.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.cz_clustering(adata, "bulk_labels", use_rep="X_pca")
    >>> sorted(scmf.bm.results(adata)["metric"])
    ['ari', 'nmi']
    """
    check_anndata(adata, "scmf.bm.cz_clustering")
    keep, labels = _labels(adata, label_key, "label_key", "cz_clustering")

    def make_input():
        from czbenchmarks.tasks import ClusteringTaskInput

        obs = pd.DataFrame({label_key: labels}, index=np.asarray(adata.obs_names[keep], dtype=str))
        return ClusteringTaskInput(obs=obs, input_labels=labels, n_iterations=n_iterations, flavor=flavor)

    return _run(
        "cz_clustering",
        adata,
        use_rep=use_rep,
        seed=seed,
        make_task=lambda: _task("ClusteringTask", seed),
        make_input=make_input,
        keep=keep,
        params={
            "label_key": label_key,
            "n_iterations": int(n_iterations),
            "flavor": flavor,
            "baseline": baseline,
        },
        metadata={"label_key": label_key, "n_classes": int(np.unique(labels).size)},
        baseline=baseline,
        baseline_rep="cz_pca_baseline",
        baseline_input=_pca_input,
        layer=layer,
        dataset_name=dataset_name,
        inplace=inplace,
        key_added=key_added,
    )


def cz_embedding(
    adata: AnnData,
    label_key: str = "cell_type",
    *,
    use_rep: str | Sequence[str] = EMBED_KEY,
    seed: int = 42,
    baseline: bool = False,
    layer: str | None = None,
    dataset_name: str | None = None,
    inplace: bool = True,
    key_added: str = BENCH_KEY,
) -> pd.DataFrame | None:
    """cz-benchmarks' ``EmbeddingTask``: ``silhouette_score`` of the labels in the embedding.

    (scib-metrics' ``silhouette_label``, (s + 1) / 2, euclidean, as cz computes it.)

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.cz_embedding(adata, "bulk_labels", use_rep="X_pca")
    >>> scmf.bm.results(adata)["metric"].tolist()
    ['silhouette_score']
    """
    check_anndata(adata, "scmf.bm.cz_embedding")
    keep, labels = _labels(adata, label_key, "label_key", "cz_embedding")

    def make_input():
        from czbenchmarks.tasks import EmbeddingTaskInput

        return EmbeddingTaskInput(input_labels=labels)

    return _run(
        "cz_embedding",
        adata,
        use_rep=use_rep,
        seed=seed,
        make_task=lambda: _task("EmbeddingTask", seed),
        make_input=make_input,
        keep=keep,
        params={"label_key": label_key, "baseline": baseline},
        metadata={"label_key": label_key, "n_classes": int(np.unique(labels).size)},
        baseline=baseline,
        baseline_rep="cz_pca_baseline",
        baseline_input=_pca_input,
        layer=layer,
        dataset_name=dataset_name,
        inplace=inplace,
        key_added=key_added,
    )


def cz_label_prediction(
    adata: AnnData,
    label_key: str = "cell_type",
    *,
    use_rep: str | Sequence[str] = EMBED_KEY,
    seed: int = 42,
    n_folds: int = 5,
    min_class_size: int = 10,
    baseline: bool = False,
    layer: str | None = None,
    dataset_name: str | None = None,
    inplace: bool = True,
    key_added: str = BENCH_KEY,
) -> pd.DataFrame | None:
    """cz-benchmarks' ``MetadataLabelPredictionTask``: cross-validated classifiers on the embedding.

    Metrics, all as cz-benchmarks returns them (means over its ``n_folds`` folds):
    ``accuracy``, ``f1``, ``precision``, ``recall``, ``auroc`` = the mean over its classifiers
    (logistic regression, kNN, random forest), and the same per classifier as
    ``accuracy_lr``, ``accuracy_knn``, ``accuracy_rf``, ``f1_lr``, ... (every row kept; none
    overwrites another). The baseline is cz's: the raw expression matrix as features, stored
    as ``cz_expression_baseline``.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.cz_label_prediction(adata, "bulk_labels", use_rep="X_pca")
    >>> "accuracy_rf" in set(scmf.bm.results(adata)["metric"])
    True
    """
    check_anndata(adata, "scmf.bm.cz_label_prediction")
    keep, labels = _labels(adata, label_key, "label_key", "cz_label_prediction")

    def make_input():
        from czbenchmarks.tasks import MetadataLabelPredictionTaskInput

        return MetadataLabelPredictionTaskInput(labels=labels, n_folds=n_folds, min_class_size=min_class_size)

    def baseline_input():
        from czbenchmarks.tasks.label_prediction import LabelPredictionBaselineInput

        return LabelPredictionBaselineInput()

    return _run(
        "cz_label_prediction",
        adata,
        use_rep=use_rep,
        seed=seed,
        make_task=lambda: _task("MetadataLabelPredictionTask", seed),
        make_input=make_input,
        keep=keep,
        params={
            "label_key": label_key,
            "n_folds": int(n_folds),
            "min_class_size": int(min_class_size),
            "baseline": baseline,
        },
        metadata={"label_key": label_key, "n_classes": int(np.unique(labels).size)},
        baseline=baseline,
        baseline_rep="cz_expression_baseline",
        baseline_input=baseline_input,
        layer=layer,
        dataset_name=dataset_name,
        inplace=inplace,
        key_added=key_added,
    )


def cz_batch_integration(
    adata: AnnData,
    label_key: str = "cell_type",
    *,
    batch_key: str = "batch",
    use_rep: str | Sequence[str] = EMBED_KEY,
    seed: int = 42,
    baseline: bool = False,
    layer: str | None = None,
    dataset_name: str | None = None,
    inplace: bool = True,
    key_added: str = BENCH_KEY,
) -> pd.DataFrame | None:
    """cz-benchmarks' ``BatchIntegrationTask``: ``entropy_per_cell`` and ``batch_silhouette``.

    Cells without a label or a batch are left out (warned).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.cz_batch_integration(adata, "bulk_labels", batch_key="phase", use_rep="X_pca")
    >>> sorted(scmf.bm.results(adata)["metric"])
    ['batch_silhouette', 'entropy_per_cell']
    """
    check_anndata(adata, "scmf.bm.cz_batch_integration")
    lab = get_labels(adata, label_key, param="label_key", func="cz_batch_integration")
    bat = get_labels(adata, batch_key, param="batch_key", func="cz_batch_integration")
    keep = lab.mask & bat.mask
    full_lab = np.full(adata.n_obs, "", dtype=object)
    full_lab[lab.mask] = lab.categories[lab.codes]
    full_bat = np.full(adata.n_obs, "", dtype=object)
    full_bat[bat.mask] = bat.categories[bat.codes]
    labels, batches = np.asarray(full_lab[keep], dtype=str), np.asarray(full_bat[keep], dtype=str)
    if np.unique(batches).size < 2:
        msg = f"cz_batch_integration needs at least 2 batches in obs[{batch_key!r}]; found {np.unique(batches).size}."
        raise ValueError(msg)

    def make_input():
        from czbenchmarks.tasks import BatchIntegrationTaskInput

        return BatchIntegrationTaskInput(batch_labels=batches, labels=labels)

    return _run(
        "cz_batch_integration",
        adata,
        use_rep=use_rep,
        seed=seed,
        make_task=lambda: _task("BatchIntegrationTask", seed),
        make_input=make_input,
        keep=keep,
        params={"label_key": label_key, "batch_key": batch_key, "baseline": baseline},
        metadata={
            "label_key": label_key,
            "batch_key": batch_key,
            "n_classes": int(np.unique(labels).size),
            "n_batches": int(np.unique(batches).size),
        },
        baseline=baseline,
        baseline_rep="cz_pca_baseline",
        baseline_input=_pca_input,
        layer=layer,
        dataset_name=dataset_name,
        inplace=inplace,
        key_added=key_added,
    )


def _task(name: str, seed: int):
    import czbenchmarks.tasks as tasks

    return getattr(tasks, name)(random_seed=seed)


def _pca_input():
    from czbenchmarks.tasks.task import PCABaselineInput

    return PCABaselineInput()


for _f in (cz_clustering, cz_embedding, cz_label_prediction, cz_batch_integration):
    _head, _sep, _examples = (_f.__doc__ or "").partition("\n    Examples\n")
    _f.__doc__ = (
        _head.rstrip()
        + "\n"
        + _COMMON_DOC.replace("{baseline_rep!r}", "'cz_pca_baseline'")
        + ("\n    Examples\n" + _examples if _sep else "")
    )
