"""Predicting an unseen perturbation from what was known before the experiment: arrays in, arrays out.

The linear model of Ahlmann-Eltze, Huber & Anders (Nature Methods 2025): the pseudobulk change
matrix ``Y`` (genes x training perturbations) is modelled as ``G K P`` plus a per-gene centre,
``G`` a representation of the measured genes (genes x k), ``P`` one of the perturbations
(m x training perturbations), ``K`` (k x m) solved in closed form with a ridge penalty on each
side. A held-out perturbation ``p`` is predicted as ``G K P[:, p] + centre``: it reads the
training perturbations' changes, the representations and nothing of its own cells.

Representations used by :func:`scmf.bm.perturbation_response` and
:func:`scmf.bm.cz_perturbation_expression_prediction`:

- the paper's reference: the top principal components of the training pseudobulk (genes as
  observations, each condition centred over genes; ``prcomp(Y_train, n)``'s scores), ``P`` the
  perturbed gene's row of the same matrix;
- a gene representation (``varm``, a model's gene embedding): ``G`` its rows, ``P`` the
  perturbed gene's row;
- a cell embedding: each measured gene's covariance with the embedding's dimensions over the
  control cells (what the embedding says about genes in unperturbed cells), ``P`` the
  perturbed gene's row.

A combination's ``P`` is the sum of its singles'. On the singles-to-doubles split every
single is a training perturbation, and each is represented by its own indicator (the
paper's ``identity`` perturbation embedding), a double by the sum of its singles'.
"""

from __future__ import annotations

import numpy as np

PREDICTS = (
    "prediction: a held-out perturbation is predicted only from what was known before it was measured "
    "(training perturbations, control cells, gene representations), never from its own cells"
)


