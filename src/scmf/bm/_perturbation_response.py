"""Perturbation response scored as the Virtual Cell Challenge scores it, beside the references and the ceiling.

Per perturbation: the delta of its mean log-normalised expression from the control mean, its
differential expression against the controls (Wilcoxon rank-sum, Benjamini-Hochberg, pdex's
log2 fold change), and the mean embedding of its cells. A ridge regression from mean
embedding to delta, fitted on training perturbations, predicts the held-out ones; the
references predict them without the embedding; the ceiling compares two halves of each
perturbation's own cells. All scored with ``_metrics/_profiles.py`` (cell-eval's metrics).
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
from ._benchmark import Prepared, Score, benchmark, check_splits
from ._metrics._profiles import OVERLAP_K, PROFILE_METRICS, log2_fold_change, predicted_fdr, profile_scores
from ._perturbation import MIN_TRAIN, contexts_with_controls, control_index
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

REFERENCES = ("cell_mean", "mean_shift", "no_change", "linear", "ceiling")
SHIFT_LEVELS = (0.25, 0.5, 0.75)
#: what the references and the doubles store as metrics, and the shift curve keeps (every metric
#: of every predictor and split is in ``artifacts["per_perturbation"]``): tables stay readable
KEY_METRICS = ("pearson_delta", "discrimination_score", "mae")
_LOWER = {"mae", "mse"}
_BOUNDS = {"pearson_delta": (-1.0, 1.0), "pearson_delta_de": (-1.0, 1.0)}
_WHAT = {
    "pearson_delta": "Pearson of predicted and measured deltas, all genes",
    "pearson_delta_de": "Pearson of the deltas on the top significant DE genes",
    "mae": "mean absolute error of the predicted mean expression",
    "mse": "mean squared error of the predicted mean expression",
    "discrimination_score": "1 - rank of the right perturbation among all by L1 distance / n",
    "overlap_at_N": "share of the measured DE genes found in the prediction's top genes (recall at the DE set's size)",
    "de_recall": "share of the measured DE genes the prediction calls DE",
    "de_precision": "share of the prediction's DE calls that are measured DE genes",
    "direction_match": "share of measured DE genes whose predicted change has the right sign",
}
_REF_WHAT = {
    "cell_mean": "cell-mean baseline (mean delta of all training cells)",
    "mean_shift": "mean-shift baseline (mean training delta per perturbation)",
    "additive": "additive baseline (sum of the single perturbations' deltas), doubles only",
    "ceiling": "data ceiling (one half of each perturbation's cells predicting the other)",
    "no_change": "no-change baseline (the control mean; its Pearson is undefined)",
    "linear": "linear reference of Ahlmann-Eltze et al. (training pseudobulk PCA)",
}


def _what(m: str) -> str:
    if m in _WHAT:
        return _WHAT[m]
    kind, _, k = m.rpartition("_at_")
    return f"{kind} of the top-{k} DE genes (cell-eval)"


def _declare() -> list[Metric]:
    def metric(name, m, group, what="", aggregated=True):
        bounds = _BOUNDS.get(m, None if m in _LOWER else (0.0, 1.0))
        return Metric(name, group, m not in _LOWER, bounds, _what(m) + what, aggregated=aggregated)

    out = [metric(m, m, "perturbation") for m in PROFILE_METRICS]
    out += [metric(f"{r}_{m}", m, "baseline", f" [{_REF_WHAT[r]}]") for r in REFERENCES for m in KEY_METRICS]
    coverage = (
        "share of the held-out perturbations the predictor could predict (its perturbed genes represented)"
    )
    out += [
        Metric("coverage", "coverage", True, (0.0, 1.0), coverage, aggregated=False),
        Metric(
            "linear_coverage",
            "coverage",
            True,
            (0.0, 1.0),
            coverage + " [linear reference]",
            aggregated=False,
        ),
        Metric("doubles_coverage", "coverage", True, (0.0, 1.0), coverage + " [doubles]", aggregated=False),
    ]
    for m in KEY_METRICS:
        out.append(
            metric(f"doubles_{m}", m, "perturbation", " [doubles, trained on singles]", aggregated=False)
        )
        out += [
            metric(f"doubles_{r}_{m}", m, "baseline", f" [doubles; {_REF_WHAT[r]}]", aggregated=False)
            for r in ("additive", "mean_shift", "no_change", "linear", "ceiling")
        ]
    for f in SHIFT_LEVELS:  # the default levels (other levels' metrics count as undeclared)
        out.append(
            metric(
                f"pearson_delta_shift{f:g}", "pearson_delta", "perturbation", f" [shift level {f:g}]", False
            )
        )
        out.append(
            metric(
                f"mean_shift_pearson_delta_shift{f:g}",
                "pearson_delta",
                "baseline",
                f" [shift {f:g}; mean shift]",
                False,
            )
        )
    for m in ("pearson_delta", "discrimination_score"):
        for who, group in (("", "perturbation"), ("mean_shift_", "baseline")):
            out.append(
                Metric(
                    f"{who}{m}_shift_auc",
                    group,
                    True,
                    _BOUNDS.get(m, (0.0, 1.0)),
                    f"{_what(m)}, averaged over the distribution-shift curve (area / width)",
                    aggregated=False,
                )
            )
    return out


@benchmark(
    "perturbation_response",
    _declare(),
    aliases={"test_fraction": "test_size", "alpha": "ridge_penalty"},
    measures=PREDICTS,
)
def perturbation_response(
    adata: AnnData,
    perturbation_key: str = "perturbation",
    *,
    use_rep: str | Sequence[str] | None = None,
    gene_rep: str | Sequence[str] | Mapping[str, pd.DataFrame] | None = None,
    control_label: str = "control",
    context_key: str | None = None,
    splits: str | tuple[str, ...] = "auto",
    test_size: float = 0.3,
    shift_levels: tuple[float, ...] = SHIFT_LEVELS,
    n_top_genes: int = 50,
    fdr_threshold: float = 0.05,
    combo_sep: str = "+",
    n_comps: int = 10,
    ridge_penalty: float = 0.1,
    min_cells: int = 10,
    layer: str | None = None,
    use_raw: bool = False,
    normalize: str = "auto",
    seed: int = 42,
) -> Prepared:
    """Predicting unseen perturbations, scored as the Virtual Cell Challenge does, against references and a ceiling.

    A held-out perturbation is predicted only from what was known before it was measured:
    the training perturbations' cells, the control cells and representations of genes. No
    predictor reads a held-out perturbation's own cells. (Whether an embedding *encodes*
    perturbation state, given those cells, is :func:`scmf.bm.perturbation`'s question.)

    Each perturbation's *delta* is its mean log-normalised expression minus the control
    mean; its measured differential expression is a Wilcoxon rank-sum test of its cells
    against the control cells per gene (Benjamini-Hochberg over genes; log2 fold change of
    the pseudobulk means as ``pdex``, cell-eval's DE engine, computes it).

    The predictor is the linear model of Ahlmann-Eltze, Huber & Anders (Nature Methods
    2025): the training deltas (genes x perturbations, centred per gene, the controls a
    training condition of change 0) are ``G K P``, ``G`` a representation of the genes,
    ``P`` one of the perturbations (the perturbed gene's row of ``G``; a combination's is
    the sum of its singles'), ``K`` solved in closed form with ``ridge_penalty`` on both
    sides. Each representation scored is one row of results:

    - ``linear`` (always): the paper's reference, ``G`` the top ``n_comps`` principal
      components of the training pseudobulk;
    - each ``gene_rep`` (``varm`` keys, e.g. :func:`scmf.tl.embed_genes`'s): ``G`` its rows
      (genes without one are predicted at the training mean change; a perturbed gene without
      one is not predicted, and counted);
    - each ``use_rep`` (cell embeddings in ``obsm``): ``G`` each gene's covariance with the
      embedding's dimensions over the control cells, what the embedding says about genes in
      unperturbed cells.

    ``G`` other than the reference's is scaled to a root-mean-square entry of 1, so that one
    penalty means the same for every representation. On the ``doubles`` split every single
    is a training perturbation and is represented by its own indicator (the paper's
    ``identity`` perturbation embedding), a double by the sum of its singles'; ``G`` still
    differs between representations.

    A perturbation whose target is not a measured gene (``linear``, ``use_rep``) or has no
    representation (``gene_rep``) is not predicted: ``coverage`` (and ``linear_coverage``,
    ``doubles_coverage``) is the share that was, and each metric is the mean over those.
    Beside every predictor, on the same held-out perturbations:

    - ``cell_mean_*``: the cell-mean baseline, the mean expression of every training
      perturbed cell (as a delta);
    - ``mean_shift_*``: the mean of the training perturbations' deltas (both within the
      held-out perturbation's own context with ``context_key``, where it has any);
    - ``no_change_*``: the control mean (a delta of 0; its Pearson is undefined, NaN);
    - ``linear_*``: the linear reference above;
    - ``doubles_additive_*`` (split ``doubles``): for a double perturbation ``A+B``, the sum
      of the deltas of ``A`` and ``B``;
    - ``ceiling_*``: the data ceiling, one random half of each perturbation's cells
      predicting the other half (deltas and DE of the halves), what the data allow.

    Metrics per held-out perturbation (cell-eval's definitions, its DE tables read as
    float32): ``pearson_delta`` (all genes), ``pearson_delta_de`` (the ``n_top_genes``
    significant genes of largest ``|log2 fold change|``), ``mae``, ``mse`` (of the predicted
    mean expression), ``discrimination_score`` (L1, the target gene left out),
    ``overlap_at_50/100/200/N`` and ``precision_at_50/100/200`` (measured DE genes,
    ``fdr < fdr_threshold``, ranked by ``|log2FC|``, against the prediction's DE genes ranked
    by ``|predicted log2FC|``: a predicted profile has no cells to test, so a gene is called
    when its predicted change stands out against the gene's spread over the cells known
    before the prediction (controls and training perturbations) at the perturbation's cell
    count, a z-test with Benjamini-Hochberg), ``de_recall``, ``de_precision`` and
    ``direction_match``. Stored: their means over held-out perturbations, every one for the
    predictor, ``pearson_delta``, ``discrimination_score`` and ``mae`` for the references;
    every metric of every predictor, split and held-out perturbation is in
    ``artifacts["per_perturbation"]``, and every predicted delta (float32, genes in
    ``var_names`` order) in ``artifacts["predictions"]``, so any metric can be recomputed.

    Splits (``splits``; ``"auto"``: all that the data allow):

    ``random``
        ``test_size`` of the perturbations held out at random: metrics without a prefix.
    ``shift``
        The same held-out perturbations, with the training perturbations most similar to
        them (cosine of deltas) removed: at level ``f`` of ``shift_levels``, the fraction
        ``f`` closest to the held-out set. ``pearson_delta_shift{f}`` for the model and
        ``mean_shift_...``; the x-axis, the mean dissimilarity of each held-out
        perturbation to its nearest training one, is ``metadata["shift_dissimilarity"]``;
        ``{metric}_shift_auc`` is the area under the curve (random split included) divided
        by its width: the mean score under shift (``pearson_delta`` and ``discrimination_score``).
    ``doubles``
        Train on single perturbations, test on double ones (``A+B``, both singles present):
        ``doubles_{metric}`` for the model, the additive and mean-shift baselines and the ceiling.

    Parameters
    ----------
    adata
        Expression in ``X`` (or ``layer``/``.raw``), representations in ``varm``/``obsm``.
    perturbation_key
        ``obs`` column of each cell's perturbation, named after the perturbed gene as in
        ``var_names``; doubles are written ``A+B``.
    use_rep
        ``obsm`` key(s) of cell embeddings, each used through the control cells only (above).
        ``None``: none (the ``linear`` reference and ``gene_rep`` are scored).
    gene_rep
        ``varm`` key(s) of gene representations (genes x d, NaN rows for genes without one),
        or ``{name: DataFrame}`` of tables indexed by gene name, which may hold genes beyond
        the measured ones (e.g. :func:`scmf.models.gene_table` over a model's vocabulary): a
        perturbation of an unmeasured gene is then predicted too.
    control_label
        The value marking control cells.
    context_key
        ``obs`` column of contexts (cell line, cell type, screen) with their own controls:
        each (perturbation, context) pair is a unit named ``"perturbation (context)"``,
        compared with the controls of its context (deltas, DE, the ceiling), predicted from
        the training perturbations of its context (the mean-shift and cell-mean baselines;
        the linear model centres each context on its own mean change), and a double's
        singles are looked up in its own context. Contexts with fewer than ``min_cells``
        control cells are left out (warned).
    splits
        ``"auto"`` or a tuple of ``"random"``, ``"shift"``, ``"doubles"``.
    test_size
        Fraction of perturbations held out by the random split.
    shift_levels
        Fractions of the training perturbations, most similar first, removed per shift level.
    n_top_genes
        Genes of ``pearson_delta_de``.
    fdr_threshold
        FDR below which a gene is differentially expressed.
    combo_sep
        Separator of combined perturbations.
    n_comps
        Principal components of the ``linear`` reference's gene representation.
    ridge_penalty
        Ridge penalty on both sides of ``K`` (the paper's 0.1).
    min_cells
        Perturbations with fewer cells are left out (warned); each half of the ceiling has
        half of them.
    layer, use_raw, normalize
        Expression read, as in :func:`scmf.bm.perturbation` (counts are log-normalised on a copy).
    seed
        Seed of the random split and of the halves.

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy_perturbation(n_perturbations=16, target_genes=True, seed=0)
    >>> scmf.bm.perturbation_response(adata, splits=("random",))
    >>> m = scmf.bm.results(adata).set_index("metric")["value"]
    >>> bool(m["ceiling_pearson_delta"] > m["pearson_delta"] > m["mean_shift_pearson_delta"])
    True
    """
    func = "perturbation_response"
    tables = gene_tables(adata, gene_rep, func)
    if isinstance(n_comps, bool) or not isinstance(n_comps, int | np.integer) or n_comps < 1:
        msg = f"n_comps must be a positive integer, got {n_comps!r}."
        raise ValueError(msg)
    if not np.isfinite(ridge_penalty) or ridge_penalty <= 0:
        msg = f"ridge_penalty must be a positive number, got {ridge_penalty!r}."
        raise ValueError(msg)
    labels = get_labels(adata, perturbation_key, param="perturbation_key", func=func)
    cats = np.asarray(labels.categories, dtype=object)
    ctrl = control_index(cats, control_label, perturbation_key)
    check_splits(test_size, 1)
    pcode = labels.full_codes()
    if context_key is not None:
        ctx = get_labels(adata, context_key, param="context_key", func=func)
        ctx_names = np.asarray(ctx.categories, dtype=str)
        ccode = ctx.full_codes()
        pcode[ccode < 0] = -1
    else:
        ctx_names = np.asarray([""])
        ccode = np.zeros(adata.n_obs, dtype=np.int64)
    n_c = ctx_names.size
    # a unit is a (perturbation, context) pair; controls are units too, one per context
    ucode = np.where(pcode >= 0, pcode * n_c + np.maximum(ccode, 0), -1)
    counts = np.bincount(ucode[ucode >= 0], minlength=cats.size * n_c)
    ok_ctx = contexts_with_controls(
        counts[ctrl * n_c : (ctrl + 1) * n_c], min_cells, by_context=context_key is not None, func=func
    )

    def unit_name(u: int) -> str:
        p_, c_ = divmod(int(u), n_c)
        return str(cats[p_]) if context_key is None else f"{cats[p_]} ({ctx_names[c_]})"

    cand = np.asarray([u for u in range(cats.size * n_c) if u // n_c != ctrl and counts[u] > 0])
    no_ctrl = [u for u in cand if not ok_ctx[u % n_c]]
    if no_ctrl:
        warn(
            f"{func}: leaving out {len(no_ctrl)} perturbations in contexts with fewer than {min_cells} control cells: {name_list([unit_name(u) for u in no_ctrl])}."
        )
    small = [u for u in cand if ok_ctx[u % n_c] and counts[u] < min_cells]
    if small:
        warn(
            f"{func}: leaving out {len(small)} perturbations with fewer than {min_cells} cells: {name_list([unit_name(u) for u in small])}."
        )
    units = np.asarray([u for u in cand if ok_ctx[u % n_c] and counts[u] >= min_cells], dtype=np.int64)
    n_p = units.size
    if n_p < MIN_TRAIN + 2:
        msg = f"{func} needs at least {MIN_TRAIN + 2} perturbations besides the control with >= {min_cells} cells; found {n_p}."
        raise ValueError(msg)
    names = np.asarray([unit_name(u) for u in units], dtype=str)
    base = np.asarray([str(cats[u // n_c]) for u in units], dtype=str)  # the perturbation without its context
    unit_ctx = units % n_c

    # which splits; a double's singles are looked up in its own context
    singles = np.asarray([combo_sep not in n for n in base])
    key_of = {(b_, c_): i for i, (b_, c_) in enumerate(zip(base, unit_ctx, strict=True))}
    parts_of = {i: [key_of.get((p_, unit_ctx[i])) for p_ in base[i].split(combo_sep)] for i in range(n_p)}
    is_double = np.asarray(
        [(not singles[i]) and all(j is not None and singles[j] for j in parts_of[i]) for i in range(n_p)]
    )
    wanted = (
        ("random", "shift", "doubles")
        if splits == "auto"
        else tuple([splits] if isinstance(splits, str) else splits)
    )
    unknown = set(wanted) - {"random", "shift", "doubles"}
    if unknown or not wanted:
        msg = f"splits must be 'auto' or a tuple of 'random', 'shift', 'doubles'; got {splits!r}."
        raise ValueError(msg)
    if "doubles" in wanted and (is_double.sum() < 1 or singles.sum() < MIN_TRAIN):
        if splits != "auto":
            msg = (
                f"{func}: splits includes 'doubles' but obs[{perturbation_key!r}] has {int(is_double.sum())} double "
                f"perturbations ('A{combo_sep}B' with both singles present) and {int(singles.sum())} singles."
            )
            raise ValueError(msg)
        wanted = tuple(w for w in wanted if w != "doubles")

    # group means in one product: each unit (0..n_p-1), each context's control (n_p + c), each unit's halves
    rng = np.random.default_rng([int(seed), 0x11A])
    pos_of = np.full(cats.size * n_c, -1)
    pos_of[units] = np.arange(n_p)
    is_ctrl_cell = (pcode == ctrl) & ok_ctx[np.maximum(ccode, 0)] & (ccode >= 0)
    cell_rows = np.flatnonzero(is_ctrl_cell | (np.where(ucode >= 0, pos_of[np.maximum(ucode, 0)], -1) >= 0))
    uc = ucode[cell_rows]
    is_c = is_ctrl_cell[cell_rows]
    unit = np.where(is_c, n_p + ccode[cell_rows], pos_of[uc])  # n_p + c: the control of context c
    half = np.zeros(cell_rows.size, dtype=np.int64)
    order_u = np.argsort(unit, kind="stable")
    bounds = np.searchsorted(unit[order_u], np.arange(n_p + 1))
    for u in range(n_p):  # a random half of each perturbation's cells
        mine = order_u[bounds[u] : bounds[u + 1]]
        half[rng.permutation(mine)[: mine.size // 2]] = 1
    first_half = n_p + n_c
    rows = np.concatenate([unit, np.where(unit < n_p, first_half + unit * 2 + half, -1)])
    cols = np.concatenate([cell_rows, cell_rows])
    ok = rows >= 0
    n_groups = first_half + 2 * n_p
    sizes = np.bincount(rows[ok], minlength=n_groups).astype(np.float64)
    M = sparse.csr_matrix((1.0 / sizes[rows[ok]], (rows[ok], cols[ok])), shape=(n_groups, adata.n_obs))

    src, src_layer = with_raw(adata, layer, use_raw)
    X, scale, action = log_normalised(get_expression(src, src_layer), normalize, func)
    means = M @ X
    means = means.toarray() if sparse.issparse(means) else np.asarray(means)
    control = means[n_p + unit_ctx]  # each unit's own control mean (units x genes)
    delta = means[:n_p] - control
    delta_half = (means[first_half::2] - control, means[first_half + 1 :: 2] - control)  # half 0, half 1
    genes = np.asarray(src.var_names, dtype=str)
    gene_pos = {g: i for i, g in enumerate(genes)}
    target_cols = np.asarray([gene_pos.get(n, -1) for n in base])
    n_ctrl = sizes[n_p + unit_ctx]  # control cells of each unit's context

    # measured DE: each unit against its context's controls, and each unit's second half (the ceiling's truth)
    from .._kernels import benjamini_hochberg, rank_sum_vs_reference

    Xs = X[cell_rows]
    Xc = sparse.csc_matrix(Xs) if not sparse.issparse(Xs) else Xs.tocsc()
    Xc.sort_indices()
    del Xs
    values = Xc.data.astype(np.float64, copy=False)
    p_full = np.ones((n_p, genes.size))
    p_half = np.ones((n_p, genes.size))
    cell_ctx = ccode[cell_rows]
    for c in np.flatnonzero(ok_ctx):  # one pass per context: its units against its own controls
        mine = cell_ctx == c
        ref = np.where(mine & is_c, -1, -2)
        group = np.where(mine & ~is_c, unit, ref).astype(np.int64)
        _, P = rank_sum_vs_reference(
            Xc.indptr, Xc.indices, values, group, n_p, sizes[:n_p].astype(np.int64), int(sizes[n_p + c])
        )
        group_half = np.where(mine & ~is_c & (half == 1), unit, ref).astype(np.int64)
        _, Ph = rank_sum_vs_reference(
            Xc.indptr,
            Xc.indices,
            values,
            group_half,
            n_p,
            sizes[first_half + 1 :: 2].astype(np.int64),
            int(sizes[n_p + c]),
        )
        in_c = unit_ctx == c
        p_full[in_c], p_half[in_c] = P[in_c], Ph[in_c]
    del Xc, values
    fdr = benjamini_hochberg(p_full)
    fdr_half = benjamini_hochberg(p_half)
    lfc = log2_fold_change(means[:n_p], control)
    lfc_half = log2_fold_change(means[first_half + 1 :: 2], control)
    half_cells = (sizes[first_half::2], sizes[first_half + 1 :: 2])
    n_cells_pert = sizes[:n_p]

    # splits of perturbations: (name, train, test)
    n_test = max(1, int(np.ceil(float(test_size) * n_p)))
    if n_p - n_test < MIN_TRAIN:
        msg = f"test_size={test_size} leaves {n_p - n_test} training perturbations; at least {MIN_TRAIN} are needed."
        raise ValueError(msg)
    order = np.random.default_rng(int(seed)).permutation(n_p)
    test = np.sort(order[:n_test])
    train = np.sort(order[n_test:])
    split_list: list[tuple[str, np.ndarray, np.ndarray]] = []
    dissimilarity: dict[str, float] = {}
    unit_vec = delta / np.maximum(np.linalg.norm(delta, axis=1, keepdims=True), 1e-12)
    sim = unit_vec @ unit_vec.T

    def _dissim(tr, te) -> float:
        return float(np.mean(1.0 - sim[np.ix_(te, tr)].max(axis=1)))

    if "random" in wanted or "shift" in wanted:
        split_list.append(("random", train, test))
        dissimilarity["random"] = _dissim(train, test)
    if "shift" in wanted:
        closeness = sim[np.ix_(train, test)].max(axis=1)
        by_close = train[np.argsort(-closeness, kind="stable")]
        for f in shift_levels:
            drop = int(np.ceil(float(f) * train.size))
            kept = np.sort(by_close[drop:])
            if kept.size < MIN_TRAIN:
                warn(
                    f"{func}: shift level {f} leaves {kept.size} training perturbations (< {MIN_TRAIN}); skipped."
                )
                continue
            split_list.append((f"shift{f:g}", kept, test))
            dissimilarity[f"shift{f:g}"] = _dissim(kept, test)
    if "doubles" in wanted:
        split_list.append(("doubles", np.flatnonzero(singles), np.flatnonzero(is_double)))
        dissimilarity["doubles"] = _dissim(np.flatnonzero(singles), np.flatnonzero(is_double))

    # the spread of each gene over the cells known before a split's predictions: controls and training cells
    Xsq = X.multiply(X) if sparse.issparse(X) else np.asarray(X) ** 2
    second = M[: n_p + n_c] @ Xsq
    second = second.toarray() if sparse.issparse(second) else np.asarray(second)
    del Xsq
    ctrl_groups = n_p + np.flatnonzero(ok_ctx)

    def _spread(tr) -> np.ndarray:
        g = np.concatenate([tr, ctrl_groups])
        w = sizes[g]
        n = w.sum()
        s1 = (w[:, None] * means[g]).sum(axis=0)
        s2 = (w[:, None] * second[g]).sum(axis=0)
        return np.maximum(s2 - s1**2 / n, 0.0) / max(n - 1.0, 1.0)

    def _references(tr, te, *, additive: bool) -> dict[str, np.ndarray]:
        cell_mean = np.empty((te.size, delta.shape[1]))
        mean_shift = np.empty_like(cell_mean)
        for c in np.unique(unit_ctx[te]):  # with contexts: the training perturbations of the same context
            own = tr[unit_ctx[tr] == c] if context_key is not None else tr
            own = own if own.size else tr
            w = n_cells_pert[own]
            rows = unit_ctx[te] == c
            cell_mean[rows] = (w[:, None] * delta[own]).sum(0) / w.sum()
            mean_shift[rows] = delta[own].mean(axis=0)
        refs = {
            "cell_mean": cell_mean,
            "mean_shift": mean_shift,
            "no_change": np.zeros((te.size, delta.shape[1])),
        }
        if additive:  # the doubles split: every test perturbation is a double of trained singles
            refs["additive"] = np.stack([delta[parts_of[i]].sum(axis=0) for i in te])
        return refs

    def _scores(pred, te, spread, *, half_truth=False):
        """Every metric per held-out perturbation; a prediction is called DE at the power of the cells it stands for."""
        ok_rows = ~np.isnan(pred).any(axis=1)
        out = {m: np.full(te.size, np.nan) for m in PROFILE_METRICS}
        if ok_rows.sum() < 1:
            return out
        te_ok = te[ok_rows]
        truth = delta_half[1][te_ok] if half_truth else delta[te_ok]
        cells = (half_cells[0] if half_truth else n_cells_pert)[te_ok]
        s = profile_scores(
            pred[ok_rows], truth, control[te_ok],
            (fdr_half if half_truth else fdr)[te_ok], (lfc_half if half_truth else lfc)[te_ok],
            target_cols[te_ok], predicted_fdr(pred[ok_rows], spread, n_ctrl[te_ok], cells),
            n_top_genes=n_top_genes, fdr_threshold=fdr_threshold,
        )  # fmt: skip
        for m in PROFILE_METRICS:
            out[m][ok_rows] = s[m]
        return out

    rows_of = target_rows(base, gene_pos, combo_sep)
    unmeasured = [str(n) for n, r in zip(names, rows_of, strict=True) if min(r) < 0]
    if unmeasured:
        warn(
            f"{func}: {len(unmeasured)} of {n_p} perturbations target genes that are not in var_names "
            f"({name_list(unmeasured)}); the linear reference and cell embeddings represent a perturbation by its "
            "measured gene and cannot predict them outside the doubles split (see coverage). A gene_rep that covers "
            "them can."
        )
    n_ok_ctx = int(ok_ctx.sum())
    identity = {int(i): [int(j) for j in parts_of[i]] for i in np.flatnonzero(is_double)}

    lin_kw = {"n_controls": n_ok_ctx, "ridge": ridge_penalty}
    if context_key is not None:  # each context centred on its own training changes
        lin_kw.update(unit_context=unit_ctx, control_context=np.flatnonzero(ok_ctx))

    def _linear(G, split, tr, te, P_of=None) -> np.ndarray:
        """The linear model with gene representation ``G`` (and the perturbations' ``P_of``)."""
        if split == "doubles":  # every single is trained: each is its own indicator
            return linear_predict(G, delta, tr, te, None, identity=identity, **lin_kw)
        if P_of is None:
            P_of = representation_P(G, rows_of)
        return linear_predict(G, delta, tr, te, P_of, **lin_kw)

    # what does not read a representation: references once per split, the ceiling once per test set
    fixed: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    fixed_pred: dict[str, dict[str, np.ndarray]] = {}
    spreads: dict[str, np.ndarray] = {}
    ceilings: dict[bytes, dict[str, np.ndarray]] = {}
    for split, tr, te in split_list:
        spreads[split] = spread = _spread(tr)
        refs = _references(tr, te, additive=split == "doubles")
        G_pca = pseudobulk_pca(np.vstack([means[tr], means[ctrl_groups]]), n_comps)
        refs["linear"] = _linear(G_pca, split, tr, te)
        fixed_pred[split] = {r: np.asarray(v) for r, v in refs.items()}
        fixed[split] = {r: _scores(np.asarray(v), te, spread) for r, v in refs.items()}
        if te.tobytes() not in ceilings:
            ceilings[te.tobytes()] = _scores(delta_half[0][te], te, spread, half_truth=True)
        fixed[split]["ceiling"] = ceilings[te.tobytes()]
        fixed_pred[split]["ceiling"] = delta_half[0][te]

    def _score_predictor(predict, *, scored_as: str | None = None) -> Score:
        """Score ``predict(split, train, test) -> predicted deltas`` (NaN rows: not covered) beside the references."""
        metrics: dict[str, float] = {}
        per_rows = {"split": [], "perturbation": [], "predictor": [], **{m: [] for m in PROFILE_METRICS}}
        pred_rows: dict[str, list] = {"split": [], "perturbation": [], "predictor": [], "delta": []}
        replicates: dict[str, np.ndarray] = {}
        curve: dict[str, dict[str, float]] = {}
        coverage: dict[str, float] = {}
        for split, tr, te in split_list:
            pred = predict(split, tr, te)
            own = fixed[split][scored_as] if scored_as else _scores(pred, te, spreads[split])
            by = {"model": own, **fixed[split]}
            preds = {"model": pred, **fixed_pred[split]}
            for who, s in by.items():
                per_rows["split"] += [split] * te.size
                per_rows["perturbation"] += list(names[te])
                per_rows["predictor"] += [who] * te.size
                for m in PROFILE_METRICS:
                    per_rows[m].append(s[m])
                pred_rows["split"] += [split] * te.size
                pred_rows["perturbation"] += list(names[te])
                pred_rows["predictor"] += [who] * te.size
                pred_rows["delta"].append(np.asarray(preds[who], dtype=np.float32))
            cov = {who: float(np.mean(~np.isnan(p).any(axis=1))) for who, p in preds.items()}
            coverage[split] = cov["model"]
            means_ = {
                who: {
                    m: float(np.nanmean(s[m])) if np.isfinite(s[m]).any() else float("nan")
                    for m in PROFILE_METRICS
                }
                for who, s in by.items()
            }
            curve[split] = {
                f"{who}:{m}": means_[who][m]
                for who in ("model", "mean_shift", "cell_mean", "linear", "ceiling")
                for m in KEY_METRICS
            }
            if split == "random":
                for who, vals in means_.items():
                    prefix = "" if who == "model" else f"{who}_"
                    shown = PROFILE_METRICS if who == "model" else KEY_METRICS
                    metrics.update({f"{prefix}{m}": vals[m] for m in shown})
                metrics["coverage"] = cov["model"]
                metrics["linear_coverage"] = cov["linear"]
                replicates = {m: by["model"][m] for m in PROFILE_METRICS if np.isfinite(by["model"][m]).all()}
            elif split.startswith("shift"):
                metrics[f"pearson_delta_{split}"] = means_["model"]["pearson_delta"]
                metrics[f"mean_shift_pearson_delta_{split}"] = means_["mean_shift"]["pearson_delta"]
            else:
                for who, vals in means_.items():
                    if who == "cell_mean":
                        continue
                    prefix = "doubles_" if who == "model" else f"doubles_{who}_"
                    metrics.update({f"{prefix}{m}": vals[m] for m in KEY_METRICS})
                metrics["doubles_coverage"] = cov["model"]
        shift_splits = [s for s in curve if s == "random" or s.startswith("shift")]
        if "shift" in wanted and len(shift_splits) >= 2:
            x = np.asarray([dissimilarity[s] for s in shift_splits])
            o = np.argsort(x, kind="stable")
            width = x[o][-1] - x[o][0]
            for m in ("pearson_delta", "discrimination_score"):
                for who, prefix in (("model", ""), ("mean_shift", "mean_shift_")):
                    y = np.asarray([curve[s][f"{who}:{m}"] for s in shift_splits])[o]
                    metrics[f"{prefix}{m}_shift_auc"] = (
                        float(np.trapezoid(y, x[o]) / width) if width > 0 else float(np.mean(y))
                    )
        return Score(
            metrics,
            replicates=replicates if replicates and len(next(iter(replicates.values()))) > 1 else {},
            replicate_kind="splits",
            metadata={"coverage": coverage},
            artifacts={
                "per_perturbation": {
                    k: (np.concatenate(v) if k in PROFILE_METRICS else list(v)) for k, v in per_rows.items()
                },
                "predictions": {
                    "split": pred_rows["split"],
                    "perturbation": pred_rows["perturbation"],
                    "predictor": pred_rows["predictor"],
                    "delta": np.vstack(pred_rows["delta"]),
                },
                "curve": {
                    "split": list(curve),
                    **{k: np.asarray([curve[s][k] for s in curve]) for k in next(iter(curve.values()))},
                },
            },
        )

    ctrl_rows = np.flatnonzero(is_ctrl_cell)
    X_ctrl = X[ctrl_rows]
    ctrl_ctx = ccode[ctrl_rows]

    def _uncovered(P: np.ndarray) -> list[str]:
        return [str(n) for n, p in zip(names, P, strict=True) if np.isnan(p).any()]

    def score(E: np.ndarray) -> Score:
        """A cell embedding, used only through the control cells: each gene's covariance with it."""
        G = unit_scale(cell_loadings(X_ctrl, E[ctrl_rows], ctrl_ctx))
        P_of = representation_P(G, rows_of)
        s = _score_predictor(lambda split, tr, te: _linear(G, split, tr, te, P_of))
        s.metadata.update({"gene_representation": "covariance with the embedding over the control cells",
                           "targets_without_representation": _uncovered(P_of)})  # fmt: skip
        return s

    def linear_reference() -> Score:  # predicted and scored with the references, once per split
        s = _score_predictor(lambda split, tr, te: fixed_pred[split]["linear"], scored_as="linear")
        s.metadata.update({"gene_representation": f"top {n_comps} principal components of the training pseudobulk",
                           "targets_without_representation": unmeasured})  # fmt: skip
        return s

    extra: dict = {"linear": linear_reference}
    for key, table in tables.items():
        G_fit, P_rep, n_missing = table_representation(table, genes, base, combo_sep)

        def from_genes(G_fit=G_fit, P_rep=P_rep, n_missing=n_missing) -> Score:
            s = _score_predictor(lambda split, tr, te: _linear(G_fit, split, tr, te, P_rep))
            s.metadata.update({"gene_representation": "gene_rep", "genes_without_representation": n_missing,
                               "targets_without_representation": _uncovered(P_rep)})  # fmt: skip
            return s

        extra[key] = from_genes

    return Prepared(
        score,
        extra=extra,
        metadata={
            "n_cells": int(cell_rows.size),
            "n_control_cells": int(sizes[n_p : n_p + n_c][ok_ctx].sum()),
            "context_key": context_key,
            "n_contexts": int(ok_ctx.sum()),
            "n_perturbations": int(n_p),
            "n_test": int(n_test),
            "n_doubles": int(is_double.sum()),
            "n_genes": int(genes.size),
            "splits": [s for s, _, _ in split_list],
            "shift_dissimilarity": dissimilarity,
            "n_de_genes_median": float(np.median((fdr < fdr_threshold).sum(axis=1))),
            "perturbation_key": perturbation_key,
            "control_label": str(control_label),
            "dropped_perturbations": [unit_name(u) for u in [*small, *no_ctrl]],
            "input_scale": scale,
            "overlap_k": list(OVERLAP_K),
        },
        params={
            "normalize": action,
            "control_label": str(control_label),
            "splits": list(wanted),
            "gene_rep": list(tables),
        },
    )
