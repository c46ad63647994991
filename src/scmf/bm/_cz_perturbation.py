"""cz-benchmarks' ``PerturbationExpressionPredictionTask`` with the inputs its dataset class prepares.

cz-benchmarks scores a *predicted expression matrix*: for every perturbation (condition) it
takes the mean predicted expression of the perturbed cells and of their matched control
cells on a sample of the condition's differentially expressed genes, and correlates
(Spearman) that predicted change with the measured log fold change. Its perturbation
datasets ship the differential expression, the treated -> control cell map and the sampled
genes; scmf computes them from the AnnData the way cz's ``SingleCellPerturbationDataset``
prepares them (see :func:`cz_perturbation_expression_prediction`) and then calls cz's task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from .._expression import get_expression, log_normalised, with_raw
from .._validate import get_labels, name_list
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark
from ._cz import _cz_version, _full, cz_log_as_warning, global_seed
from ._perturbation import control_index
from ._predictors import (
    PREDICTS,
    cell_loadings,
    gene_tables,
    linear_predict,
    pseudobulk_pca,
    representation_P,
    table_representation,
    target_rows,
    unit_scale,
)
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

_METRICS = [
    Metric(
        "spearman",
        "perturbation",
        True,
        (-1.0, 1.0),
        "Spearman of predicted and measured change on each condition's sampled DE genes (mean over conditions)",
    ),
    Metric(
        "coverage",
        "coverage",
        True,
        (0.0, 1.0),
        "share of the conditions with sampled DE genes that the predictor could predict (its perturbed genes represented)",
        aggregated=False,
    ),
]


def de_results(X, perturbation: np.ndarray, control: str, genes, *, key: str) -> pd.DataFrame:
    """Wilcoxon rank-sum of each perturbation against the control cells, as scanpy computes it.

    One ``sc.tl.rank_genes_groups(method="wilcoxon", reference=control)`` call on a private
    AnnData (the user's is not touched). Columns: ``key`` (the condition), ``gene_id``,
    ``logfoldchange`` (scanpy's log2 fold change), ``pval``, ``pval_adj`` (Benjamini-Hochberg).
    """
    import anndata as ad
    import scanpy as sc

    tmp = ad.AnnData(
        X=X, obs=pd.DataFrame({key: pd.Categorical(perturbation)}, index=np.arange(X.shape[0]).astype(str))
    )
    tmp.var_names = np.asarray(genes, dtype=str)
    sc.tl.rank_genes_groups(tmp, key, reference=control, method="wilcoxon", key_added="de", use_raw=False)
    df = sc.get.rank_genes_groups_df(tmp, group=None, key="de")
    if "group" not in df.columns:  # a single perturbation: scanpy leaves the group column out
        df.insert(0, "group", next(p for p in np.unique(perturbation) if p != control))
    return df.rename(
        columns={
            "group": key,
            "names": "gene_id",
            "logfoldchanges": "logfoldchange",
            "pvals": "pval",
            "pvals_adj": "pval_adj",
        }
    )[[key, "gene_id", "logfoldchange", "pval", "pval_adj"]]


def _control_map(names, pert, is_ctrl, context, seed: int) -> dict[str, dict[str, str]]:
    """For each condition, each perturbed cell -> one control cell of its own context (seeded draw)."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, str]] = {}
    ctrl_by_ctx = {c: np.flatnonzero(is_ctrl & (context == c)) for c in np.unique(context[is_ctrl])}
    for p in pd.unique(pert[~is_ctrl]):
        rows = np.flatnonzero((pert == p) & ~is_ctrl)
        mapping: dict[str, str] = {}
        for c in pd.unique(context[rows]):
            mine = rows[context[rows] == c]
            pool = ctrl_by_ctx.get(c)
            if pool is None or pool.size == 0:
                continue
            drawn = rng.choice(pool, size=mine.size, replace=mine.size > pool.size)
            mapping.update(zip(names[mine], names[drawn], strict=True))
        if mapping:
            out[str(p)] = mapping
    return out


@benchmark(
    "cz_perturbation_expression_prediction",
    _METRICS,
    dtype=None,
    aliases={"alpha": "ridge_penalty"},
    measures=PREDICTS,
)
def cz_perturbation_expression_prediction(
    adata: AnnData,
    perturbation_key: str = "perturbation",
    *,
    use_rep: str | Sequence[str] | None = None,
    control_label: str = "control",
    predicted_layer: str | None = None,
    gene_rep: str | Sequence[str] | Mapping[str, pd.DataFrame] | None = None,
    context_key: str | None = None,
    pred_effect_operation: str = "ratio",
    pval_threshold: float = 1e-4,
    min_logfoldchange: float = 1.0,
    percent_genes_to_mask: float = 0.5,
    min_de_genes_to_mask: int = 5,
    n_folds: int = 5,
    n_comps: int = 10,
    ridge_penalty: float = 0.1,
    combo_sep: str = "+",
    min_cells: int = 5,
    layer: str | None = None,
    use_raw: bool = False,
    normalize: str = "auto",
    seed: int = 42,
) -> Prepared:
    """cz-benchmarks' ``PerturbationExpressionPredictionTask`` on an embedding's (or a model's) predictions.

    What is scored is a predicted expression matrix, made without the cells of the
    perturbations it predicts. scmf makes one with the linear model of
    :func:`scmf.bm.perturbation_response` (Ahlmann-Eltze et al.), cross-fitted over
    ``n_folds`` folds of perturbations: a fold's perturbations are predicted from the other
    folds' changes (mean of their cells minus the mean of their matched controls), the
    control cells and a representation of the genes, never from their own cells. Each
    perturbed cell's predicted expression is its matched control's expression plus the
    predicted change. One representation per row of results:

    - ``linear`` (always): the paper's reference, the top ``n_comps`` principal components
      of the training folds' pseudobulk;
    - each ``gene_rep`` (``varm`` keys, e.g. :func:`scmf.tl.embed_genes`'s);
    - each ``use_rep`` (cell embeddings): each gene's covariance with the embedding over the
      control cells.

    A condition whose perturbed gene has no representation (not a measured gene, for
    ``linear`` and ``use_rep``) is not predicted and not scored: ``coverage`` is the share of
    the conditions with sampled DE genes that were. A model that predicts expression itself
    puts its prediction in ``adata.layers[predicted_layer]`` (same cells and genes; control
    rows as the model gives them); it is scored as the representation
    ``"layer:<predicted_layer>"``, beside the others (``use_rep=None``: no cell embedding).

    The inputs cz's perturbation datasets carry are computed the way cz's
    ``SingleCellPerturbationDataset`` prepares them: differential expression of each
    perturbation against the control cells by scanpy's Wilcoxon test (one
    ``rank_genes_groups`` call per context, log-normalised expression, Benjamini-Hochberg), kept where
    ``pval_adj < pval_threshold`` and ``|logfoldchange| >= min_logfoldchange``; cz's own
    ``sample_de_genes`` draws ``percent_genes_to_mask`` of each condition's DE genes (none
    for a condition with fewer than ``min_de_genes_to_mask``, which cz then skips); the
    treated -> control map pairs each perturbed cell with a control cell drawn (``seed``)
    from its own context (``context_key``) or from all controls.

    Metric: ``spearman``, the mean over scored conditions of cz's per-condition Spearman
    correlation (each one in ``artifacts["per_condition"]``).

    Parameters
    ----------
    adata
        Expression in ``X`` (or ``layer``/``.raw``), embedding(s) in ``obsm``; unique
        ``obs_names`` (cz maps cells by name).
    perturbation_key
        ``obs`` column of each cell's perturbation (condition).
    control_label
        The value marking control cells.
    use_rep
        ``obsm`` key(s) of cell embeddings, each used through the control cells only (above).
    predicted_layer
        A layer of predicted expression to score as well (see above).
    context_key
        ``obs`` column of contexts (cell line, screen) with their own controls: a condition is
        then a (perturbation, context) pair, named ``"perturbation (context)"``, tested
        against and matched with the controls of its context.
    pred_effect_operation
        cz's ``"ratio"`` (log ratio of mean predictions; cz falls back to the difference when a
        mean is not positive) or ``"difference"``.
    pval_threshold, min_logfoldchange, percent_genes_to_mask, min_de_genes_to_mask
        cz's data preparation settings (its defaults).
    gene_rep
        ``varm`` key(s) of gene representations to predict with (NaN rows: genes without one),
        or ``{name: DataFrame}`` of tables indexed by gene name (genes beyond the measured ones
        represent unmeasured perturbed genes).
    n_folds, n_comps, ridge_penalty
        Folds of perturbations, the reference's principal components and the ridge penalty
        of the linear model (both sides; the paper's 0.1).
    combo_sep
        Separator of combined perturbations (a combination is represented by the sum of its genes').
    min_cells
        Perturbations with fewer cells are left out (warned).
    layer, use_raw, normalize
        Expression read for the differential expression and the changes, as in
        :func:`scmf.bm.perturbation` (``normalize="auto"`` log-normalises counts, on a copy).
    seed
        Seed of cz's task and gene sampling, the control draw and the folds.

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy_perturbation(n_perturbations=12, target_genes=True, seed=0)
    >>> scmf.bm.cz_perturbation_expression_prediction(
    ...     adata, use_rep=None, min_logfoldchange=0.5, pred_effect_operation="difference"
    ... )
    >>> r = scmf.bm.results(adata).set_index("metric")["value"]
    >>> bool(r["spearman"] > 0), float(r["coverage"])
    (True, 1.0)
    """
    version = _cz_version()
    from czbenchmarks.datasets.single_cell_perturbation import sample_de_genes
    from czbenchmarks.tasks.single_cell import (
        PerturbationExpressionPredictionTask,
        PerturbationExpressionPredictionTaskInput,
    )

    func = "cz_perturbation_expression_prediction"
    tables = gene_tables(adata, gene_rep, func)
    if pred_effect_operation not in ("ratio", "difference"):
        msg = f"pred_effect_operation must be 'ratio' or 'difference', got {pred_effect_operation!r}."
        raise ValueError(msg)
    if not adata.obs_names.is_unique:
        msg = f"{func}: cz maps cells by name and adata.obs_names has duplicates; run adata.obs_names_make_unique()."
        raise ValueError(msg)
    labels = get_labels(adata, perturbation_key, param="perturbation_key", func=func)
    control_index(labels.categories, control_label, perturbation_key)
    keep = labels.mask.copy()
    if context_key is not None:
        keep &= get_labels(adata, context_key, param="context_key", func=func).mask
        context_all = adata.obs[context_key].astype(str).to_numpy()
    else:
        context_all = np.zeros(adata.n_obs, dtype=int)
    pert_all = _full(adata.n_obs, labels)
    counts = pd.Series(pert_all[keep]).value_counts()
    small = [p for p, n in counts.items() if p != str(control_label) and n < min_cells]
    if small:
        warn(
            f"{func}: leaving out {len(small)} perturbations with fewer than {min_cells} cells: {name_list(small)}."
        )
        keep &= ~np.isin(pert_all, small)
    if counts.get(str(control_label), 0) < min_cells:
        msg = f"{func}: only {counts.get(str(control_label), 0)} control cells (< min_cells={min_cells})."
        raise ValueError(msg)
    rows = np.flatnonzero(keep)
    pert, context = pert_all[rows].astype(str), context_all[rows]
    is_ctrl = pert == str(control_label)
    if context_key is not None:  # a condition is a (perturbation, context) pair with its own controls
        pert = np.where(
            is_ctrl, pert, np.char.add(np.char.add(pert, " ("), np.char.add(context.astype(str), ")"))
        )
    perts = np.asarray(sorted(set(pert[~is_ctrl])), dtype=object)
    if perts.size < max(int(n_folds), 2):
        msg = (
            f"{func} needs at least n_folds={n_folds} perturbations besides the control; found {perts.size}."
        )
        raise ValueError(msg)
    names = np.asarray(adata.obs_names[rows], dtype=str)

    src, src_layer = with_raw(adata, layer, use_raw)
    X, scale, action = log_normalised(get_expression(src, src_layer), normalize, func)
    X = X[rows]
    genes = np.asarray(src.var_names, dtype=str)
    gene_pos = {g: i for i, g in enumerate(genes)}
    parts = []
    # each context's perturbations against its own controls (sorted: cell order never matters)
    for c in np.unique(context):
        mine = context == c
        if (mine & ~is_ctrl).any() and (mine & is_ctrl).sum() >= min_cells:
            parts.append(de_results(X[mine], pert[mine], str(control_label), genes, key=perturbation_key))
    de = pd.concat(parts, ignore_index=True)
    kept = de[(de["pval_adj"] < pval_threshold) & (de["logfoldchange"].abs() >= min_logfoldchange)]
    if kept.empty:
        msg = (
            f"{func}: no gene passes pval_adj < {pval_threshold} and |logfoldchange| >= {min_logfoldchange} in any "
            "perturbation, so cz has nothing to score. Loosen the thresholds or check control_label."
        )
        raise ValueError(msg)
    de_min = kept[[perturbation_key, "gene_id", "logfoldchange"]].reset_index(drop=True)
    targets = sample_de_genes(
        de_results=de_min,
        percent_genes_to_mask=percent_genes_to_mask,
        min_de_genes_to_mask=min_de_genes_to_mask,
        condition_col=perturbation_key,
        gene_col="gene_id",
        seed=seed,
    )
    if not targets:
        msg = (
            f"{func}: no perturbation has min_de_genes_to_mask={min_de_genes_to_mask} sampled DE genes; lower it "
            "or loosen pval_threshold / min_logfoldchange."
        )
        raise ValueError(msg)
    cmap = _control_map(names, pert, is_ctrl, context, seed)
    missing_ctx = sorted(set(perts) - set(cmap))
    if missing_ctx:
        msg = f"{func}: perturbations without control cells in their context: {name_list(missing_ctx)}."
        raise ValueError(msg)

    # the measured change each perturbation's predictor learns: its cells minus their matched controls
    pos = pd.Index(names)
    treated_rows, control_rows, unit = [], [], []
    for i, p in enumerate(perts):
        m = cmap[p]
        treated_rows.append(pos.get_indexer(list(m.keys())))
        control_rows.append(pos.get_indexer(list(m.values())))
        unit.append(np.full(len(m), i))
    t_rows, c_rows, unit_of = (np.concatenate(a) for a in (treated_rows, control_rows, unit))
    n_p = perts.size
    avg = sparse.csr_matrix(
        (np.ones(t_rows.size), (unit_of, np.arange(t_rows.size))), shape=(n_p, t_rows.size)
    )
    avg = sparse.diags(1.0 / np.bincount(unit_of, minlength=n_p)) @ avg
    Xd = X.toarray() if sparse.issparse(X) else np.asarray(X)
    Xd = Xd.astype(np.float64, copy=False)
    delta = avg @ (Xd[t_rows] - Xd[c_rows])
    uns = {
        "de_results": de_min,
        "metric_column": "logfoldchange",
        "control_cells_map": cmap,
        "target_conditions_dict": targets,
        "config": {"condition_key": perturbation_key},
    }

    def run_cz(pred: np.ndarray, cell_names, conditions=None) -> Score:
        import anndata as ad

        holder = ad.AnnData(obs=pd.DataFrame(index=cell_names), var=pd.DataFrame(index=genes))
        holder.uns.update(uns)
        if conditions is not None:
            holder.uns["target_conditions_dict"] = {c: g for c, g in targets.items() if c in conditions}
        inputs = PerturbationExpressionPredictionTaskInput(
            adata=holder, pred_effect_operation=pred_effect_operation,
            cell_index=pd.Index(cell_names), gene_index=pd.Index(genes),
        )  # fmt: skip
        scored = holder.uns["target_conditions_dict"]
        per: dict[str, float] = {}
        if scored:
            task = PerturbationExpressionPredictionTask(random_seed=seed)
            with global_seed(seed):
                results = cz_log_as_warning(func, lambda: task.run(pred, inputs))
            per = {str(r.params["condition"]): float(r.value) for r in results}
        vals = np.array(list(per.values()))
        return Score(
            {
                "spearman": float(np.nanmean(vals)) if vals.size else float("nan"),
                "coverage": len(scored) / len(targets),
            },
            metadata={"n_conditions_scored": int(vals.size)},
            artifacts={"per_condition": {"condition": list(per), "spearman": vals}},
        )

    # the linear model, cross-fitted over folds of perturbations: a fold never sees its own cells
    from sklearn.model_selection import KFold

    folds = list(KFold(n_splits=int(n_folds), shuffle=True, random_state=seed).split(np.arange(n_p)))
    ctx_ctrl = [c for c in np.unique(context) if (is_ctrl & (context == c)).sum() >= min_cells]
    base_of = {p: b for p, b in zip(pert[~is_ctrl], pert_all[rows][~is_ctrl].astype(str), strict=True)}
    bases = [base_of[p] for p in perts]  # each condition's perturbation, without its context
    rows_of = target_rows(bases, gene_pos, combo_sep)
    unmeasured = [str(p) for p, r in zip(perts, rows_of, strict=True) if min(r) < 0]
    if unmeasured:
        warn(
            f"{func}: {len(unmeasured)} of {n_p} conditions perturb no measured gene ({name_list(unmeasured)}); the "
            "linear reference and cell embeddings represent a perturbation by its gene and leave them unscored "
            "(coverage). A gene_rep that covers them, or a predicted_layer, can."
        )
    cond_means = avg @ Xd[t_rows]
    ctrl_means = np.vstack([Xd[is_ctrl & (context == c)].mean(axis=0) for c in ctx_ctrl])

    lin_kw = {"n_controls": len(ctx_ctrl), "ridge": ridge_penalty}
    if context_key is not None:  # each context centred on its own training changes
        ctx_of = {p: c for p, c in zip(pert[~is_ctrl], context[~is_ctrl], strict=True)}
        lin_kw.update(
            unit_context=np.asarray([ctx_of[p] for p in perts]), control_context=np.asarray(ctx_ctrl)
        )

    def cross_fitted(fold_G) -> np.ndarray:
        """Each fold's predicted changes from the others' (``fold_G(train) -> (G, P_of)``); NaN: not covered."""
        out = np.full_like(delta, np.nan)
        for train, test in folds:
            G, P_of = fold_G(train)
            out[test] = linear_predict(G, delta, train, test, P_of, **lin_kw)
        return out

    def run_prediction(pred_delta: np.ndarray) -> Score:
        covered = ~np.isnan(pred_delta).any(axis=1)
        pred = Xd.copy()
        pred[t_rows] = Xd[c_rows] + np.nan_to_num(pred_delta)[unit_of]
        s = run_cz(pred, names, conditions=set(perts[covered].tolist()))
        s.artifacts["predictions"] = {
            "condition": [str(p) for p in perts],
            "delta": pred_delta.astype(np.float32),
        }
        return s

    X_ctrl, ctrl_ctx = X[np.flatnonzero(is_ctrl)], context[is_ctrl]

    def score(E: np.ndarray) -> Score:
        G = unit_scale(cell_loadings(X_ctrl, E[is_ctrl], ctrl_ctx))
        P_of = representation_P(G, rows_of)
        return run_prediction(cross_fitted(lambda train: (G, P_of)))

    def linear_reference() -> Score:
        def fold(train):
            G = pseudobulk_pca(np.vstack([cond_means[train], ctrl_means]), n_comps)
            return G, representation_P(G, rows_of)

        return run_prediction(cross_fitted(fold))

    extra = {"linear": linear_reference}
    for key, table in tables.items():
        G_fit, P_rep, _ = table_representation(table, genes, bases, combo_sep)
        extra[key] = lambda G_fit=G_fit, P_rep=P_rep: run_prediction(
            cross_fitted(lambda train: (G_fit, P_rep))
        )

    if predicted_layer is not None:
        if predicted_layer not in adata.layers:
            msg = f"predicted_layer={predicted_layer!r} is not in adata.layers ({name_list(list(adata.layers))})."
            raise KeyError(msg)
        if use_raw and adata.raw is not None and adata.raw.n_vars != adata.n_vars:
            msg = "predicted_layer has adata's genes, use_raw reads .raw's: score them on the same genes."
            raise ValueError(msg)

        def layer_score() -> Score:
            P = adata.layers[predicted_layer]
            P = P[rows]
            P = P.toarray() if sparse.issparse(P) else np.asarray(P, dtype=np.float64)
            if not np.isfinite(P).all():
                msg = f"adata.layers[{predicted_layer!r}] has NaN or infinite values; cz cannot score them."
                raise ValueError(msg)
            return run_cz(P, names)

        extra[f"layer:{predicted_layer}"] = layer_score

    return Prepared(
        score,
        cells=keep,
        metadata={
            "n_cells": int(keep.sum()),
            "n_control_cells": int(is_ctrl.sum()),
            "n_perturbations": int(n_p),
            "n_conditions_with_targets": len(targets),
            "n_de_rows": len(de_min),
            "perturbation_key": perturbation_key,
            "control_label": str(control_label),
            "dropped_perturbations": small,
            "input_scale": scale,
            "cz_benchmarks_version": version,
        },
        params={"normalize": action, "control_label": str(control_label), "gene_rep": list(tables)},
        extra=extra,
    )