def solve_y_axb(
    Y: np.ndarray, G: np.ndarray, P: np.ndarray, *, g_ridge: float = 0.1, p_ridge: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """``K`` and the per-gene centre of ``Y ~ G K P`` with ridge penalties on both sides.

    ``Y`` is genes x conditions, ``G`` genes x k, ``P`` m x conditions. The rows of ``Y`` are
    centred by their mean over the conditions (the centre, returned), then
    ``K = (G'G + g I)^-1 G' Y P' (P P' + p I)^-1``, the closed form of the paper's ``solve_y_axb``.

    Examples
    --------
    >>> import numpy as np
    >>> from scmf.bm._predictors import solve_y_axb
    >>> rng = np.random.default_rng(0)
    >>> G, P, K = rng.normal(size=(50, 3)), rng.normal(size=(2, 40)), rng.normal(size=(3, 2))
    >>> P = P - P.mean(axis=1, keepdims=True)  # centred perturbations: the centre takes nothing of K
    >>> K_hat, centre = solve_y_axb(G @ K @ P, G, P, g_ridge=1e-9, p_ridge=1e-9)
    >>> bool(np.allclose(K_hat, K, atol=1e-6))
    True
    """
    Y = np.asarray(Y, dtype=np.float64)
    centre = Y.mean(axis=1)
    Yc = Y - centre[:, None]
    left = np.linalg.solve(G.T @ G + g_ridge * np.eye(G.shape[1]), G.T @ Yc)  # k x conditions
    right = np.linalg.solve(P @ P.T + p_ridge * np.eye(P.shape[0]), P @ left.T)  # m x k
    return right.T, centre


def pseudobulk_pca(means: np.ndarray, n_comps: int) -> np.ndarray:
    """The genes' scores on the top ``n_comps`` principal components of the training pseudobulk.

    ``means`` is conditions x genes (log-normalised means of the training perturbations and
    the controls). As the paper's ``prcomp_irlba(genes x conditions, n)``: each condition is
    centred over the genes, the genes are the observations, the scores ``U D`` returned
    (genes x n_comps; exact SVD, so no random start).
    """
    A = np.asarray(means, dtype=np.float64).T  # genes x conditions
    A = A - A.mean(axis=0, keepdims=True)
    n = int(min(n_comps, *A.shape))
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    return U[:, :n] * s[:n]


def cell_loadings(X_ctrl, E_ctrl: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Each gene's covariance with each embedding dimension over the control cells (genes x d).

    ``X_ctrl`` (cells x genes, sparse or dense) and ``E_ctrl`` (cells x d) are the control
    cells; with ``groups`` (a context per cell) each context is centred on its own means.
    """
    from scipy import sparse

    E = np.asarray(E_ctrl, dtype=np.float64)
    groups = np.zeros(E.shape[0], dtype=np.int64) if groups is None else np.asarray(groups)
    out = np.zeros((X_ctrl.shape[1], E.shape[1]))
    n_total = 0
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        Xg = X_ctrl[rows]
        Eg = E[rows] - E[rows].mean(axis=0)
        prod = Xg.T @ Eg  # the centred embedding makes the expression's centring unnecessary
        out += np.asarray(prod.toarray() if sparse.issparse(prod) else prod)
        n_total += rows.size
    return out / max(n_total - 1, 1)


def unit_scale(G: np.ndarray) -> np.ndarray:
    """``G`` divided by its root-mean-square entry, so that one ridge penalty means the same for
    every representation (a cell embedding's covariances may be 1e-3, a gene embedding's 1)."""
    rms = float(np.sqrt(np.mean(G**2))) if G.size else 0.0
    return G / rms if rms > 0 else G


def target_rows(names, gene_pos: dict[str, int], sep: str) -> list[list[int]]:
    """The rows of each perturbation's target genes (``A+B`` -> two rows; ``-1`` where not a gene of ``gene_pos``)."""
    return [[gene_pos.get(p, -1) for p in str(n).split(sep)] for n in names]


def linear_predict(
    G: np.ndarray,
    delta: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    P_of: np.ndarray | None,
    *,
    n_controls: int = 1,
    ridge: float = 0.1,
    identity: dict[int, list[int]] | None = None,
    unit_context: np.ndarray | None = None,
    control_context: np.ndarray | None = None,
) -> np.ndarray:
    """Predicted changes of the ``test`` units (rows of ``delta``), NaN where a unit has no ``P``.

    ``delta`` is units x genes (each unit's change from its control mean); ``P_of`` units x k
    (each unit's perturbation representation, NaN rows where a target has none). The
    controls (``n_controls`` of them, one per context) are training conditions whose change
    and representation are 0. With ``identity`` (test unit -> its training singles, the
    singles-to-doubles split), each training unit is its own indicator and a test unit the sum
    of its singles' indicators; ``P_of`` is then not read.

    With contexts (``unit_context`` per unit, ``control_context`` per control), each training
    condition is centred on the mean of its own context's training conditions (its control
    included) and a test unit gets its context's centre back: cell lines with changes of
    different size do not pull one another's predictions (one context: the paper's per-gene
    centre).
    """
    genes = delta.shape[1]
    if identity is not None:
        pos = {int(u): i for i, u in enumerate(train)}
        P_train = np.hstack([np.eye(train.size), np.zeros((train.size, n_controls))])
        P_test = np.zeros((train.size, test.size))
        ok = np.zeros(test.size, dtype=bool)
        for j, u in enumerate(test):
            parts = identity.get(int(u), [])
            if parts and all(int(p) in pos for p in parts):
                for p in parts:
                    P_test[pos[int(p)], j] += 1.0
                ok[j] = True
        fit = np.arange(train.size)
    else:
        assert P_of is not None
        have = ~np.isnan(P_of).any(axis=1)
        fit = np.flatnonzero(have[train])
        P_train = np.hstack([P_of[train[fit]].T, np.zeros((P_of.shape[1], n_controls))])
        ok = have[test]
        P_test = np.nan_to_num(P_of[test]).T
    out = np.full((test.size, genes), np.nan)
    if fit.size < 1 or not ok.any():
        return out
    Y = np.hstack([delta[train[fit]].T, np.zeros((genes, n_controls))])  # genes x conditions
    if unit_context is None:
        K, centre = solve_y_axb(Y, G, P_train, g_ridge=ridge, p_ridge=ridge)
        out[ok] = (G @ (K @ P_test[:, ok])).T + centre[None, :]
        return out
    cond_ctx = np.concatenate([np.asarray(unit_context)[train[fit]], np.asarray(control_context)])
    centres = {c: Y[:, cond_ctx == c].mean(axis=1) for c in np.unique(cond_ctx)}
    Yc = Y - np.stack([centres[c] for c in cond_ctx], axis=1)
    K, centre = solve_y_axb(Yc, G, P_train, g_ridge=ridge, p_ridge=ridge)  # centre ~ 0 after the contexts'
    zero = np.zeros(genes)
    test_centre = np.stack([centres.get(c, zero) for c in np.asarray(unit_context)[test[ok]]])
    out[ok] = (G @ (K @ P_test[:, ok])).T + centre[None, :] + test_centre
    return out


def representation_P(G: np.ndarray, rows: list[list[int]]) -> np.ndarray:
    """Each unit's ``P``: the sum of its targets' rows of ``G`` (NaN when a target has none)."""
    P = np.full((len(rows), G.shape[1]), np.nan)
    for i, r in enumerate(rows):
        if r and all(j >= 0 for j in r) and not np.isnan(G[r]).any():
            P[i] = G[r].sum(axis=0)
    return P


def gene_tables(adata, gene_rep, func: str) -> dict:
    """``gene_rep`` as ``{name: DataFrame}`` (genes x d, indexed by gene name), checked.

    A string or list names ``varm`` keys (rows: ``var_names``); a mapping gives tables of its
    own, whose genes may go beyond the measured ones (a model's whole vocabulary), so that a
    perturbation of an unmeasured gene still has a representation. NaN rows: no representation.
    """
    import pandas as pd

    from .._validate import name_list

    if gene_rep is None:
        return {}
    if isinstance(gene_rep, str):
        gene_rep = [gene_rep]
    items = list(gene_rep.items()) if hasattr(gene_rep, "items") else [(k, None) for k in gene_rep]
    out = {}
    for key, table in items:
        if not isinstance(key, str) or not key or "/" in key:
            msg = f"{func}: gene_rep names must be non-empty strings without '/', got {key!r}."
            raise ValueError(msg)
        if table is None:
            if key not in adata.varm:
                msg = (
                    f"{func}: gene_rep={key!r} is not in adata.varm ({name_list(list(adata.varm))}); write a gene "
                    "representation with scmf.tl.embed_genes(adata, model), or pass {name: DataFrame} of your own."
                )
                raise KeyError(msg)
            values, index, where = adata.varm[key], adata.var_names, f"adata.varm[{key!r}]"
        elif isinstance(table, pd.DataFrame):
            values, index, where = table.to_numpy(), table.index, f"gene_rep[{key!r}]"
            if not table.index.is_unique:
                msg = f"{func}: {where} has duplicated gene names; one row per gene."
                raise ValueError(msg)
        else:
            msg = f"{func}: gene_rep[{key!r}] must be a DataFrame (genes x d, indexed by gene name), got {type(table).__name__}."
            raise TypeError(msg)
        G = np.asarray(values)
        if G.ndim != 2 or not np.issubdtype(G.dtype, np.number):
            msg = f"{func}: {where} must be a numeric genes x d array, got {G.dtype} {G.shape}."
            raise ValueError(msg)
        if np.isinf(G).any():
            msg = f"{func}: {where} has infinite values (NaN rows mark genes without a representation)."
            raise ValueError(msg)
        out[key] = pd.DataFrame(G.astype(np.float64), index=np.asarray(index, dtype=str))
    return out


def table_representation(table, genes, names, sep: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``G`` over the measured ``genes`` (rows without a representation 0), each unit's ``P`` (NaN
    where a target has none) and the count of measured genes without one; one scale for both
    (the table's root-mean-square entry)."""
    finite = table.to_numpy()[~np.isnan(table.to_numpy()).any(axis=1)]
    rms = float(np.sqrt(np.mean(finite**2))) if finite.size else 1.0
    scaled = table / (rms if rms > 0 else 1.0)
    G = scaled.reindex(np.asarray(genes, dtype=str)).to_numpy()
    missing = np.isnan(G).any(axis=1)
    pos = {g: i for i, g in enumerate(scaled.index)}
    rows = target_rows(names, pos, sep)
    P = representation_P(scaled.to_numpy(), rows)
    return np.where(missing[:, None], 0.0, G), P, int(missing.sum())
