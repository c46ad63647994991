from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from .._expression import get_expression, log_normalised, with_raw
from .._validate import get_labels
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark, check_splits
from ._metrics._regression import RESPONSE_METRICS, response_scores
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

METRICS = RESPONSE_METRICS
_DECLARED = (
    Metric(
        "pearson", "perturbation", True, (-1.0, 1.0), "correlation of predicted and true deltas on top genes"
    ),
    Metric("mse", "perturbation", False, None, "mean squared error of the predicted deltas on top genes"),
    Metric("direction_accuracy", "perturbation", description="share of top genes whose delta sign is right"),
    Metric("baseline_pearson", "baseline", True, (-1.0, 1.0), "pearson of the mean-shift baseline"),
    Metric("baseline_mse", "baseline", False, None, "mse of the mean-shift baseline"),
    Metric(
        "baseline_direction_accuracy", "baseline", description="direction accuracy of the mean-shift baseline"
    ),
    Metric(
        "fraction_above_baseline",
        "perturbation",
        description="share of test perturbations where pearson beats the baseline",
    ),
)
MEASURES = (
    "encoding: the held-out perturbations' own cells are the predictor's input, so it asks whether the "
    "embedding encodes perturbation state, not whether a model predicts an unseen perturbation "
    "(that is perturbation_response)"
)
_CONTROL_LIKE = re.compile(r"ctrl|control|non.?target|scrambl|dmso|vehicle|untreated|^nt$", re.IGNORECASE)


def _context_columns(adata, perturbation_key: str, labels, ctrl: int) -> list[tuple[str, int]]:
    """obs columns whose values split the cells into contexts (cell line, cell type, dataset).

    A column qualifies when the controls span at least two of its values (each with >= 5
    control cells), the perturbed cells carry values the controls have too (>= 90% of them:
    not a per-perturbation label), and the perturbations' mix of values differs from the
    controls. (median total-variation distance > 0.5): one global control mean then compares
    each perturbation with cells of other contexts. Sorted by number of values, finest first.
    """
    import pandas as pd

    cells = np.flatnonzero(labels.mask)
    codes = labels.codes
    is_ctrl = codes == ctrl
    out = []
    for col in adata.obs.columns:
        if col == perturbation_key:
            continue
        series = adata.obs[col]
        if not (isinstance(series.dtype, pd.CategoricalDtype) or series.dtype == object):
            continue
        v_codes, uniq = pd.factorize(series.to_numpy()[cells])
        if not 2 <= uniq.size <= 50:
            continue
        ctrl_counts = np.bincount(v_codes[is_ctrl & (v_codes >= 0)], minlength=uniq.size)
        ctx = ctrl_counts >= 5
        if ctx.sum() < 2:
            continue
        pert = ~is_ctrl & (v_codes >= 0)
        if not pert.any() or np.mean(ctx[v_codes[pert]]) < 0.9:
            continue
        table = pd.crosstab(codes[pert], v_codes[pert]).reindex(columns=range(uniq.size), fill_value=0)
        p_mix = table.to_numpy() / table.to_numpy().sum(axis=1, keepdims=True)
        c_mix = ctrl_counts / ctrl_counts.sum()
        tvd = 0.5 * np.abs(p_mix - c_mix).sum(axis=1)
        if np.median(tvd) > 0.5:
            out.append((str(col), int(ctx.sum())))
    return sorted(out, key=lambda t: -t[1])


def _warn_mixed_contexts(adata, perturbation_key: str, labels, ctrl: int) -> None:
    found = _context_columns(adata, perturbation_key, labels, ctrl)
    if not found:
        return
    cols = ", ".join(f"obs[{c!r}] ({n} values)" for c, n in found)
    warn(
        f"perturbation: the control cells span several values of {cols}, in proportions the perturbed "
        "cells do not share: one control mean mixes these contexts and inflates every score (the mean-shift "
        f"baseline's too). Pass context_key={found[0][0]!r} to compare each perturbation with the controls of "
        "its own context."
    )


def control_index(categories, control_label, perturbation_key: str) -> int:
    """Position of ``control_label`` among the perturbation labels; absent, an error that names likely controls."""
    cats = [str(c) for c in categories]
    if str(control_label) not in cats:
        likely = [c for c in cats if _CONTROL_LIKE.search(c)]
        shown = cats if len(cats) <= 30 else [*cats[:20], f"... ({len(cats)} in all)"]
        msg = (
            f"control_label={control_label!r} is not a value of obs[{perturbation_key!r}] (values: {shown}"
            + (f"; likely controls: {likely}" if likely else "")
            + "); pass the label your control cells carry."
        )
        raise ValueError(msg)
    return cats.index(str(control_label))


