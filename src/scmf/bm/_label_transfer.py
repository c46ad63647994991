"""``scmf.bm.label_transfer``: train a classifier on one dataset (or context), predict another."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from .._keys import BENCH_KEY
from .._validate import get_labels, name_list
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark
from ._linear_probe import METRICS
from ._metrics._classifiers import (
    bootstrap_confusion_scores,
    confusion_scores,
    fit_predict,
)
from ._metrics._neighbors import APPROXIMATE_ABOVE

if TYPE_CHECKING:
    from anndata import AnnData

_SIDE = "_scmf_transfer_side"


@benchmark("label_transfer", METRICS, aliases={"label_key": "cell_type_key"}, dtype=None)
def _label_transfer(
    adata: AnnData,
    cell_type_key: str = "cell_type",
    *,
    split_key: str | None = None,
    reference: str | None = None,
    classifier: str = "logistic",
    label_map: Mapping[str, str] | None = None,
    n_neighbors: int = 5,
    standardize: bool = True,
    C: float = 1.0,
    max_iter: int = 1000,
    n_bootstrap: int = 200,
    approximate: bool | str = "auto",
    seed: int = 0,
) -> Prepared:
    """Label transfer: train a classifier on one dataset or context, predict the cell types of another.

    What the evaluation guide asks of an embedding beyond one object: do cell types stay
    recognisable in new experimental contexts and datasets? Two ways to say where to train:

    - ``query=`` another AnnData (or ``.h5ad`` file) embedded with the same model: the
      classifier is fitted on ``adata`` (the reference) and scores every cell of the query;
      the results are stored on the query.
    - ``split_key=`` and ``reference=``: within one object, train on the cells whose
      ``obs[split_key]`` is ``reference`` (Kang's ``control``, a donor, a study) and score the
      others (each other value also on its own: ``artifacts["per_query_value"]``, a table of
      ``value``, ``n_cells`` and the metrics).

    Query cells of types the reference lacks are not scored as errors and not dropped
    silently: a warning names them, ``metadata["n_query_unseen_types"]`` counts them and
    ``artifacts["unseen_predicted_as"]`` says what they were predicted as (a table of
    ``type``, ``predicted``, ``n_cells``). Vocabularies that
    name the same types differently are reconciled with ``label_map`` (query label -> reference
    label). Several representations are scored on the same cells, with the same bootstrap
    resamples of the query cells, so :func:`scmf.bm.compare` is a paired comparison.

    Parameters
    ----------
    adata
        The reference (with ``query=``), or the whole data (with ``split_key``).
    cell_type_key
        ``obs`` column of the cell types (in both objects).
    split_key
        ``obs`` column of the contexts (condition, donor, study).
    reference
        The value of ``split_key`` to train on.
    query
        Another AnnData or ``.h5ad`` path, embedded with the same model (the same ``obsm``
        keys, dimensions and recorded model settings; otherwise refused).
    classifier
        ``"logistic"`` (L2, as ``linear_probe``), ``"logistic_l1"`` (Boiarsky et al.'s few-shot
        reference) or ``"knn"``.
    label_map
        Query label -> reference label, applied to the query cells before scoring.
    n_neighbors
        Neighbours of ``"knn"`` (5, scikit-learn's and cz-benchmarks' default).
    standardize
        Standardise each dimension on the reference cells first.
    C, max_iter
        Logistic regression settings.
    n_bootstrap
        Resamples of the scored query cells for the intervals (the classifier is fitted once).
    approximate
        kNN over a pynndescent index of the reference (``"auto"``: when the reference or the
        query has more than 200,000 cells); only ``knn`` reads it.
    seed
        Seed of the bootstrap, the L1 solver and the approximate index.

    Returns
    -------
    ``None`` when ``inplace`` (results stored on the query, or on ``adata`` with
    ``split_key``), else the tidy table. Metrics: ``accuracy``, ``balanced_accuracy``,
    ``f1_macro``, ``f1_weighted`` over the query cells whose type the reference has.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.label_transfer(adata, "bulk_labels", split_key="phase", reference="G1",
    ...                        use_rep=["X_pca_baseline", "X_random_baseline"])
    >>> r = scmf.bm.results(adata).query("metric == 'accuracy'").set_index("rep")["value"]
    >>> bool(r["X_pca_baseline"] > r["X_random_baseline"])
    True
    """
    name = classifier
    if name not in ("logistic", "logistic_l1", "knn"):
        msg = f"classifier must be 'logistic', 'logistic_l1' or 'knn', got {classifier!r}."
        raise ValueError(msg)
    if split_key is None or reference is None:
        msg = (
            "label_transfer needs where to train: query= (another AnnData or .h5ad file), or split_key= and "
            "reference= (train on the cells whose obs[split_key] is reference, score the others)."
        )
        raise ValueError(msg)
    labels = get_labels(adata, cell_type_key, param="cell_type_key", func="label_transfer")
    side = get_labels(adata, split_key, param="split_key", func="label_transfer")
    values = [str(v) for v in side.categories]
    if str(reference) not in values:
        msg = f"reference={reference!r} is not a value of obs[{split_key!r}] (values: {name_list(values)})."
        raise ValueError(msg)
    if len(values) < 2:
        msg = f"obs[{split_key!r}] has only the value {reference!r}: there are no query cells to predict."
        raise ValueError(msg)
    text = np.full(adata.n_obs, None, dtype=object)
    text[labels.mask] = np.asarray(labels.categories, dtype=object)[labels.codes].astype(str)
    where = np.full(adata.n_obs, None, dtype=object)
    where[side.mask] = np.asarray(values, dtype=object)[side.codes]
    is_ref = (where == str(reference)) & labels.mask
    is_query = side.mask & (where != str(reference)) & labels.mask
    if label_map:
        mapped = np.array([label_map.get(t, t) if t is not None else None for t in text], dtype=object)
        text = np.where(is_query, mapped, text)
    ref_classes = np.array(sorted(set(text[is_ref])), dtype=object)
    if ref_classes.size < 2:
        msg = f"the reference cells hold {ref_classes.size} cell type; a classifier needs at least 2."
        raise ValueError(msg)
    code = {c: i for i, c in enumerate(ref_classes)}
    unseen_mask = is_query & ~np.isin(text, ref_classes)
    seen = is_query & ~unseen_mask
    if not seen.any():
        msg = (
            "no query cell has a cell type the reference has; map the query's labels onto the reference's with "
            f"label_map= (query types: {name_list(sorted(set(text[is_query])))}; reference: {name_list(list(ref_classes))})."
        )
        raise ValueError(msg)
    if unseen_mask.any():
        kinds = sorted(set(text[unseen_mask]))
        warn(
            f"label_transfer: {int(unseen_mask.sum())} query cells have types the reference lacks "
            f"({name_list(kinds)}); they are reported apart (unseen_predicted_as), not scored as errors. "
            "Map them onto the reference's types with label_map= if they are the same types under other names."
        )
    y_ref = np.array([code[t] for t in text[is_ref]])
    y_query = np.array([code[t] for t in text[seen]])
    scored = is_ref | is_query
    pos = np.cumsum(scored) - 1  # position of each scored cell in the embedding the runner passes
    ref_rows, seen_rows, unseen_rows = pos[is_ref], pos[seen], pos[unseen_mask]
    query_value = where[seen]
    big = max(int(is_ref.sum()), int(is_query.sum())) > APPROXIMATE_ABOVE
    approx = big if approximate == "auto" else bool(approximate)
    k = len(ref_classes)

    def score(X: np.ndarray) -> Score:
        pred_all, converged = fit_predict(
            name, X[ref_rows], y_ref, np.concatenate([X[seen_rows], X[unseen_rows]]), standardize=standardize,
            C=C, max_iter=max_iter, n_neighbors=n_neighbors, seed=seed, approximate=approx,
        )  # fmt: skip
        if not converged:
            warn(
                f"label_transfer: the {name} classifier did not converge in max_iter={max_iter}; raise max_iter."
            )
        pred, pred_unseen = pred_all[: seen_rows.size], pred_all[seen_rows.size :]
        C_all = np.bincount(y_query * k + pred, minlength=k * k).reshape(k, k)
        metrics = confusion_scores(C_all)
        # tables of parallel lists, not dicts keyed by label: labels may hold "/", which h5ad reads as a path
        per_value: dict[str, list] = {"value": [], "n_cells": []}
        for v in dict.fromkeys(query_value):
            sel = query_value == v
            Cv = np.bincount(y_query[sel] * k + pred[sel], minlength=k * k).reshape(k, k)
            per_value["value"].append(str(v))
            per_value["n_cells"].append(int(sel.sum()))
            for m, x in confusion_scores(Cv).items():
                per_value.setdefault(m, []).append(x)
        pairs: dict[tuple[str, str], int] = {}
        for t, p in zip(text[unseen_mask], pred_unseen, strict=True):
            pairs[(str(t), str(ref_classes[p]))] = pairs.get((str(t), str(ref_classes[p])), 0) + 1
        unseen = {
            "type": [t for t, _ in pairs],
            "predicted": [p for _, p in pairs],
            "n_cells": [int(n) for n in pairs.values()],
        }
        reps = bootstrap_confusion_scores(y_query, pred, k, n_bootstrap, seed) if n_bootstrap else {}
        f1 = np.divide(2 * np.diag(C_all), C_all.sum(0) + C_all.sum(1), out=np.zeros(k),
                       where=(C_all.sum(0) + C_all.sum(1)) > 0)  # fmt: skip
        return Score(
            metrics=metrics,
            replicates=reps,
            replicate_kind="bootstrap",
            metadata={"converged": bool(converged)},
            artifacts={
                "classes": [str(c) for c in ref_classes],
                "confusion": C_all,
                "f1_per_class": f1,
                "per_query_value": per_value,
                "unseen_predicted_as": unseen,
            },
        )

    return Prepared(
        score,
        cells=scored,
        metadata={
            "n_cells": int(scored.sum()),
            "n_reference": int(is_ref.sum()),
            "n_query": int(is_query.sum()),
            "n_query_scored": int(seen.sum()),
            "n_query_unseen_types": int(unseen_mask.sum()),
            "n_classes": int(k),
            "cell_type_key": cell_type_key,
            "split_key": split_key,
            "query_values": sorted({str(v) for v in query_value}),
            "classifier": name,
            "approximate": bool(approx),
        },
        params={
            "label_map": {
                "query": [str(q) for q in label_map],
                "reference": [str(r) for r in label_map.values()],
            }
            if label_map
            else None,
            "reference": str(reference),
        },
    )


def _read(item) -> AnnData:
    from anndata import AnnData, read_h5ad

    if isinstance(item, AnnData):
        return item
    if isinstance(item, str | os.PathLike):
        return read_h5ad(item)
    msg = f"query must be an AnnData or an .h5ad path, got {type(item).__name__}."
    raise TypeError(msg)


@functools.wraps(_label_transfer)
def label_transfer(adata: AnnData, cell_type_key: str = "cell_type", *, query: Any = None, **kwargs):
    if query is None:
        return _label_transfer(adata, cell_type_key, **kwargs)
    if kwargs.get("split_key") is not None or kwargs.get("reference") is not None:
        msg = (
            "give query= (another dataset), or split_key= and reference= (contexts of one dataset), not both."
        )
        raise ValueError(msg)
    return _across(adata, _read(query), cell_type_key, kwargs, query_given=query)


def _across(ref: AnnData, query: AnnData, cell_type_key: str, kwargs: dict, *, query_given) -> Any:
    """Train on ``ref``, score ``query``: both in one lightweight object, results stored on the query."""
    import anndata as ad
    import pandas as pd

    from .. import _store
    from .._uns import embedding_params
    from .._validate import as_rep_list, check_anndata, get_rep

    check_anndata(query, "scmf.bm.label_transfer (query)")
    kwargs = dict(kwargs)
    reps = as_rep_list(kwargs.pop("use_rep", "X_scmf"))
    inplace = kwargs.pop("inplace", True)
    key = kwargs.pop("key_added", BENCH_KEY)
    for rep in reps:
        for side, obj in (("reference", ref), ("query", query)):
            if rep not in obj.obsm:
                msg = f"the {side} has no obsm[{rep!r}]; embed both with the same model first."
                raise KeyError(msg)
        a, b = np.shape(ref.obsm[rep]), np.shape(query.obsm[rep])
        if a[1] != b[1]:
            msg = (
                f"obsm[{rep!r}] has {a[1]} dims in the reference and {b[1]} in the query: not the same model."
            )
            raise ValueError(msg)
        pa, pb = embedding_params(ref, rep), embedding_params(query, rep)
        differ = sorted(
            k for k in ("model", "checkpoint", "n_comps", "seed") if pa.get(k) != pb.get(k) and pa and pb
        )
        if differ:
            msg = f"obsm[{rep!r}] was made with different settings in the reference and the query ({differ}): embed both with the same model."
            raise ValueError(msg)
    for side, obj in (("reference", ref), ("query", query)):
        if cell_type_key not in obj.obs.columns:
            msg = f"the {side} has no obs[{cell_type_key!r}] (columns: {list(obj.obs.columns)})."
            raise KeyError(msg)
    obs = pd.DataFrame(
        {
            cell_type_key: np.concatenate(
                [ref.obs[cell_type_key].astype(object), query.obs[cell_type_key].astype(object)]
            ),
            _SIDE: ["reference"] * ref.n_obs + ["query"] * query.n_obs,
        },
        index=pd.Index([f"r{i}" for i in range(ref.n_obs)] + [f"q{i}" for i in range(query.n_obs)]),
    )
    both = ad.AnnData(
        obs=obs,
        obsm={r: np.concatenate([get_rep(ref, r, dtype=None), get_rep(query, r, dtype=None)]) for r in reps},
    )
    if kwargs.get("dataset_name") is None:
        from .._uns import dataset_name as own_name

        kwargs["dataset_name"] = own_name(query)
    _label_transfer(
        both,
        cell_type_key,
        split_key=_SIDE,
        reference="reference",
        use_rep=reps,
        key_added=key,
        progress=kwargs.pop("progress", None),
        **kwargs,
    )
    results = list(_store.iter_results(both, key=key))
    for r in results:
        r.params = {
            **r.params,
            "split_key": None,
            "reference": None,
            "query": str(query_given) if not isinstance(query_given, ad.AnnData) else None,
        }
        r.metadata = {**r.metadata, "split_key": None, "query_values": ["query"]}
    from ._benchmark import finish

    return finish(query, results, inplace=inplace, key_added=key)


_params = list(inspect.signature(_label_transfer).parameters.values())
label_transfer.__signature__ = inspect.signature(
    _label_transfer
).replace(  # type: ignore[attr-defined]
    parameters=[
        *_params[:2],
        inspect.Parameter("query", inspect.Parameter.KEYWORD_ONLY, default=None),
        *_params[2:],
    ]
)
label_transfer.spec = _label_transfer.spec  # type: ignore[attr-defined]
_label_transfer.spec.func = label_transfer
