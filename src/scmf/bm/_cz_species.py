"""cz-benchmarks' cross-species and time-course tasks, delegated to the real package (``scmf[cz]``).

The same contract as the other ``cz_*`` benchmarks (``_cz.py``): scmf prepares the inputs the
way cz-benchmarks takes them (per-organism lists of embeddings and labels, numeric time
labels) and stores exactly what the task returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._validate import get_labels, name_list
from ._benchmark import Prepared, Score, benchmark
from ._cz import _ALIAS, _cz_version, _full, _metric_names, _pca_input, _prepared, global_seed
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

_COMMON_NAMES = {
    "human": "HUMAN",
    "mouse": "MOUSE",
    "rat": "RAT",
    "zebrafish": "ZEBRAFISH",
    "macaque": "RHESUS_MACAQUE",
}


def organism(value) -> object:
    """cz-benchmarks' ``Organism`` for a user's spelling: ``"human"``, ``"Homo sapiens"``, ``"homo_sapiens"``, ``"HUMAN"``."""
    from czbenchmarks.datasets.types import Organism

    if isinstance(value, Organism):
        return value
    key = str(value).strip().lower().replace(" ", "_").replace("-", "_")
    members = Organism.__members__
    if key.upper() in members:
        return members[key.upper()]
    if key in _COMMON_NAMES:
        return members[_COMMON_NAMES[key]]
    for m in members.values():
        if m.value[0] == key:
            return m
    known = sorted({*_COMMON_NAMES, *(m.value[0] for m in members.values())})
    msg = f"{value!r} is not an organism cz-benchmarks knows; use one of {name_list(known)}."
    raise ValueError(msg)


def _organisms(adata, organism_key: str, keep: np.ndarray, func: str):
    """(cz Organism per group, group code per kept cell); at least two organisms."""
    org = get_labels(adata, organism_key, param="organism_key", func=func)
    keep &= org.mask
    codes = org.full_codes()[keep]
    present = np.unique(codes)
    if present.size < 2:
        names = list(org.categories[present])
        msg = (
            f"{func} needs cells of at least 2 organisms in obs[{organism_key!r}]; found {names}. "
            "Concatenate the datasets of two species (anndata.concat(..., label=organism_key)) first."
        )
        raise ValueError(msg)
    organisms = [organism(org.categories[c]) for c in present]
    if len({str(o) for o in organisms}) < present.size:
        msg = f"obs[{organism_key!r}] names one organism twice under different spellings: {list(org.categories[present])}."
        raise ValueError(msg)
    return organisms, np.searchsorted(present, codes), keep


def _species_metadata(keep, cell_type_key, organism_key, organisms, parts, labels) -> dict:
    """What both cross-species tasks record: the cells and labels of each organism."""
    return {
        "n_cells": int(keep.sum()),
        "cell_type_key": cell_type_key,
        "organism_key": organism_key,
        "organisms": [str(o) for o in organisms],
        "n_cells_per_organism": [int(p.size) for p in parts],
        "n_classes": int(np.unique(labels).size),
        "cz_benchmarks_version": _cz_version(),
    }


def _by_organism(group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """Cell positions of each organism, in the cells' own order."""
    return [np.flatnonzero(group == g) for g in range(n_groups)]


_SPECIES_INTEGRATION = [
    Metric(
        "entropy_per_cell",
        "batch",
        description="entropy of organisms among each cell's neighbours (1 = the species are mixed)",
    ),
    Metric(
        "batch_silhouette",
        "batch",
        description="1 - |silhouette of the organisms| within cell types, as cz computes it",
    ),
]


