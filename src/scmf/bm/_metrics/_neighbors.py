from __future__ import annotations

from typing import Literal

import numpy as np

APPROXIMATE_ABOVE = 200_000
"""``"auto"`` approximations switch on above this many cells (see :func:`scmf.bm.embedding_quality`)."""


def knn(
    X: np.ndarray,
    n_neighbors: int,
    *,
    method: Literal["exact", "pynndescent"] = "exact",
    seed: int = 0,
    n_jobs: int = -1,
    candidates: int | None = None,
):
    """Euclidean k nearest neighbours of every row, self included first.

    Returns a ``scib_metrics.nearest_neighbors.NeighborsResults`` (``indices`` and
    ``distances`` of shape ``(n, n_neighbors)``), the input scib-metrics' graph metrics take;
    it is the graph :func:`scmf.bm.scib` and :func:`scmf.bm.embedding_quality` use, and can be
    given to the ``Benchmarker`` as its ``neighbor_computer``.

    Parameters
    ----------
    X
        (n, d) array.
    n_neighbors
        Neighbours per cell, the cell itself first.
    method
        ``"exact"``: one blocked pass over all pairwise distances (O(n^2 d)).
        ``"pynndescent"``: nearest-neighbour descent, the approximate graph the
        ``Benchmarker`` and scanpy build, searched with ``max(2 * n_neighbors, 30)``
        candidates for a higher recall than asking for ``n_neighbors`` alone; distances are
        recomputed exactly and each row sorted, the cell itself first.
    seed
        Random state of ``"pynndescent"``.
    n_jobs
        Threads of ``"pynndescent"`` (``-1``: all cores).
    candidates
        Neighbours ``"pynndescent"`` searches for (default ``max(2 * n_neighbors, 30)``); at
        ``n_neighbors`` it builds the graph the ``Benchmarker`` builds, at a lower recall.

    Examples
    --------
    >>> import numpy as np, scmf
    >>> X = np.random.default_rng(0).normal(size=(100, 8)).astype(np.float32)
    >>> g = scmf.bm.neighbors(X, 5)
    >>> g.indices.shape, bool((g.indices[:, 0] == np.arange(100)).all())
    ((100, 5), True)
    """
    from scib_metrics.nearest_neighbors import NeighborsResults

    from ..._kernels import exact_knn

    n = X.shape[0]
    if not 1 < n_neighbors <= n:
        msg = f"n_neighbors must be in [2, n_cells={n}], got {n_neighbors}."
        raise ValueError(msg)
    if method == "exact":
        indices, distances = exact_knn(X, n_neighbors)
    elif method == "pynndescent":
        indices, distances = _pynndescent(X, n_neighbors, seed=seed, n_jobs=n_jobs, candidates=candidates)
    else:
        msg = f"method must be 'exact' or 'pynndescent', got {method!r}."
        raise ValueError(msg)
    return NeighborsResults(indices=indices, distances=distances)


def _pynndescent(
    X: np.ndarray, k: int, *, seed: int, n_jobs: int, candidates: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    from pynndescent import NNDescent

    from ..._kernels import neighbour_distances

    X = np.ascontiguousarray(X, dtype=np.float32)
    n = X.shape[0]
    n_search = min(n, max(2 * k, 30) if candidates is None else max(int(candidates), k))
    index = NNDescent(
        X,
        n_neighbors=n_search,
        metric="euclidean",
        random_state=int(seed),
        n_jobs=n_jobs,
        low_memory=True,
        compressed=False,
    )
    cand = np.asarray(index.neighbor_graph[0], dtype=np.int64)
    del index
    rows = np.arange(n)
    cand[cand < 0] = rows[np.nonzero(cand < 0)[0]]  # unfilled slots (tiny data): self, dropped below
    # the cell itself first, whatever descent found (duplicates can take its place)
    is_self = cand == rows[:, None]
    cand[is_self] = -1
    cand = np.concatenate([rows[:, None], cand], axis=1)
    dist = neighbour_distances(X, cand)
    dist[cand < 0] = np.inf
    dist[:, 0] = -1.0
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    indices = np.take_along_axis(cand, order, axis=1)
    distances = np.take_along_axis(dist, order, axis=1)
    distances[:, 0] = 0.0
    if (indices < 0).any():  # fewer distinct candidates than k: only on tiny inputs
        msg = f"pynndescent found fewer than {k} neighbours for some cells; use method='exact'."
        raise ValueError(msg)
    return indices, distances.astype(np.float32)
