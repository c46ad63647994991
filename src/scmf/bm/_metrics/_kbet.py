"""Label- and batch-mixing metrics of the scIB table that work on a graph or on per-cell
silhouettes: kBET per label and isolated labels, as scib-metrics defines them."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def isolated_labels(
    sil01: np.ndarray, y: np.ndarray, b: np.ndarray, *, sil_labels: np.ndarray | None = None
) -> float:
    """scib-metrics' isolated-label score: the labels present in the fewest batches, each the
    mean rescaled silhouette of its cells, averaged over those labels.

    ``sil_labels``: the labels of the cells ``sil01`` is given for, when that is a sample of
    the cells (the isolated labels are still found from all cells' ``y`` and ``b``).
    """
    of = y if sil_labels is None else sil_labels
    return float(np.mean([sil01[of == lab].mean() for lab in isolated_label_set(y, b)]))


def isolated_label_set(y: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The labels present in the fewest batches (scib-metrics' isolated labels)."""
    pairs = np.unique(np.column_stack([y, b]), axis=0)
    n_batches_of = np.bincount(pairs[:, 0], minlength=int(y.max()) + 1)
    present = np.unique(y)
    return present[n_batches_of[present] <= n_batches_of[present].min()]


def kbet_per_label(
    graph,
    batches: np.ndarray,
    labels: np.ndarray,
    *,
    alpha: float = 0.05,
    n_comps: int = 100,
    max_cells: int | None = None,
    seed: int = 0,
) -> float:
    """scib-metrics' ``kbet_per_label``, step for step, with exact neighbours in diffusion space.

    Per label: its cells' subgraph of the connectivities of ``graph`` (50 neighbours); labels
    with fewer than 10 cells or one batch are skipped (NaN); ``k0`` = a quarter of the mean
    cells per batch, clipped to [10, 70]; a subgraph in several pieces keeps the pieces of at
    least ``3 * k0`` cells if they hold 75% of the cells (else the label scores 0); a
    diffusion map (``n_comps`` components, eigenvalues ``e / (1 - e)``-scaled) embeds it; each
    cell's ``k0 + 1`` nearest neighbours there (self included) are tested for their batch mix
    against the label's (chi-squared, ``alpha``); the score is the share of cells accepted.
    The result is the mean over labels. scib-metrics searches the diffusion neighbours with
    pynndescent (approximate; its compilation alone takes about 40 s in a fresh process);
    here they are exact, which on the tested data gives the same neighbours. Like
    scib-metrics, a label that lowers ``n_comps`` (fewer cells) lowers it for the labels after it.

    ``max_cells``: a label with more cells is tested on a random sample of ``max_cells`` of
    them. The diffusion map is still that of the label's whole subgraph and each sampled
    cell's neighbours are searched among all the label's cells, so only the share of
    accepted cells is estimated from a sample (kBET's own definition tests a random subset of
    cells in the same way). This bounds the neighbour search, which is quadratic in the
    label's size; the diffusion map stays whole (an ARPACK eigendecomposition of the label's
    graph: 15-30 s for 50,000 cells on 2 cores, see :func:`leading_eigenpairs`). ``seed``
    draws the samples.

    The eigenpairs are ARPACK's, computed for a label of at least :data:`POLYNOMIAL_FROM`
    cells through a Chebyshev polynomial of the transition matrix when a label between half
    and twice its size has been done before (the lowest such cut-off is the hint); the same
    eigenvalues and eigenvectors, in about half the time at 50,000 cells
    (:func:`leading_eigenpairs`).
    """
    from scipy.sparse.csgraph import connected_components

    size_max = 2**31 - 1
    codes = np.asarray(pd.Categorical(batches).codes)
    labels = np.asarray(labels)
    conn = graph.knn_graph_connectivities
    scores = []
    rng = np.random.default_rng([int(seed), 0xB7])
    cutoffs = []  # (cells, eigenvalue cut-off) of the labels done: hints for labels of similar size
    for lab in np.unique(labels):
        mask = labels == lab
        sub = conn[mask, :][:, mask]
        b_sub = codes[mask]
        sub.sort_indices()
        n_obs = sub.shape[0]
        if n_obs < 10 or np.unique(b_sub).size == 1:
            scores.append(np.nan)
            continue
        quarter_mean = int(np.floor(np.mean(pd.Series(b_sub).value_counts()) / 4))
        k0 = int(min(70, max(10, quarter_mean)))
        if k0 * n_obs >= size_max:
            k0 = int(np.floor(size_max / n_obs))
        n_comp, pieces = connected_components(sub, connection="strong")
        if n_comp > 1:
            sizes = pd.Series(pieces).value_counts()
            keep = np.flatnonzero(np.isin(pieces, sizes[sizes >= 3 * k0].index))
            if len(keep) / len(pieces) < 0.75:
                scores.append(0.0)  # too many small pieces: 100% rejection
                continue
            sub = sub[keep, :][:, keep]
            sub.sort_indices()
            b_sub = b_sub[keep]
        n_comps = int(min(n_comps, sub.shape[0] - 1))
        test = None
        if max_cells is not None and sub.shape[0] > max_cells:
            test = np.sort(rng.choice(sub.shape[0], int(max_cells), replace=False))
        hint = min((c for m, c in cutoffs if sub.shape[0] / 2 <= m <= 2 * sub.shape[0]), default=None)
        try:
            emb, cutoff = diffusion_map(sub, n_comps, cutoff_hint=hint)
        except ValueError:
            scores.append(0.0)  # the diffusion map failed: 100% rejection
            continue
        cutoffs.append((sub.shape[0], cutoff))
        scores.append(float(np.mean(kbet_accepted(emb, b_sub, k0, alpha, test=test))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(scores)) if scores else float("nan")


#: graphs of at least this many cells may get the polynomial-filtered eigensolver
POLYNOMIAL_FROM = 20_000
#: the Chebyshev polynomial's degree in ``T**2`` (its degree in ``T`` is twice this)
_DEGREE = 3
#: ARPACK restarts allowed on the polynomial before plain ARPACK takes over
_RESTARTS = 5


def leading_eigenpairs(
    T, k: int, *, cutoff_hint: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``k`` eigenpairs of largest magnitude of the symmetric sparse matrix ``T`` (what
    ``eigsh(T, k, which="LM")`` computes), and the ``k``-th largest magnitude (the cut-off).

    Given ``cutoff_hint`` (the cut-off of a similar graph: kBET passes the lowest of the labels
    of similar size done before) and at least :data:`POLYNOMIAL_FROM` rows, ARPACK works on the
    polynomial
    ``p(T) = C_m(2 T**2 / c**2 - 1)`` with ``c = 0.99 * cutoff_hint`` (``C_m`` the Chebyshev
    polynomial of degree 3) instead of on ``T``. ``p`` keeps ``T``'s eigenvectors, stays within
    [-1, 1] for ``|e| <= c`` and grows with ``|e|`` above it, so the ``k`` largest eigenvalues
    of ``p(T)`` belong to the ``k`` eigenvalues of ``T`` of largest magnitude whenever all of
    those exceed ``c``. That is checked after the solve, each eigenvalue recomputed as
    ``v'Tv``; if it fails (the hint was too high), or ARPACK on ``p(T)`` has not converged
    after :data:`_RESTARTS` restarts (which is what a hint above the cut-off leads to), plain
    ARPACK on ``T`` decides. Why: the spectrum of a cell graph is dense where the 100th
    diffusion component is cut off, so Lanczos on ``T`` restarts many times, each restart
    dense work over all its vectors; on ``p(T)`` the eigenvalues there lie far apart, and a
    50,000-cell label's eigenpairs come 1.3-1.9 times as fast (the same eigenvalues to 1e-10,
    the same subspace). At 10,000 cells plain ARPACK is as fast (1.5 s), hence
    :data:`POLYNOMIAL_FROM`.
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

    n = T.shape[0]
    if cutoff_hint is not None and 0 < cutoff_hint < 1 and n >= POLYNOMIAL_FROM and 10 * k <= n:
        a = 2.0 / (0.99 * float(cutoff_hint)) ** 2

        def filtered(x):
            x = x.reshape(n, -1)
            prev, cur = x, a * (T @ (T @ x)) - x
            for _ in range(_DEGREE - 1):
                prev, cur = cur, 2.0 * (a * (T @ (T @ cur)) - cur) - prev
            return cur

        op = LinearOperator((n, n), matvec=filtered, matmat=filtered, dtype=np.float64)
        v0 = np.random.default_rng(0).uniform(-1.0, 1.0, n)
        try:  # converges in 2-3 restarts when c is below the cut-off; far slower above it
            _, evecs = eigsh(op, k=k, which="LA", v0=v0, maxiter=_RESTARTS)
        except ArpackNoConvergence:
            evecs = None
        if evecs is not None:
            evals = np.einsum("ij,ij->j", evecs, T @ evecs)
            if np.abs(evals).min() > 0.99 * cutoff_hint:  # all above c: the k of largest magnitude
                order = np.argsort(evals)
                return evals[order], evecs[:, order], float(np.abs(evals).min())
    evals, evecs = eigsh(T, k=k, which="LM")
    return evals, evecs, float(np.abs(evals).min())


def transition_matrix(conn):
    """The density-normalised, symmetric transition matrix of a graph (Coifman & Lafon;
    scanpy's and scib-metrics' recipe), as float64 CSR."""
    from scipy import sparse

    q = np.asarray(conn.sum(axis=0))
    Q = sparse.spdiags(1.0 / q, 0, conn.shape[0], conn.shape[0])
    K = Q @ conn @ Q
    z = np.sqrt(np.asarray(K.sum(axis=0)))
    Z = sparse.spdiags(1.0 / z, 0, K.shape[0], K.shape[0])
    return (Z @ K @ Z).astype(np.float64).tocsr()


def diffusion_map(conn, n_comps: int, *, cutoff_hint: float | None = None) -> tuple[np.ndarray, float]:
    """scib-metrics' diffusion map of one label's graph ``conn``: ``n_comps`` components, each
    scaled by ``e / (1 - e)`` (float32, cells x components), and the eigenvalues' cut-off
    (see :func:`leading_eigenpairs`, which ``cutoff_hint`` is passed to)."""
    T = transition_matrix(conn)
    evals, evecs, cutoff = leading_eigenpairs(T, n_comps, cutoff_hint=cutoff_hint)
    evals, evecs = evals.astype(np.float32)[::-1], evecs.astype(np.float32)[:, ::-1]
    evals = evals + np.float32(1e-8)
    scaled = np.array([e if e == 1 else e / (1 - e) for e in evals])
    return np.ascontiguousarray(evecs * scaled, dtype=np.float32), cutoff


def kbet_accepted(
    emb: np.ndarray, b: np.ndarray, k: int, alpha: float, *, test: np.ndarray | None = None
) -> np.ndarray:
    """Per tested cell of one label's diffusion map ``emb``, whether kBET accepts its
    neighbourhood (the ``k + 1`` nearest cells, itself included).

    ``test`` (indices into ``emb``) limits the cells tested, each still against all cells,
    so a cell's verdict does not depend on which other cells are tested.
    """
    from scipy.special import gammainc

    from ..._kernels import exact_knn

    idx, _ = exact_knn(emb, k + 1, rows=test)  # the tested cells' neighbours among all cells
    uniq, b = np.unique(b, return_inverse=True)  # the batches present, coded afresh (as kbet does)
    n_b = uniq.size
    expected = np.bincount(b, minlength=n_b).astype(np.float64)
    expected = expected / expected.sum() * idx.shape[1]
    nb = b[idx]
    observed = np.stack([(nb == j).sum(axis=1) for j in range(n_b)], axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.sum((observed - expected) ** 2 / expected, axis=1)
    p = 1.0 - gammainc((n_b - 1) / 2.0, stat / 2.0)
    return p >= alpha