@benchmark("cz_cross_species_integration", _SPECIES_INTEGRATION, aliases=_ALIAS, dtype=None)
def cz_cross_species_integration(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    organism_key: str = "organism",
    seed: int = 42,
) -> Prepared:
    """cz-benchmarks' ``CrossSpeciesIntegrationTask``: are the species mixed, cell type by cell type?

    One AnnData holds the cells of every organism (``anndata.concat`` of the per-species
    objects, each embedded by the same model), ``obs[organism_key]`` says which organism
    each cell is from (``"human"``, ``"mouse"``, ``"homo_sapiens"``, ... any spelling of a
    cz-benchmarks ``Organism``) and ``obs[cell_type_key]`` holds labels shared across them.
    scmf hands cz one embedding and one label list per organism (organisms in sorted order,
    cells in their own order) and stores its metrics: ``entropy_per_cell`` (cz's neighbour
    entropy of the organism labels) and ``batch_silhouette`` (organisms as batches, cell
    types as labels). cz-benchmarks defines no baseline for this task (an expression
    baseline has no common gene space across species), so none is stored.

    Parameters
    ----------
    adata
        Cells of two or more organisms with their embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column of the cell types shared across organisms (also ``label_key``).
    organism_key
        ``obs`` column naming each cell's organism.
    seed
        ``random_seed`` of the cz-benchmarks task.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> adata.obs["organism"] = ["human" if i % 2 else "mouse" for i in range(adata.n_obs)]
    >>> scmf.bm.cz_cross_species_integration(adata, "bulk_labels", use_rep="X_pca")
    >>> sorted(scmf.bm.results(adata)["metric"])
    ['batch_silhouette', 'entropy_per_cell']
    """
    _cz_version()
    from czbenchmarks.tasks.single_cell import CrossSpeciesIntegrationTaskInput

    lab = get_labels(adata, cell_type_key, param="cell_type_key", func="cz_cross_species_integration")
    keep = lab.mask.copy()
    organisms, group, keep = _organisms(adata, organism_key, keep, "cz_cross_species_integration")
    labels = np.asarray(_full(adata.n_obs, lab)[keep], dtype=str)
    parts = _by_organism(group, len(organisms))
    inputs = CrossSpeciesIntegrationTaskInput(labels=[labels[p] for p in parts], organism_list=organisms)

    def score(X: np.ndarray) -> Score:
        import czbenchmarks.tasks.single_cell as sc_tasks

        embs = [np.ascontiguousarray(X[p]) for p in parts]
        with global_seed(seed):
            results = sc_tasks.CrossSpeciesIntegrationTask(random_seed=seed).run(embs, inputs)
        return Score(_metric_names(results))

    return Prepared(
        score,
        cells=keep,
        metadata=_species_metadata(keep, cell_type_key, organism_key, organisms, parts, labels),
    )


_SPECIES_PREDICTION = [
    Metric(m, "prediction", description=f"{m} of classifiers trained on one organism, tested on another")
    for m in ("accuracy", "f1", "precision", "recall", "auroc")
]
_PRED_NAMES = {
    "mean_fold_accuracy": "accuracy",
    "mean_fold_f1": "f1",
    "mean_fold_precision": "precision",
    "mean_fold_recall": "recall",
    "mean_fold_auroc": "auroc",
    "accuracy_calculation": "accuracy",
    "f1_calculation": "f1",
    "precision_calculation": "precision",
    "recall_calculation": "recall",
    "auroc": "auroc",
}


def _species_prediction_names(results) -> dict[str, float]:
    """cz's rows, one name each: ``{metric}[_{classifier}]_{train}_to_{test}`` and the cross-species means."""
    out: dict[str, float] = {}
    cross: dict[str, list[float]] = {}
    for r in results:
        p = r.params or {}
        base = _PRED_NAMES.get(r.metric_type.value, r.metric_type.value)
        clf = str(p.get("classifier", ""))
        pair = f"{p['train_species']}_to_{p['test_species']}"
        name = f"{base}_{pair}" if clf.startswith("MEAN(") else f"{base}_{clf}_{pair}"
        if name in out:
            msg = f"cz-benchmarks returned {name!r} twice; scmf refuses to keep only one of them."
            raise RuntimeError(msg)
        out[name] = float(r.value)
        if clf.startswith("MEAN(") and p["train_species"] != p["test_species"]:
            cross.setdefault(base, []).append(float(r.value))
    return {**{m: float(np.mean(v)) for m, v in cross.items()}, **out}


