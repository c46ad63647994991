"""GRN step (gene representation + cosine scoring of edges) against a per-gene loop and scipy.

    python benchmarks/grn.py                      # 20,000 cells x 2,000 genes, 10% dense, d=256, 50,000 edges
    python benchmarks/grn.py --large              # 1,000,000 cells x 20,000 genes, 5% dense, d=512 (~10 GB)
    python benchmarks/grn.py --large --rows 200000  # the same at a fifth of the cells
    python benchmarks/grn.py --large --backed     # the same read from a backed .h5ad, block by block
    python benchmarks/grn.py --load               # the first, with another process keeping a core busy

``--large`` times the user's call, ``scmf.bm.grn_inference`` with the DoRothEA network (A-C,
from ``SCMF_DATA_DIR``; its genes are the first of the 20,000 gene names), first call in a
fresh process (compilation or loading numba's on-disk cache included), and reports the
process's peak memory next to the size of the input itself. With ``--backed`` the data are
first written to an .h5ad (in ``--dir``, default the system's temporary folder; about 10 GB),
and a fresh process opens it with ``read_h5ad(backed="r")`` and makes the same call; its peak
is that process's whole life (the embedding loaded with the file included). The file was
just written, so it is read from the OS page cache where memory allows.

The "per-gene loop" is what the reference toolkit does: for each gene, slice its column out
of the CSR matrix, find the cells with expression > 0 and average their embeddings, then a
cosine per edge in Python. The
scipy formulation is one sparse product ``(X > 0).T @ E`` divided by the counts.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import sparse


def random_csr(n_cells, n_genes, density, seed):
    """CSR with each entry non-zero with probability ``density``, columns sorted and distinct.

    Each row's columns are the partial sums of geometric gaps, so they come out sorted with
    no sort and no duplicates; rows are drawn in blocks, twice from the same block seeds (once
    to count, once to fill), so nothing bigger than one block is held besides the result.
    """
    k_max = int(n_genes * density + 8 * np.sqrt(n_genes * density)) + 16  # > a row's count, 8 sd out
    block = max(1, min(n_cells, 2**25 // k_max))

    def columns(b):
        rng = np.random.default_rng([seed, b])
        e = min(n_cells, (b + 1) * block)
        pos = np.cumsum(rng.geometric(density, size=(e - b * block, k_max)), axis=1, dtype=np.int64) - 1
        return pos, pos < n_genes

    n_blocks = -(-n_cells // block)
    per_row = np.concatenate([columns(b)[1].sum(axis=1) for b in range(n_blocks)])
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    indices = np.empty(indptr[-1], dtype=np.int32)
    for b in range(n_blocks):
        pos, keep = columns(b)
        indices[indptr[b * block] : indptr[min(n_cells, (b + 1) * block)]] = pos[keep]
    data = np.ones(indptr[-1], dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(n_cells, n_genes))


def per_gene_loop(X, E, src, dst, min_cells=10):
    E = E.astype(np.float64)
    R = np.zeros((X.shape[1], E.shape[1]))
    ok = np.zeros(X.shape[1], dtype=bool)
    for g in range(X.shape[1]):  # column by column of the CSR matrix, as the reference toolkit
        cells = np.flatnonzero(X[:, g].toarray().ravel() > 0)
        if cells.size >= min_cells:
            R[g] = E[cells].mean(axis=0)
            ok[g] = True
    R[ok] -= R[ok].mean(axis=0)
    scores = np.empty(src.size)
    for e in range(src.size):
        a, b = R[src[e]], R[dst[e]]
        scores[e] = a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-300)
    return scores


def scipy_way(X, E, src, dst, min_cells=10):
    B = (X > 0).astype(np.float64)
    counts = np.asarray(B.sum(axis=0)).ravel()
    S = B.T @ E.astype(np.float64)
    ok = counts >= min_cells
    R = np.zeros_like(S)
    R[ok] = S[ok] / counts[ok, None]
    R[ok] -= R[ok].mean(axis=0)
    U = R / np.maximum(np.linalg.norm(R, axis=1, keepdims=True), 1e-300)
    return np.einsum("ij,ij->i", U[src], U[dst])


def scmf_way(X, E, src, dst, min_cells=10):
    from scmf._kernels._grn import edge_cosine, expressing_sums, unit_rows

    S, counts = expressing_sums(X, E)
    ok = counts >= min_cells
    R = np.zeros_like(S)
    R[ok] = S[ok] / counts[ok, None]
    R[ok] -= R[ok].mean(axis=0)
    return edge_cosine(unit_rows(R), src, dst)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--large", action="store_true")
    p.add_argument("--rows", type=int, default=1_000_000, help="cells of the --large run")
    p.add_argument("--backed", action="store_true", help="--large from a backed .h5ad")
    p.add_argument("--dir", default=None, help="folder of the --backed file")
    p.add_argument("--_call", default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--load", action="store_true", help="time the calls while another process keeps one core busy"
    )
    a = p.parse_args()
    if a._call:
        return backed_call(a._call)
    if a.large:
        return large_backed(a.rows, a.dir) if a.backed else large(a.rows)
    busy = _busy_core() if a.load else None
    try:
        small()
    finally:
        if busy is not None:
            busy.kill()


def small() -> None:
    """20,000 cells x 2,000 genes: the kernels against scipy and the per-gene loop, then the whole call."""
    n, g, dens, d, n_edges = 20_000, 2_000, 0.10, 256, 50_000
    t0 = time.perf_counter()
    X = random_csr(n, g, dens, seed=0)
    rng = np.random.default_rng(1)
    E = rng.standard_normal((n, d)).astype(np.float32)
    src, dst = rng.integers(0, g, n_edges), rng.integers(0, g, n_edges)
    print(
        f"data: {n:,} cells x {g:,} genes, {X.nnz:,} non-zeros, d={d}, {n_edges:,} edges "
        f"(built in {time.perf_counter() - t0:.0f} s)"
    )
    scmf_way(X[:1000], E[:1000], src[:10] % 10, dst[:10] % 10)  # compile (cached on disk afterwards)
    t0 = time.perf_counter()
    ours = scmf_way(X, E, src, dst)
    t_ours = time.perf_counter() - t0
    print(f"  scmf kernels:   {t_ours:8.2f} s")
    t0 = time.perf_counter()
    ref = scipy_way(X, E, src, dst)
    t_sp = time.perf_counter() - t0
    print(f"  scipy product:  {t_sp:8.2f} s   scmf/scipy = {t_ours / t_sp:.2f} (target <= 1)")
    t0 = time.perf_counter()
    loop = per_gene_loop(X, E, src, dst)
    t_loop = time.perf_counter() - t0
    print(f"  per-gene loop:  {t_loop:8.2f} s   kernels {t_loop / t_ours:.0f}x faster")
    np.testing.assert_allclose(ref, loop, atol=1e-12)
    # the kernels add a float32 embedding's cells in float32 within a block of cells
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    print(f"  all three give the same scores (kernels: max |difference| {np.abs(ours - ref).max():.1e})")
    whole_call(X, E, src, dst, t_loop)


def _busy_core():
    """Another process that keeps one core busy (single-threaded matrix products) until killed."""
    import subprocess
    import sys

    code = "import numpy as np\na = np.random.rand(600, 600)\nwhile True:\n    a @ a"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    print("  (another process keeps one core busy while the calls are timed)")
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def _network_path():
    from pathlib import Path

    return Path(os.environ.get("SCMF_DATA_DIR", "../shared/data"), "dorothea_hs.tsv.gz")


def _large_data(n: int, g: int, density: float, d: int):
    """``n`` cells x ``g`` genes (the network's genes first) and a float32 embedding of ``d`` dims."""
    import anndata as ad
    import pandas as pd

    net = pd.read_csv(_network_path(), sep="\t")
    net_genes = pd.unique(np.concatenate([net["tf"].to_numpy(), net["target"].to_numpy()]))
    names = np.concatenate([np.sort(net_genes)[:g], [f"G{i}" for i in range(max(0, g - net_genes.size))]])
    t0 = time.perf_counter()
    X = random_csr(n, g, density, seed=0)
    E = np.random.default_rng(1).standard_normal((n, d)).astype(np.float32)
    adata = ad.AnnData(X=X, obsm={"X_scmf": E}, var=pd.DataFrame(index=names))
    in_gb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes + E.nbytes) / 2**30
    print(
        f"data: {n:,} cells x {g:,} genes, {X.nnz:,} non-zeros, d={d} (built in {time.perf_counter() - t0:.0f} s)"
    )
    return adata, in_gb


