"""The CZI-standard tasks, delegated to the real ``cz-benchmarks`` package (extra ``scmf[cz]``).

scmf only prepares inputs the way cz-benchmarks accepts them and stores what it returns:
labels go in as plain string arrays (cz's pydantic inputs reject ``pd.Categorical``, which is
what ``read_h5ad`` gives), unused categories and cells without a label are dropped (warned),
clustering gets the ``obs`` table it requires, sparse embeddings are made dense. Metric values
are cz-benchmarks' own, under the names documented per function.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._expression import get_expression
from .._validate import get_labels, name_list
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

INSTALL = 'pip install "scmf[cz]"'
MIN_VERSION = (0, 15)  # the release all eight tasks are tested against
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

#: every cz-benchmarks task scmf runs: benchmark -> (cz's task class, what it reads, its baseline)
CZ_TASKS = {
    "cz_clustering": ("ClusteringTask", "embedding, cell_type_key", "cz_pca_baseline (baseline=True)"),
    "cz_embedding": ("EmbeddingTask", "embedding, cell_type_key", "cz_pca_baseline (baseline=True)"),
    "cz_label_prediction": (
        "MetadataLabelPredictionTask",
        "embedding, cell_type_key",
        "cz_expression_baseline (baseline=True)",
    ),
    "cz_batch_integration": (
        "BatchIntegrationTask",
        "embedding, cell_type_key, batch_key",
        "cz_pca_baseline (baseline=True)",
    ),
    "cz_cross_species_integration": (
        "CrossSpeciesIntegrationTask",
        "embedding of every organism's cells, cell_type_key, organism_key",
        "none (cz defines none)",
    ),
    "cz_cross_species_label_prediction": (
        "CrossSpeciesLabelPredictionTask",
        "embedding of every organism's cells, cell_type_key, organism_key, sample_key (optional)",
        "none (cz defines none)",
    ),
    "cz_sequential_organization": (
        "SequentialOrganizationTask",
        "embedding, time_key (numbers or ordered categories)",
        "cz_pca_baseline (baseline=True)",
    ),
    "cz_perturbation_expression_prediction": (
        "PerturbationExpressionPredictionTask",
        "expression, perturbation_key, control_label, context_key; embedding (ridge) or predicted_layer",
        "none (cz defines none); the measured expression as predicted_layer is the ceiling",
    ),
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
        msg = f"cz-benchmarks {v} is too old (scmf needs >= 0.15): {INSTALL}"
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


@contextlib.contextmanager
def global_seed(seed: int):
    """NumPy's global random state seeded with ``seed`` for the block, the caller's state restored after.

    Some cz-benchmarks metrics draw from the global state without a seed (the random-neighbour
    expectation of ``sequential_alignment``); seeding it makes scmf's stored value
    reproducible, and equal to cz's after ``np.random.seed(seed)``.
    """
    state = np.random.get_state()  # noqa: NPY002 (cz reads the global state)
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def cz_log_as_warning(func: str, run):
    """``run()``, with what cz-benchmarks logs at WARNING meanwhile turned into one scmf warning.

    cz logs a line per condition or fold (and Python prints them to stderr when the user
    has no logging set up); one warning that counts them says the same once.
    """
    import logging

    said: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record):
            said.append(record.getMessage())

    log = logging.getLogger("czbenchmarks")
    handler, propagate = _Collect(level=logging.WARNING), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        out = run()
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
    if said:
        more = f" (and {len(said) - 1} more like it)" if len(said) > 1 else ""
        warn(f"{func}: cz-benchmarks says: {said[0]}{more}")
    return out


def _labels(adata, key: str, func: str):
    lab = get_labels(adata, key, param="cell_type_key", func=func)
    if lab.categories.size < 2:
        msg = (
            f"{func} needs at least 2 classes in obs[{key!r}]; found {lab.categories.size} "
            f"({name_list(lab.categories)})."
        )
        raise ValueError(msg)
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


def _prepared(
    adata,
    keep,
    *,
    task: str,
    seed: int,
    inputs,
    metadata,
    baseline: bool,
    baseline_rep: str,
    baseline_input,
    layer,
) -> Prepared:
    """The one path every cz task takes: cz's task run on each embedding (and on cz's own baseline)."""
    version = _cz_version()
    import czbenchmarks.tasks as tasks

    def score(X: np.ndarray) -> Score:
        with global_seed(seed):
            results = getattr(tasks, task)(random_seed=seed).run(np.ascontiguousarray(X), inputs)
        return Score(_metric_names(results))

    extra = {}
    if baseline:

        def baseline_score() -> Score:
            from scipy import sparse

            expr = get_expression(adata, layer)
            expr = sparse.csr_matrix(expr) if sparse.issparse(expr) else np.asarray(expr)
            expr = expr.copy() if keep.all() else expr[keep]  # a copy: cz preprocesses what it is given
            with global_seed(seed):
                emb = getattr(tasks, task)(random_seed=seed).compute_baseline(expr, baseline_input())
            return score(emb)

        extra[baseline_rep] = baseline_score
    return Prepared(
        score,
        cells=keep,
        metadata={"n_cells": int(keep.sum()), **metadata, "cz_benchmarks_version": version},
        extra=extra,
    )


def _pca_input():
    from czbenchmarks.tasks.task import PCABaselineInput

    return PCABaselineInput()


_COMMON_DOC = """
    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column with the cell labels (categorical, string, integer or object); configs
        also accept cz's name ``label_key``.
    seed
        ``random_seed`` of the cz-benchmarks task.
    baseline
        Also run the task on cz-benchmarks' own baseline computed from the expression
        (``layer``), stored as its own representation ({baseline_rep}).
    layer
        Expression layer for the baseline (``None``: ``X``).
    batch_key, n_iterations, flavor, n_folds, min_class_size
        Where the function has them: the ``obs`` column of batches (batch integration), and
        the cz task's own settings under cz-benchmarks' names (Leiden iterations and flavour
        for clustering; folds and the smallest class kept for label prediction).