@benchmark("cz_cross_species_label_prediction", _SPECIES_PREDICTION, aliases=_ALIAS, dtype=None)
def cz_cross_species_label_prediction(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    organism_key: str = "organism",
    sample_key: str | None = None,
    aggregation: str | None = None,
    n_folds: int = 5,
    seed: int = 42,
) -> Prepared:
    """cz-benchmarks' ``CrossSpeciesLabelPredictionTask``: labels learned on one organism, predicted on another.

    For every ordered pair of organisms cz trains logistic regression, kNN and a random
    forest on one and tests on the other; within one organism it cross-validates
    (``n_folds``). Stored, as cz returns them: ``{metric}_{train}_to_{test}`` (mean over the
    three classifiers) and ``{metric}_{classifier}_{train}_to_{test}`` for ``accuracy``,
    ``f1``, ``precision``, ``recall``, ``auroc`` (organism names as cz writes them,
    ``homo_sapiens``; a same-organism pair is cz's cross-validated mean over folds). The
    headline ``accuracy``, ``f1``, ... are scmf's summary: the mean over the cross-species
    pairs of the three-classifier mean. No baseline: cz-benchmarks defines none for this
    task.

    Parameters
    ----------
    adata
        Cells of two or more organisms with their embedding(s) in ``obsm``.
    cell_type_key
        ``obs`` column of the labels shared across organisms (also ``label_key``).
    organism_key
        ``obs`` column naming each cell's organism (any spelling of a cz ``Organism``).
    sample_key
        ``obs`` column of donors or samples: cells are averaged per sample first
        (``aggregation``) and cross-validation folds keep samples apart.
    aggregation
        ``"mean"``, ``"median"`` or ``"none"``; default ``"mean"`` with ``sample_key``, else
        ``"none"``.
    n_folds
        Folds of the within-organism cross-validation.
    seed
        ``random_seed`` of the cz-benchmarks task.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> adata.obs["organism"] = ["human" if i % 2 else "mouse" for i in range(adata.n_obs)]
    >>> scmf.bm.cz_cross_species_label_prediction(adata, "phase", use_rep="X_pca", n_folds=3)
    >>> m = scmf.bm.results(adata).set_index("metric")["value"]
    >>> bool(0 <= m["accuracy_homo_sapiens_to_mus_musculus"] <= 1)
    True
    """
    _cz_version()
    from czbenchmarks.tasks.single_cell import CrossSpeciesLabelPredictionTaskInput

    func = "cz_cross_species_label_prediction"
    if aggregation is None:
        aggregation = "mean" if sample_key is not None else "none"
    if aggregation not in ("mean", "median", "none"):
        msg = f"aggregation must be 'mean', 'median' or 'none', got {aggregation!r}."
        raise ValueError(msg)
    if aggregation != "none" and sample_key is None:
        msg = f"aggregation={aggregation!r} averages cells per sample: pass sample_key= (or aggregation='none')."
        raise ValueError(msg)
    lab = get_labels(adata, cell_type_key, param="cell_type_key", func=func)
    keep = lab.mask.copy()
    sample = None if sample_key is None else get_labels(adata, sample_key, param="sample_key", func=func)
    if sample is not None:
        keep &= sample.mask
    organisms, group, keep = _organisms(adata, organism_key, keep, func)
    labels = np.asarray(_full(adata.n_obs, lab)[keep], dtype=str)
    samples = None if sample is None else np.asarray(_full(adata.n_obs, sample)[keep], dtype=str)
    parts = _by_organism(group, len(organisms))
    for p, o in zip(parts, organisms, strict=True):
        counts = pd.Series(labels[p]).value_counts()
        if counts.size < 2 or int(counts.min()) < int(n_folds):
            msg = (
                f"{func}: organism {o} has {counts.size} classes, the smallest with {int(counts.min())} cells; "
                f"its {n_folds}-fold cross-validation needs >= 2 classes of >= n_folds cells. Lower n_folds or "
                "drop the rare classes."
            )
            raise ValueError(msg)
    inputs = CrossSpeciesLabelPredictionTaskInput(
        labels=[labels[p] for p in parts],
        organisms=organisms,
        sample_ids=None if samples is None else [samples[p] for p in parts],
        aggregation_method=aggregation,
        n_folds=n_folds,
    )

    def score(X: np.ndarray) -> Score:
        import czbenchmarks.tasks.single_cell as sc_tasks

        embs = [np.ascontiguousarray(X[p]) for p in parts]
        task = sc_tasks.CrossSpeciesLabelPredictionTask(random_seed=seed)
        with global_seed(seed):
            results = task.run(embs, inputs.model_copy(deep=True))
        return Score(_species_prediction_names(results))

    return Prepared(
        score,
        cells=keep,
        metadata=_species_metadata(keep, cell_type_key, organism_key, organisms, parts, labels),
        params={"aggregation": aggregation},
    )


_SEQUENTIAL = [
    Metric(
        "silhouette_score", "bio", description="(silhouette of the time points + 1) / 2, as cz computes it"
    ),
    Metric(
        "sequential_alignment",
        "bio",
        description="1 - mean |time difference| to the k nearest neighbours / its random expectation",
    ),
]


