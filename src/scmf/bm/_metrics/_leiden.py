"""NMI/ARI of Leiden clusters, as scib-metrics computes them, with one graph per worker.

scib-metrics' ``nmi_ari_cluster_labels_leiden`` rebuilds the igraph graph from the sparse
connectivities for every resolution and ships the matrix to a process per resolution. Here
the graph is built once, with the same edges in the same order (so every seeded run gives
the same clusters), but with the weights kept in a NumPy array instead of an edge attribute
of Python floats; worker processes forked after the build share it instead of each building
their own (at 1,000,000 cells that is ~4 GB of construction memory per worker saved). Every
run is otherwise identical (same per-run seeding, same scores): tested equal to scib-metrics'
function.

Two ways to choose the resolution: scib-metrics' ``"grid"`` (all of :data:`RESOLUTIONS`) and
``"coarse_to_fine"`` (:data:`COARSE` first, then the grid neighbours of the best of them: six
runs instead of ten, in two rounds). Which resolutions are run depends on the scores alone,
never on the number of processes, and each run is seeded as in the grid, so a resolution
both searches run gives the same clusters in both.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np

from ..._progress import advance

RESOLUTIONS = tuple(2 * x / 10 for x in range(1, 11))  # scib-metrics' optimisation grid
COARSE = (RESOLUTIONS[1], RESOLUTIONS[4], RESOLUTIONS[7], RESOLUTIONS[9])  # 0.4, 1.0, 1.6, 2.0:
# every grid point is one of these or next to one
Search = Literal["grid", "coarse_to_fine"]
SEARCHES = ("grid", "coarse_to_fine")


def search_runs(search: Search) -> int:
    """Leiden runs a search makes at most (the steps of its progress bar)."""
    return len(RESOLUTIONS) if search == "grid" else len(COARSE) + 2


def _graph(conn):
    """``Graph.Weighted_Adjacency(conn, mode="directed")`` made undirected with both directions,
    as scanpy/scib build it (same edges, same order), and its weights as a float64 array.

    The undirected graph is made in one call from a generator of the edges, a million at a
    time: the Python pairs never all exist at once, and igraph indexes the edges once (adding
    them in pieces re-indexes the graph each time; at 24 million edges one call takes a
    third of the time of pieces followed by ``to_undirected``).
    """
    import igraph

    m = conn.tocoo()
    g = igraph.Graph(n=conn.shape[0], edges=_pairs(m.row, m.col), directed=False)
    return g, m.data.astype(np.float64)


_EDGE_CHUNK = 1_000_000  # edges turned into Python pairs at a time


def _pairs(row: np.ndarray, col: np.ndarray):
    step = _EDGE_CHUNK
    for s in range(0, row.size, step):
        yield from zip(row[s : s + step].tolist(), col[s : s + step].tolist(), strict=True)


_SHARED: tuple | None = None  # (graph, weights, labels) inherited by forked workers


def _scores(
    graph, labels: np.ndarray, resolutions: list[float], seed: int
) -> list[tuple[float, float, np.ndarray, float]]:
    import random

    import igraph
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    g, w = graph
    out = []
    for r in resolutions:
        t0 = time.perf_counter()
        igraph.set_random_number_generator(random.Random(seed))
        pred = np.asarray(
            g.community_leiden(objective_function="modularity", weights=w, resolution=r).membership
        )
        out.append(
            (
                float(normalized_mutual_info_score(labels, pred, average_method="arithmetic")),
                float(adjusted_rand_score(labels, pred)),
                pred.astype(np.int32),
                time.perf_counter() - t0,
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
    search: Search = "grid",
    seed: int = 42,
    n_jobs: int = 1,
) -> dict:
    """NMI and ARI between Leiden clusters of ``conn`` and ``labels`` (and the ``clusters`` scored,
    the ``resolution`` they came from, the ``seconds`` each resolution's run took, and the
    ``graph_seconds`` the igraph graph took to build).

    With ``optimize_resolution`` the best-NMI clustering is kept (the lowest resolution on
    ties, as ``numpy.argmax`` over the grid), among all of :data:`RESOLUTIONS` (``search="grid"``)
    or among those ``"coarse_to_fine"`` runs; else one run at ``resolution``.
    ``n_jobs`` processes share the runs of a round (``-1``: all cores); results do not depend on it.
    """
    if search not in SEARCHES:
        msg = f"search must be one of {SEARCHES}, got {search!r}."
        raise ValueError(msg)
    if not optimize_resolution:
        first = [float(resolution)]
    else:
        first = list(RESOLUTIONS if search == "grid" else COARSE)
    if n_jobs < 0:
        import os

        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(n_jobs, len(first)))
    t0 = time.perf_counter()
    graph = _graph(conn)
    graph_seconds = time.perf_counter() - t0
    with _runner(conn, graph, labels, seed, n_jobs) as run:
        done = dict(zip(first, run(first), strict=True))
        if optimize_resolution and search == "coarse_to_fine":  # second round: the best one's neighbours
            best = RESOLUTIONS.index(_best(done))
            near = [RESOLUTIONS[i] for i in (best - 1, best + 1) if 0 <= i < len(RESOLUTIONS)]
            second = [r for r in near if r not in done]
            done.update(zip(second, run(second), strict=True))
            advance(search_runs(search) - len(done))  # the bar's unused steps
    r = _best(done)
    return {
        "nmi": done[r][0],
        "ari": done[r][1],
        "clusters": done[r][2],
        "resolution": float(r),
        "seconds": {float(k): float(done[k][3]) for k in sorted(done)},
        "graph_seconds": graph_seconds,
    }


def _best(done: dict[float, tuple]) -> float:
    order = sorted(done)
    return order[int(np.argmax([done[r][0] for r in order]))]


class _runner:
    """Runs lists of resolutions: in this process, or in ``n_jobs`` workers started once."""

    def __init__(self, conn, graph, labels, seed, n_jobs):
        self.conn, self.graph, self.labels, self.seed, self.n_jobs = conn, graph, labels, seed, n_jobs
        self.pool = None

    def __enter__(self):
        import sys

        global _SHARED
        if self.n_jobs > 1 and sys.platform.startswith(
            "linux"
        ):  # fork is safe there; macOS and Windows spawn
            import multiprocessing as mp

            _SHARED = (*self.graph, self.labels)
            self.pool = mp.get_context("fork").Pool(self.n_jobs)
        return self.run

    def __exit__(self, *exc):
        global _SHARED
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            _SHARED = None

    def run(self, resolutions: list[float]) -> list[tuple]:
        if not resolutions:
            return []
        if self.pool is not None:
            out = []
            for s in self.pool.imap(_shared_scores, [(r, self.seed) for r in resolutions], chunksize=1):
                out.append(s)
                advance()
            return out
        if self.n_jobs == 1:
            return _scores(self.graph, self.labels, resolutions, self.seed)
        from joblib import Parallel, delayed  # spawned workers: each builds its own from the matrix

        chunks = [c for c in (resolutions[i :: self.n_jobs] for i in range(self.n_jobs)) if c]
        parts = Parallel(n_jobs=len(chunks))(
            delayed(_scores_from)(self.conn, self.labels, c, self.seed) for c in chunks
        )
        by_res = {r: s for c, p in zip(chunks, parts, strict=True) for r, s in zip(c, p, strict=True)}
        advance(len(resolutions))
        return [by_res[r] for r in resolutions]


def _shared_scores(args):
    from ..._progress import _CURRENT

    _CURRENT.set(None)  # the parent's bar was inherited by the fork: it is not ours to draw
    resolution, seed = args
    graph, w, labels = _SHARED
    return _scores((graph, w), labels, [resolution], seed)[0]


def _scores_from(conn, labels, resolutions, seed):
    return _scores(_graph(conn), labels, resolutions, seed)