"""
_ALIAS = {"label_key": "cell_type_key"}


def _common_doc(baseline_rep: str):
    """Insert the parameters the four cz tasks share before a task's Examples."""

    def deco(f):
        head, sep, examples = (f.__doc__ or "").partition("\n    Examples\n")
        doc = _COMMON_DOC.replace("{baseline_rep}", baseline_rep)
        f.__doc__ = head.rstrip() + "\n" + doc + ("\n    Examples\n" + examples if sep else "")
        return f

    return deco


_ARI = Metric("ari", "bio", True, (-0.5, 1.0), "adjusted Rand index of cz's Leiden clusters and the labels")
_NMI = Metric(
    "nmi", "bio", description="normalised mutual information of cz's Leiden clusters and the labels"
)


@benchmark("cz_clustering", [_ARI, _NMI], aliases=_ALIAS, dtype=None)
@_common_doc("'cz_pca_baseline'")
def cz_clustering(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    seed: int = 42,
    n_iterations: int = 2,
    flavor: str = "igraph",
    baseline: bool = False,
    layer: str | None = None,
) -> Prepared:
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
    _cz_version()
    from czbenchmarks.tasks import ClusteringTaskInput

    keep, labels = _labels(adata, cell_type_key, "cz_clustering")
    obs = pd.DataFrame({cell_type_key: labels}, index=np.asarray(adata.obs_names[keep], dtype=str))
    inputs = ClusteringTaskInput(obs=obs, input_labels=labels, n_iterations=n_iterations, flavor=flavor)
    return _prepared(
        adata,
        keep,
        task="ClusteringTask",
        seed=seed,
        inputs=inputs,
        metadata={"cell_type_key": cell_type_key, "n_classes": int(np.unique(labels).size)},
        baseline=baseline,
        baseline_rep="cz_pca_baseline",
        baseline_input=_pca_input,
        layer=layer,
    )


@benchmark(
    "cz_embedding",
    [Metric("silhouette_score", "bio", description="(silhouette of the labels + 1) / 2, as cz computes it")],
    aliases=_ALIAS,
    dtype=None,
)
@_common_doc("'cz_pca_baseline'")
def cz_embedding(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    seed: int = 42,
    baseline: bool = False,
    layer: str | None = None,
) -> Prepared:
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
    _cz_version()
    from czbenchmarks.tasks import EmbeddingTaskInput

    keep, labels = _labels(adata, cell_type_key, "cz_embedding")
    return _prepared(
        adata,
        keep,
        task="EmbeddingTask",
        seed=seed,
        inputs=EmbeddingTaskInput(input_labels=labels),
        metadata={"cell_type_key": cell_type_key, "n_classes": int(np.unique(labels).size)},
        baseline=baseline,
        baseline_rep="cz_pca_baseline",
        baseline_input=_pca_input,
        layer=layer,
    )


_PREDICTION = [
    Metric(
        m, "prediction", description=f"cross-validated {m}, mean over cz's classifiers (and per classifier)"
    )
    for m in ("accuracy", "f1", "precision", "recall", "auroc")
]


