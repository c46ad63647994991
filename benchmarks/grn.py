"""GRN step (gene representation + cosine scoring of edges) against a per-gene loop and scipy.

    python benchmarks/grn.py                      # 20,000 cells x 2,000 genes, 10% dense, d=256, 50,000 edges
    python benchmarks/grn.py --large              # 1,000,000 cells x 20,000 genes, 5% dense, d=512 (~10 GB)

The "per-gene loop" is what the reference toolkit does: for each gene, slice its column out
of the CSR matrix, find the cells with expression > 0 and average their embeddings, then a
cosine per edge in Python. The
scipy formulation is one sparse product ``(X > 0).T @ E`` divided by the counts.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from scipy import sparse


def random_csr(n_cells, n_genes, density, seed, *, dedupe=True):
    """CSR with ~density non-zeros per row, built row-block-wise (no dense or COO detour)."""
    rng = np.random.default_rng(seed)
    per_row = rng.binomial(n_genes, density, n_cells).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(per_row)])
    indices = np.empty(indptr[-1], dtype=np.int32)
    block = 50_000
    for s in range(0, n_cells, block):
        e = min(s + block, n_cells)
        k = per_row[s:e]
        # sorted distinct columns per row: sample with replacement then fix duplicates cheaply
        cols = rng.integers(0, n_genes, k.sum())
        row = np.repeat(np.arange(e - s), k)
        order = np.lexsort((cols, row))
        cols = cols[order]
        indices[indptr[s] : indptr[e]] = cols
    data = np.ones(indptr[-1], dtype=np.float32)
    X = sparse.csr_matrix((data, indices, indptr), shape=(n_cells, n_genes))
    if dedupe:  # the large run skips it: it would copy 8 GB, and no comparison is made there
        X.sum_duplicates()
    return X


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
    a = p.parse_args()
    if a.large:
        n, g, dens, d, n_edges = 1_000_000, 20_000, 0.05, 512, 50_000
    else:
        n, g, dens, d, n_edges = 20_000, 2_000, 0.10, 256, 50_000
    t0 = time.perf_counter()
    X = random_csr(n, g, dens, seed=0, dedupe=not a.large)
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
    if a.large:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(
            f"  peak RSS {peak:.1f} GiB (the data alone: X {(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**30:.1f} GiB, "
            f"E {E.nbytes / 2**30:.1f} GiB)"
        )
        return
    t0 = time.perf_counter()
    ref = scipy_way(X, E, src, dst)
    t_sp = time.perf_counter() - t0
    print(f"  scipy product:  {t_sp:8.2f} s   scmf/scipy = {t_ours / t_sp:.2f} (target <= 1)")
    t0 = time.perf_counter()
    loop = per_gene_loop(X, E, src, dst)
    t_loop = time.perf_counter() - t0
    print(f"  per-gene loop:  {t_loop:8.2f} s   kernels {t_loop / t_ours:.0f}x faster")
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    np.testing.assert_allclose(ours, loop, atol=1e-9)
    print("  all three give the same scores (1e-9)")
    whole_call(X, E, src, dst, t_loop)


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