def contexts_with_controls(
    control_counts: np.ndarray, min_cells: int, *, by_context: bool, func: str = ""
) -> np.ndarray:
    """Which contexts have at least ``min_cells`` control cells; none is an error."""
    ok = control_counts >= min_cells
    if not ok.any():
        msg = (
            f"{func + ': ' if func else ''}only {int(control_counts.max())} control cells (< min_cells={min_cells})"
            + (" in every context" if by_context else "")
            + "; the control mean would be unreliable."
        )
        raise ValueError(msg)
    return ok


MIN_TRAIN = 3
"""Training perturbations a split needs at the least: with one or two the ridge regression
learns their mean shift and scores as the mean-shift baseline, a number that means nothing."""


@benchmark("perturbation", _DECLARED, aliases={"test_fraction": "test_size"}, measures=MEASURES)
def perturbation(
    adata: AnnData,
    perturbation_key: str = "perturbation",
    *,
    control_label: str = "control",
    context_key: str | None = None,
    test_size: float = 0.3,
    n_top_genes: int = 50,
    n_splits: int = 1,
    alpha: float = 1.0,
    layer: str | None = None,
    use_raw: bool = False,
    normalize: str = "auto",
    min_cells: int = 5,
    seed: int = 42,
    n_examples: int = 12,
) -> Prepared:
    """Perturbation response: does the embedding predict held-out perturbations' expression shifts?

    For every perturbation ``p`` the expression delta is ``mean(X[p]) - mean(X[control])``
    (genes) and its feature is the mean embedding of its cells. Perturbations (not cells)
    are split into train and test; a ``Ridge`` regression from feature to delta is fitted on
    the training perturbations and predicts the test ones. On each test perturbation's top
    ``n_top_genes`` genes by ``|true delta|`` it scores ``pearson``, ``mse`` and
    ``direction_accuracy`` (share of genes whose predicted and true deltas have the same
    sign), and the same for the mean-shift baseline (the mean training delta, predicted for
    every test perturbation); ``fraction_above_baseline`` is the share of test perturbations
    where the model's Pearson beats the baseline's.

    What it does and does not measure: the feature of a test perturbation is built from its
    own perturbed cells, so this asks whether the embedding *represents* a perturbation's
    effect in a form a linear map can read out across perturbations, not whether a model can
    predict the response of an intervention it has never seen cells of.

    Parameters
    ----------
    adata
        Annotated data matrix: expression in ``X`` (or ``layer``), embedding(s) in ``obsm``.
    perturbation_key
        ``obs`` column with the perturbation of each cell. Combined labels (``"A+B"``) are
        their own perturbation.
    control_label
        The value of ``perturbation_key`` marking control cells.
    context_key
        ``obs`` column of contexts (cell line, cell type, screen) with their own controls:
        each (context, perturbation) pair is a unit, and its delta is taken against the
        control cells of the same context. Contexts with fewer than ``min_cells`` control
        cells are dropped (warned). Default: one context, one control group.
    test_size
        Fraction of perturbations held out (the evaluation guide's name).
    n_top_genes
        Genes per test perturbation scored (largest ``|true delta|``).
    n_splits
        Random splits of the perturbations; metrics are means over splits, ``metrics_std``
        their standard deviation (``ddof=1``).
    alpha
        Ridge regularisation.
    layer
        Expression layer (``None``: ``X``). Deltas are computed on log-normalised values (see
        ``normalize``).
    normalize
        ``"auto"``: raw counts (non-negative integers) and unlogged values (TPM, FPKM) are
        normalised to 10,000 per cell and log1p'd first, as ``scmf.tl.baselines`` does for PCA
        (a copy; the data are not modified); log-normalised or scaled values are used as
        they are. ``"log1p"``: always normalise + log1p. ``"none"``: use the values as they
        are (a warning for counts). The action taken is recorded in ``params["normalize"]``
        (``"log1p"`` or ``"none"``) and the detected scale in ``metadata["input_scale"]``.
    use_raw
        Read the expression of ``adata.raw`` (scanpy's meaning), e.g. when ``X`` holds scaled
        values and ``.raw`` the log-normalised ones.
    min_cells
        Perturbations with fewer cells are dropped (warned); the control group needs as many.
    seed
        Seed of the splits.
    n_examples
        Test perturbations of the first split whose top-gene deltas (true, predicted,
        baseline) are kept in ``artifacts`` for plots.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Stores under
    ``adata.uns["scmf_bench"]["perturbation"][dataset_name][rep]``:

    ``metrics``
        ``pearson``, ``mse``, ``direction_accuracy``, ``baseline_pearson``,
        ``baseline_mse``, ``baseline_direction_accuracy``, ``fraction_above_baseline``
        (means over test perturbations, then over splits).
    ``metadata``
        ``n_cells``, ``n_control_cells``, ``n_perturbations``, ``n_train``, ``n_test``,
        ``n_genes``, ``n_top_genes``, ``test_size``, ``perturbation_key``, ``control_label``,
        ``dropped_perturbations``.
    ``artifacts``
        ``per_perturbation``: per (split, test perturbation) ``perturbation``, ``split``,
        ``pearson``, ``baseline_pearson``, ``mse``, ``baseline_mse``,
        ``direction_accuracy``, ``baseline_direction_accuracy``; ``examples``: for up to
        ``n_examples`` test perturbations, ``perturbation``, ``genes`` and ``true``,
        ``predicted``, ``baseline`` deltas on their top genes.

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy_perturbation(n_perturbations=12, seed=0)
    >>> scmf.tl.baselines(adata, n_comps=10)
    >>> scmf.bm.perturbation(adata, use_rep=["X_pca_baseline", "X_random_baseline"], n_top_genes=20)
    >>> r = scmf.bm.results(adata).query("metric == 'pearson'").set_index("rep")["value"]
    >>> bool(r["X_pca_baseline"] > r["X_random_baseline"])
    True
    """
    from sklearn.model_selection import ShuffleSplit

    check_splits(test_size, n_splits)
    if int(n_top_genes) < 2:
        msg = f"n_top_genes must be at least 2 (Pearson needs two values), got {n_top_genes}."
        raise ValueError(msg)
    labels = get_labels(adata, perturbation_key, param="perturbation_key", func="perturbation")
    cats = list(labels.categories)
    ctrl = control_index(cats, control_label, perturbation_key)
    n_p = len(cats)
    # units: (context, perturbation); without context_key a single context
    mask = labels.mask.copy()
    pcode_all = labels.full_codes()
    if context_key is not None:
        ctx = get_labels(adata, context_key, param="context_key", func="perturbation")
        ctx_names = list(ctx.categories)
        ccode_all = ctx.full_codes()
        mask &= ctx.mask
    else:
        ctx_names = [""]
        ccode_all = np.zeros(adata.n_obs, dtype=np.int64)
        _warn_mixed_contexts(adata, perturbation_key, labels, ctrl)
    n_c = len(ctx_names)
    cells = np.flatnonzero(mask)
    unit_of_cell = pcode_all[cells] * n_c + ccode_all[cells]
    counts = np.bincount(unit_of_cell, minlength=n_p * n_c)

    def unit_name(u: int) -> str:
        p, c = divmod(int(u), n_c)
        return cats[p] if context_key is None else f"{cats[p]} ({ctx_names[c]})"

    ctrl_units = ctrl * n_c + np.arange(n_c)
    ok_ctx = contexts_with_controls(counts[ctrl_units], min_cells, by_context=context_key is not None)
    units = np.arange(n_p * n_c)
    is_pert = (units // n_c != ctrl) & (counts > 0)
    no_ctrl = is_pert & ~ok_ctx[units % n_c]
    if no_ctrl.any():
        warn(
            f"perturbation: dropping {no_ctrl.sum()} perturbations in contexts with fewer than {min_cells} control "
            f"cells: {', '.join(unit_name(u) for u in np.flatnonzero(no_ctrl)[:20])}."
        )
    small = is_pert & ~no_ctrl & (counts < min_cells)
    if small.any():
        warn(
            f"perturbation: dropping {small.sum()} perturbations with fewer than {min_cells} cells: "
            f"{', '.join(f'{unit_name(u)} ({counts[u]})' for u in np.flatnonzero(small))}."
        )
    perts = np.flatnonzero(is_pert & ~no_ctrl & ~small)
    if perts.size < MIN_TRAIN + 1:
        msg = (
            f"perturbation needs at least {MIN_TRAIN + 1} perturbations besides the control with >= {min_cells} "
            f"cells ({MIN_TRAIN} to train on, 1 to test); found {perts.size}."
        )
        raise ValueError(msg)
    n_test = int(np.ceil(float(test_size) * perts.size))
    if perts.size - n_test < MIN_TRAIN:
        msg = (
            f"test_size={test_size} leaves {perts.size - n_test} training perturbations out of {perts.size}; "
            f"at least {MIN_TRAIN} are needed (fewer, and the ridge learns one mean shift and scores as the "
            "baseline). Lower test_size."
        )
        raise ValueError(msg)

    # group means of all cells at once: one sparse (groups x cells) averaging matrix
    ctrl_used = ctrl_units[ok_ctx]
    groups = np.concatenate([ctrl_used, perts])
    group_of = np.full(n_p * n_c, -1)
    group_of[groups] = np.arange(groups.size)
    rows = group_of[unit_of_cell]
    used = rows >= 0
    M = sparse.csr_matrix(
        (1.0 / counts[unit_of_cell[used]], (rows[used], cells[used])), shape=(groups.size, adata.n_obs)
    )
    ctrl_row_of_ctx = np.full(n_c, -1)
    ctrl_row_of_ctx[ctrl_used % n_c] = np.arange(ctrl_used.size)
    n_ctrl_rows = ctrl_used.size
    dropped = [unit_name(u) for u in np.flatnonzero(small | no_ctrl)]

    src, src_layer = with_raw(adata, layer, use_raw)
    X, scale, action = log_normalised(get_expression(src, src_layer), normalize, "perturbation")
    means = M @ X
    means = means.toarray() if sparse.issparse(means) else np.asarray(means)
    deltas = means[n_ctrl_rows:] - means[ctrl_row_of_ctx[perts % n_c]]  # (perturbations x genes)
    names = np.asarray([unit_name(u) for u in perts], dtype=object)
    var_names = np.asarray(src.var_names, dtype=object)
    k = min(int(n_top_genes), src.n_vars)
    splits = list(ShuffleSplit(n_splits=int(n_splits), test_size=n_test, random_state=seed).split(perts))

    def score(E: np.ndarray) -> Score:
        return _score(
            M @ E, deltas, names, var_names, splits, n_ctrl_rows, k=k, alpha=alpha, n_examples=n_examples
        )

    return Prepared(
        score,
        metadata={
            "n_cells": int(used.sum()),
            "n_control_cells": int(counts[ctrl_used].sum()),
            "context_key": context_key,
            "n_contexts": int(ok_ctx.sum()),
            "n_perturbations": int(perts.size),
            "n_train": int(perts.size - n_test),
            "n_test": int(n_test),
            "n_genes": int(src.n_vars),
            "n_top_genes": int(k),
            "test_size": float(test_size),
            "perturbation_key": perturbation_key,
            "control_label": str(control_label),
            "dropped_perturbations": dropped,
            "input_scale": scale,
        },
        params={
            "normalize": action,
            "test_size": float(test_size),
            "control_label": str(control_label),
            "alpha": float(alpha),
        },
    )


def _score(means_E, deltas, names, var_names, splits, n_ctrl_rows, *, k, alpha, n_examples) -> Score:
    from sklearn.linear_model import Ridge

    feats = means_E[n_ctrl_rows:]
    per = {m: [] for m in ("perturbation", "split", *METRICS, *(f"baseline_{m}" for m in METRICS))}
    split_metrics = []
    examples: dict[str, list] = {"perturbation": [], "genes": [], "true": [], "predicted": [], "baseline": []}
    for s, (train, test) in enumerate(splits):
        model = Ridge(alpha=alpha).fit(feats[train], deltas[train])
        pred = model.predict(feats[test])
        base = np.broadcast_to(deltas[train].mean(axis=0), pred.shape)
        true = deltas[test]
        top = np.argsort(-np.abs(true), axis=1, kind="stable")[:, :k]
        t_top = np.take_along_axis(true, top, axis=1)
        p_top = np.take_along_axis(pred, top, axis=1)
        b_top = np.take_along_axis(base, top, axis=1)
        scores = {**response_scores(t_top, p_top), **response_scores(t_top, b_top, "baseline_")}
        per["perturbation"].extend(names[test])
        per["split"].extend([s] * test.size)
        for m, v in scores.items():
            per[m].extend(v)
        above = scores["pearson"] > scores["baseline_pearson"]
        split_metrics.append(
            {
                **{m: float(np.nanmean(v)) for m, v in scores.items()},
                "fraction_above_baseline": float(np.mean(above)),
            }
        )
        if s == 0:
            ex = slice(0, min(n_examples, test.size))
            examples["perturbation"] = list(names[test][ex])
            examples["genes"] = var_names[top[ex]]
            examples["true"], examples["predicted"], examples["baseline"] = t_top[ex], p_top[ex], b_top[ex]
    order = [*METRICS, *(f"baseline_{m}" for m in METRICS), "fraction_above_baseline"]
    arr = {m: np.array([sm[m] for sm in split_metrics]) for m in order}
    return Score(
        metrics={m: float(arr[m].mean()) for m in order},
        replicates=arr if len(splits) > 1 else {},
        replicate_kind="splits",
        artifacts={
            "per_perturbation": {
                m: np.asarray(v) if m != "perturbation" else list(v) for m, v in per.items()
            },
            "examples": examples,
        },
    )
