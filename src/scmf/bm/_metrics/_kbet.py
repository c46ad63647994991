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
    graph: about 30 s for 50,000 cells on 2 cores). ``seed`` draws the samples.
    """
    from scipy.sparse.csgraph import connected_components

    size_max = 2**31 - 1
    codes = np.asarray(pd.Categorical(batches).codes)
    labels = np.asarray(labels)
    conn = graph.knn_graph_connectivities
    scores = []
    rng = np.random.default_rng([int(seed), 0xB7])
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
        try:
            scores.append(float(np.mean(kbet_accepted(sub, b_sub, k0, n_comps, alpha, test=test))))
        except ValueError:
            scores.append(0.0)  # the diffusion map failed: 100% rejection
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(scores)) if scores else float("nan")


def kbet_accepted(
    conn, b: np.ndarray, k: int, n_comps: int, alpha: float, *, test: np.ndarray | None = None
) -> np.ndarray:
    """Per tested cell of one label's graph ``conn``, whether kBET accepts its neighbourhood.

    The diffusion map (``n_comps`` components) is always that of the whole graph; ``test``
    (indices into it) limits the cells tested, each still against all cells, so a cell's
    verdict does not depend on which other cells are tested.
    """
    from scipy import sparse
    from scipy.sparse.linalg import eigsh
    from scipy.special import gammainc

    from ..._kernels import exact_knn

    # density-normalised, symmetric transition matrix (Coifman & Lafon; scanpy's recipe)
    q = np.asarray(conn.sum(axis=0))
    Q = sparse.spdiags(1.0 / q, 0, conn.shape[0], conn.shape[0])
    K = Q @ conn @ Q
    z = np.sqrt(np.asarray(K.sum(axis=0)))
    Z = sparse.spdiags(1.0 / z, 0, K.shape[0], K.shape[0])
    T = (Z @ K @ Z).astype(np.float64)
    evals, evecs = eigsh(T, k=n_comps, which="LM")
    evals, evecs = evals.astype(np.float32)[::-1], evecs.astype(np.float32)[:, ::-1]
    evals = evals + np.float32(1e-8)
    scaled = np.array([e if e == 1 else e / (1 - e) for e in evals])
    emb = np.ascontiguousarray(evecs * scaled, dtype=np.float32)
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