def large_backed(n: int, folder: str | None, g: int = 20_000, density: float = 0.05, d: int = 512) -> None:
    """The ``--large`` call on a backed file, in a fresh process: its time and its whole life's peak."""
    import gc
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp, "grn_large.h5ad")
        adata, in_gb = _large_data(n, g, density, d)
        t0 = time.perf_counter()
        adata.write_h5ad(path)
        print(
            f"  written to {path} ({path.stat().st_size / 2**30:.1f} GiB) in {time.perf_counter() - t0:.0f} s"
        )
        del adata
        gc.collect()
        out = subprocess.run(
            [sys.executable, __file__, "--_call", str(path)], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-3000:])
        print(out.stdout.rstrip())
        print(f"  (the input in memory would be {in_gb:.1f} GiB: X and E)")


def backed_call(path: str) -> None:
    """Open ``path`` backed and call ``grn_inference`` (the fresh process of ``--backed``)."""
    from pathlib import Path

    import anndata as ad

    import scmf

    t0 = time.perf_counter()
    adata = ad.read_h5ad(path, backed="r")
    t_open = time.perf_counter() - t0
    t0 = time.perf_counter()
    scmf.bm.grn_inference(adata, _network_path(), n_bootstrap=100, progress=False)
    t = time.perf_counter() - t0
    res = scmf.bm.results(adata).set_index("metric")["value"]
    # VmHWM: this process's peak since it started (getrusage's maxrss would include the
    # parent's resident set at the fork before this program was executed)
    status = Path("/proc/self/status").read_text()
    peak = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM:")).split()[1]) / 2**20
    print(
        f"  backed: opening {t_open:.1f} s (reads obs, var and the embedding); grn_inference, first "
        f"call (n_bootstrap=100): {t:6.1f} s   auroc {res['auroc']:.4f}\n"
        f"  memory: the process's peak over its whole life {peak:.2f} GiB"
    )


