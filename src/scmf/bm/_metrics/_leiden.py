"""NMI/ARI of Leiden clusters, as scib-metrics computes them, with one graph per worker.

scib-metrics' ``nmi_ari_cluster_labels_leiden`` rebuilds the igraph graph from the sparse
connectivities for every resolution and ships the matrix to a process per resolution. Here
each worker builds the graph once and runs its share of the resolutions on it; every run is
otherwise identical (same graph construction, same per-run seeding, same scores), so the
numbers are the same. Tested equal to scib-metrics' function.
"""

from __future__ import annotations

import numpy as np

from ..._progress import advance

RESOLUTIONS = tuple(2 * x / 10 for x in range(1, 11))  # scib-metrics' optimisation grid


def _graph(conn):
    import igraph

    g = igraph.Graph.Weighted_Adjacency(conn, mode="directed")
    g.to_undirected(mode="each")  # both directions as separate edges, as scanpy/scib do
    return g


def _scores(
    conn, labels: np.ndarray, resolutions: list[float], seed: int
) -> list[tuple[float, float, np.ndarray]]:
    import random

    import igraph
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    g = _graph(conn)
    out = []
    for r in resolutions:
        igraph.set_random_number_generator(random.Random(seed))
        pred = np.asarray(
            g.community_leiden(objective_function="modularity", weights="weight", resolution=r).membership
        )
        out.append(
            (
                float(normalized_mutual_info_score(labels, pred, average_method="arithmetic")),
                float(adjusted_rand_score(labels, pred)),
                pred.astype(np.int32),
            )
        )
        advance()  # no-op in worker processes (no bar there)
    return out


def leiden_nmi_ari(
    conn,
    labels: np.ndarray,
    *,
    optimize_resolution: bool = True,
    resolution: float = 1.0,
    seed: int = 42,
    n_jobs: int = 1,
) -> dict:
    """NMI and ARI between Leiden clusters of ``conn`` and ``labels`` (and the ``clusters`` scored).

    With ``optimize_resolution`` the best-NMI clustering over :data:`RESOLUTIONS` is kept
    (first one on ties, as ``numpy.argmax``), else one run at ``resolution``.
    ``n_jobs`` processes share the resolutions (``-1``: all cores); results do not depend on it.
    """
    resolutions = list(RESOLUTIONS) if optimize_resolution else [float(resolution)]
    if n_jobs < 0:
        import os

        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(n_jobs, len(resolutions)))
    if n_jobs == 1:
        scores = _scores(conn, labels, resolutions, seed)
    else:
        from joblib import Parallel, delayed

        chunks = [resolutions[i::n_jobs] for i in range(n_jobs)]
        parts = Parallel(n_jobs=n_jobs)(delayed(_scores)(conn, labels, c, seed) for c in chunks)
        by_res = {r: s for c, p in zip(chunks, parts, strict=True) for r, s in zip(c, p, strict=True)}
        scores = [by_res[r] for r in resolutions]
        advance(len(resolutions))
    best = int(np.argmax([s[0] for s in scores]))
    return {"nmi": scores[best][0], "ari": scores[best][1], "clusters": scores[best][2]}