@benchmark("cz_label_prediction", _PREDICTION, aliases=_ALIAS, dtype=None)
@_common_doc("'cz_expression_baseline'")
def cz_label_prediction(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    seed: int = 42,
    n_folds: int = 5,
    min_class_size: int = 10,
    baseline: bool = False,
    layer: str | None = None,
) -> Prepared:
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
    >>> scmf.bm.cz_label_prediction(adata, "bulk_labels", use_rep="X_pca", min_class_size=5)
    >>> "accuracy_rf" in set(scmf.bm.results(adata)["metric"])
    True
    """
    _cz_version()
    from czbenchmarks.tasks import MetadataLabelPredictionTaskInput

    keep, labels = _labels(adata, cell_type_key, "cz_label_prediction")

    def baseline_input():
        from czbenchmarks.tasks.label_prediction import LabelPredictionBaselineInput

        return LabelPredictionBaselineInput()

    # cz drops classes under min_class_size itself, silently: say so, and record what is scored
    names, counts = np.unique(labels, return_counts=True)
    small = counts < int(min_class_size)
    if (~small).sum() < 2:
        msg = (
            f"cz_label_prediction needs at least 2 classes with >= min_class_size={min_class_size} cells in "
            f"obs[{cell_type_key!r}]; found {(~small).sum()}. Lower min_class_size or choose another column."
        )
        raise ValueError(msg)
    if int(counts[~small].min()) < int(n_folds):
        msg = f"n_folds={n_folds} is more than the cells of the smallest class kept ({counts[~small].min()})."
        raise ValueError(msg)
    if small.any():
        warn(
            f"cz_label_prediction: cz-benchmarks leaves out {small.sum()} classes with fewer than "
            f"min_class_size={min_class_size} cells: {name_list(f'{n} ({c})' for n, c in zip(names[small], counts[small], strict=True))}. "
            f"Scored: {int(counts[~small].sum())} cells of {(~small).sum()} classes."
        )
    inputs = MetadataLabelPredictionTaskInput(labels=labels, n_folds=n_folds, min_class_size=min_class_size)
    return _prepared(
        adata,
        keep,
        task="MetadataLabelPredictionTask",
        seed=seed,
        inputs=inputs,
        metadata={
            "cell_type_key": cell_type_key,
            "n_classes": int((~small).sum()),
            "n_cells": int(counts[~small].sum()),
            "n_classes_input": int(names.size),
            "n_cells_input": int(labels.size),
            "dropped_classes": [str(n) for n in names[small]],
        },
        baseline=baseline,
        baseline_rep="cz_expression_baseline",
        baseline_input=baseline_input,
        layer=layer,
    )


_BATCH = [
    Metric(
        "entropy_per_cell", "batch", description="entropy of batches among each cell's neighbours (1 = mixed)"
    ),
    Metric(
        "batch_silhouette",
        "batch",
        description="1 - |silhouette of the batches| within labels, as cz computes it",
    ),
]


@benchmark("cz_batch_integration", _BATCH, aliases=_ALIAS, dtype=None)
@_common_doc("'cz_pca_baseline'")
def cz_batch_integration(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    batch_key: str = "batch",
    seed: int = 42,
    baseline: bool = False,
    layer: str | None = None,
) -> Prepared:
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
    _cz_version()
    from czbenchmarks.tasks import BatchIntegrationTaskInput

    lab = get_labels(adata, cell_type_key, param="cell_type_key", func="cz_batch_integration")
    bat = get_labels(adata, batch_key, param="batch_key", func="cz_batch_integration")
    keep = lab.mask & bat.mask
    labels, batches = (np.asarray(_full(adata.n_obs, x)[keep], dtype=str) for x in (lab, bat))
    if np.unique(batches).size < 2:
        msg = f"cz_batch_integration needs at least 2 batches in obs[{batch_key!r}]; found {np.unique(batches).size}."
        raise ValueError(msg)
    return _prepared(
        adata,
        keep,
        task="BatchIntegrationTask",
        seed=seed,
        inputs=BatchIntegrationTaskInput(batch_labels=batches, labels=labels),
        metadata={
            "cell_type_key": cell_type_key,
            "batch_key": batch_key,
            "n_classes": int(np.unique(labels).size),
            "n_batches": int(np.unique(batches).size),
        },
        baseline=baseline,
        baseline_rep="cz_pca_baseline",
        baseline_input=_pca_input,
        layer=layer,
    )


def _full(n: int, lab) -> np.ndarray:
    out = np.full(n, "", dtype=object)
    out[lab.mask] = lab.categories[lab.codes]
    return out