def large(n: int, g: int = 20_000, density: float = 0.05, d: int = 512) -> None:
    """``grn_inference`` on ``n`` cells x 20,000 genes with DoRothEA: the whole call, first in the process."""
    import scmf

    net_path = _network_path()
    adata, in_gb = _large_data(n, g, density, d)
    import psutil
    from _memory import TreePeak

    before = psutil.Process().memory_info().rss / 2**30
    t0 = time.perf_counter()
    with TreePeak() as peak:
        scmf.bm.grn_inference(adata, net_path, n_bootstrap=100, progress=False)
    t = time.perf_counter() - t0
    res = scmf.bm.results(adata).set_index("metric")["value"]
    print(
        f"  grn_inference, first call (n_bootstrap=100): {t:6.1f} s   auroc {res['auroc']:.4f} "
        f"(a random embedding)\n"
        f"  memory: the input {in_gb:.1f} GiB (X and E); the process {before:.1f} GiB before the call, "
        f"{peak.peak_gb:.1f} GiB at its peak during the call (+{peak.peak_gb - before:.2f} GiB)"
    )


def whole_call(X, E, src, dst, t_loop: float) -> None:
    """The user's call: ``grn_inference`` on an AnnData and a guide-format network (half weight 0)."""
    import anndata as ad
    import pandas as pd

    import scmf

    genes = np.array([f"G{i}" for i in range(X.shape[1])])
    adata = ad.AnnData(X=X, obsm={"X_scmf": E}, var=pd.DataFrame(index=genes))
    weight = np.where(np.arange(src.size) % 2 == 0, 1.0, 0.0)
    net = pd.DataFrame({"gene1": genes[src], "gene2": genes[dst], "weight": weight})
    for n_boot in (0, 100):
        scmf.bm.grn_inference(adata, net, n_bootstrap=n_boot, progress=False)  # warm (compiled)
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            scmf.bm.grn_inference(adata, net, n_bootstrap=n_boot, progress=False)
            times.append(time.perf_counter() - t0)
        t = min(times)
        print(
            f"  grn_inference whole call, n_bootstrap={n_boot:3d}: {t:6.3f} s   "
            f"{t_loop / t:.0f}x faster than the per-gene loop (target >= 50x)"
        )


if __name__ == "__main__":
    main()
