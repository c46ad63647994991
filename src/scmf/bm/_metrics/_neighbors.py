from __future__ import annotations

import numpy as np


def knn(X: np.ndarray, n_neighbors: int):
    """Exact euclidean k nearest neighbours of every row, self included first.

    Returns a ``scib_metrics.nearest_neighbors.NeighborsResults`` (``indices`` and
    ``distances`` of shape ``(n, n_neighbors)``), the input scib-metrics' graph metrics take;
    it is the graph :func:`scmf.bm.scib` and :func:`scmf.bm.embedding_quality` use, and can be
    given to the ``Benchmarker`` as its ``neighbor_computer``.

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
    indices, distances = exact_knn(X, n_neighbors)
    return NeighborsResults(indices=indices, distances=distances)