def time_labels(adata, time_key: str, func: str) -> tuple[np.ndarray, np.ndarray, list]:
    """(kept cells, numeric time of each, the stages in order) from a numeric or ordered column."""
    if time_key not in adata.obs.columns:
        msg = f"time_key={time_key!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})."
        raise KeyError(msg)
    col = adata.obs[time_key]
    keep = ~col.isna().to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        if not col.cat.ordered:
            msg = (
                f"{func}: obs[{time_key!r}] is categorical but not ordered, so its stages have no order "
                f"({name_list(col.cat.categories)}). Make it ordered, e.g. adata.obs[{time_key!r}] = "
                f"adata.obs[{time_key!r}].cat.reorder_categories([...], ordered=True), or store numbers (days)."
            )
            raise ValueError(msg)
        codes = col.cat.codes.to_numpy()
        return keep, codes[keep].astype(np.float64), list(col.cat.categories)
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        values = col.to_numpy(dtype=np.float64)
        keep &= np.isfinite(values)
        return keep, values[keep], sorted(np.unique(values[keep]).tolist())
    msg = (
        f"{func}: obs[{time_key!r}] holds {col.dtype} values, which have no order. Store the time as numbers "
        "(days, hours) or as an ordered categorical (pd.Categorical(values, categories=[...], ordered=True))."
    )
    raise ValueError(msg)


@benchmark("cz_sequential_organization", _SEQUENTIAL, aliases={"label_key": "time_key"}, dtype=None)
def cz_sequential_organization(
    adata: AnnData,
    time_key: str = "time",
    *,
    k: int = 15,
    normalize: bool = True,
    adaptive_k: bool = False,
    seed: int = 42,
    baseline: bool = False,
    layer: str | None = None,
) -> Prepared:
    """cz-benchmarks' ``SequentialOrganizationTask``: does the embedding keep a time course in order?

    Metrics, cz's own: ``silhouette_score`` of the time points and ``sequential_alignment``
    (the mean absolute time difference between each cell and its ``k`` nearest neighbours,
    with ``normalize`` against its expectation under random neighbours: 1 = neighbours
    share the time point, 0 = no better than random). An ordered categorical column is
    passed to cz as its stage numbers (0, 1, 2, ...), a numeric one as its values.

    Parameters
    ----------
    adata
        Annotated data matrix with the embedding(s) in ``obsm``.
    time_key
        ``obs`` column of the time point or stage: numbers, or an *ordered* categorical
        (also ``label_key``). Cells without one are left out.
    k, normalize, adaptive_k
        cz's neighbour count, normalisation and density-adaptive ``k``.
    seed
        ``random_seed`` of the cz-benchmarks task.
    baseline
        Also run the task on cz's PCA baseline of the expression (``layer``), stored as
        ``cz_pca_baseline``.
    layer
        Expression layer for the baseline (``None``: ``X``).

    Examples
    --------
    >>> import pandas as pd, scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> adata.obs["stage"] = pd.Categorical(adata.obs["phase"], categories=["G1", "S", "G2M"], ordered=True)
    >>> scmf.bm.cz_sequential_organization(adata, "stage", use_rep="X_pca")
    >>> sorted(scmf.bm.results(adata)["metric"])
    ['sequential_alignment', 'silhouette_score']
    """
    _cz_version()
    from czbenchmarks.tasks.sequential import SequentialOrganizationTaskInput

    func = "cz_sequential_organization"
    keep, times, stages = time_labels(adata, time_key, func)
    if len(stages) < 2:
        msg = f"{func} needs at least 2 time points in obs[{time_key!r}]; found {stages}."
        raise ValueError(msg)
    if int(keep.sum()) < int(k) + 1:
        msg = f"{func}: k={k} needs at least {k + 1} cells with a time point; found {int(keep.sum())}."
        raise ValueError(msg)
    obs = pd.DataFrame({time_key: times}, index=np.asarray(adata.obs_names[keep], dtype=str))
    inputs = SequentialOrganizationTaskInput(
        obs=obs, input_labels=times, k=k, normalize=normalize, adaptive_k=adaptive_k
    )
    return _prepared(
        adata,
        keep,
        task="SequentialOrganizationTask",
        seed=seed,
        inputs=inputs,
        metadata={
            "time_key": time_key,
            "n_time_points": len(stages),
            "time_points": [str(s) for s in stages],
        },
        baseline=baseline,
        baseline_rep="cz_pca_baseline",
        baseline_input=_pca_input,
        layer=layer,
    )
