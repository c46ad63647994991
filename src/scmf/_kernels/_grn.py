"""GRN kernels: per-gene mean embedding of expressing cells, cosine scores of gene pairs.

``expressing_sums`` walks the CSR rows once in parallel, in blocks of cells whose embedding
rows fit in L2; each thread owns a run of blocks and its own (genes x d) accumulator, so no
atomics and no CSC copy of ``X`` are needed; the per-thread sums are added at the end. ``edge_cosine`` scores an edge list on
pre-normalised gene vectors without any genes x genes matrix.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ._cache import CACHE


@njit(parallel=True, cache=CACHE)
def _expressing_sums(indptr, indices, data, E, block, n_parts, acc):  # pragma: no cover - numba
    # Threads own runs of cell blocks and a float64 (genes x d) accumulator each. Within a block
    # of cells, positive entries are bucketed by gene (counting sort); each gene's cells are then
    # summed into a d-vector that stays in L1 and added to the accumulator once per block. The
    # block's embedding rows stay in L2, so the inner loop reads cache and writes nothing. The
    # partial sum of a block (a gene's few dozen cells of it) is kept in the embedding's own
    # dtype: float32 for a float32 embedding (relative error ~1e-7, the input's own precision;
    # 8 lanes per vector instead of 4 and no conversions: 1.4x faster at a million cells),
    # float64 for a float64 one (the sums are then float64 sums).
    n = indptr.size - 1
    n_genes = acc.shape[1]
    d = E.shape[1]
    n_blocks = (n + block - 1) // block
    per = (n_blocks + n_parts - 1) // n_parts
    for t in prange(n_parts):
        S = acc[t]
        ptr = np.zeros(n_genes + 1, dtype=np.int64)
        fill = np.zeros(n_genes, dtype=np.int64)
        tmp = np.empty(d, dtype=E.dtype)  # a block's partial sums in the embedding's precision
        b_lo = t * per
        b_hi = min(n_blocks, (t + 1) * per)
        most = 0
        for bi in range(b_lo, b_hi):
            most = max(most, indptr[min(n, (bi + 1) * block)] - indptr[bi * block])
        rows = np.empty(most, dtype=np.int64)
        for bi in range(b_lo, b_hi):
            lo = bi * block
            hi = min(n, lo + block)
            ptr[:] = 0
            for p in range(indptr[lo], indptr[hi]):
                if data[p] > 0:
                    ptr[indices[p] + 1] += 1
            for g in range(n_genes):
                ptr[g + 1] += ptr[g]
                fill[g] = ptr[g]
            for i in range(lo, hi):
                for p in range(indptr[i], indptr[i + 1]):
                    if data[p] > 0:
                        g = indices[p]
                        rows[fill[g]] = i
                        fill[g] += 1
            for g in range(n_genes):
                a = ptr[g]
                b = ptr[g + 1]
                if b > a:
                    tmp[:] = 0.0
                    q = a
                    # four rows per pass: a quarter of the loads and stores of ``tmp``
                    while q + 4 <= b:
                        e0 = E[rows[q]]
                        e1 = E[rows[q + 1]]
                        e2 = E[rows[q + 2]]
                        e3 = E[rows[q + 3]]
                        for k in range(d):
                            tmp[k] += (e0[k] + e1[k]) + (e2[k] + e3[k])
                        q += 4
                    while q < b:
                        e = E[rows[q]]
                        for k in range(d):
                            tmp[k] += e[k]
                        q += 1
                    row = S[g]
                    for k in range(d):
                        row[k] += tmp[k]


# Embedding rows of one cell block, kept in L2 (a 2 MB L2). Larger blocks mean more cells per
# gene per block, so fewer flushes of ``tmp`` into the (genes x d) accumulator: at 1,000,000
# cells x 20,000 genes, 5% dense, d = 512, float64 partial sums took 56 s with 1 MB blocks and
# 53 s with 2 MB ones; float32 partial sums with 2 MB blocks 39 s.
_BLOCK_BYTES = 2**21


def expressing_sums(
    X, E: np.ndarray, *, n_parts: int | None = None, counts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per gene, the sum of the embeddings of the cells expressing it (``X > 0``) and their count.

    Parameters
    ----------
    X
        (cells x genes) sparse matrix or array (made CSR), or an
        iterable of ``(start, block)``: consecutive row blocks of it from row ``start`` (each a
        CSR matrix), read one at a time, so that only one block is in memory (a backed file).
    E
        (cells x d) embedding.
    counts
        The counts, when already known (:func:`expressing_counts`): returned as given.

    Returns
    -------
    ``sums`` (genes x d) float64 and ``counts`` (genes,) int64. For a float32 embedding the
    partial sums within a block of cells are float32 (relative error ~1e-7); for float64,
    float64 throughout. Row blocks whose sizes are multiples of :func:`cell_block_rows` give
    the sums of the whole matrix up to the order of float64 additions.
    """
    # float32 embeddings are read as they are (accumulation is float64 either way): no 2x copy
    E = np.ascontiguousarray(E, dtype=E.dtype if E.dtype in (np.float32, np.float64) else np.float64)
    d = E.shape[1]
    if n_parts is None:
        n_parts = numba.get_num_threads()
    block = cell_block_rows(E)
    acc = total = None
    for start, Xb in _row_blocks(X):
        if acc is None:
            acc = np.zeros((max(1, min(n_parts, -(-E.shape[0] // block))), Xb.shape[1], d), dtype=np.float64)
        stop = start + Xb.shape[0]
        parts = max(1, min(acc.shape[0], -(-Xb.shape[0] // block)))
        _expressing_sums(Xb.indptr, Xb.indices, Xb.data, E[start:stop], block, parts, acc[:parts])
        if counts is None:
            c = expressing_counts(Xb)
            total = c if total is None else total + c
    if acc is None:
        msg = "expressing_sums: X has no rows."
        raise ValueError(msg)
    sums = acc[0] if acc.shape[0] == 1 else acc.sum(axis=0)
    return sums, total if counts is None else counts


def cell_block_rows(E: np.ndarray) -> int:
    """Cells per block of :func:`expressing_sums` for the embedding ``E`` (its rows fill L2)."""
    itemsize = E.dtype.itemsize if E.dtype in (np.float32, np.float64) else 8
    return max(16, _BLOCK_BYTES // max(E.shape[1] * itemsize, 1))


def _row_blocks(X):
    """``X`` as ``(start, CSR block)`` pairs: a matrix or array once, else the blocks it yields."""
    from scipy import sparse

    if sparse.issparse(X) or isinstance(X, np.ndarray):
        X = X if sparse.isspmatrix_csr(X) or isinstance(X, sparse.csr_array) else sparse.csr_matrix(X)
        return [(0, X)]
    return X


@njit(parallel=True, cache=CACHE)
def _expressing_counts(indptr, indices, data, n_parts, counts):  # pragma: no cover - numba
    n = indptr.size - 1
    per = (n + n_parts - 1) // n_parts
    for t in prange(n_parts):
        c = counts[t]
        for p in range(indptr[t * per], indptr[min(n, (t + 1) * per)]):
            if data[p] > 0:
                c[indices[p]] += 1


def expressing_counts(X) -> np.ndarray:
    """Per gene, the number of cells with a positive value in the CSR matrix ``X`` (int64), or
    in the ``(start, CSR block)`` row blocks ``X`` yields (see :func:`expressing_sums`)."""
    total = None
    for _, Xb in _row_blocks(X):
        n_parts = max(1, min(numba.get_num_threads(), Xb.shape[0]))
        counts = np.zeros((n_parts, Xb.shape[1]), dtype=np.int64)
        _expressing_counts(Xb.indptr, Xb.indices, Xb.data, n_parts, counts)
        total = counts.sum(axis=0) if total is None else total + counts.sum(axis=0)
    if total is None:
        msg = "expressing_counts: X has no rows."
        raise ValueError(msg)
    return total


@njit(parallel=True, cache=CACHE)
def _edge_dot(U, src, dst, out):  # pragma: no cover - numba
    d = U.shape[1]
    for e in prange(src.size):
        a = U[src[e]]
        b = U[dst[e]]
        s = 0.0
        for k in range(d):
            s += a[k] * b[k]
        out[e] = s


def unit_rows(R: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(R, axis=1, keepdims=True)
    return np.divide(R, norm, out=np.zeros_like(R, dtype=np.float64), where=norm > 0)


def edge_cosine(U: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Cosine similarity of the gene pairs ``(src[e], dst[e])`` given unit-row vectors ``U``."""
    U = np.ascontiguousarray(U, dtype=np.float64)
    out = np.empty(len(src), dtype=np.float64)
    _edge_dot(U, np.ascontiguousarray(src, dtype=np.int64), np.ascontiguousarray(dst, dtype=np.int64), out)
    return out


def block_cosine(U: np.ndarray, rows: np.ndarray, *, block: int = 256):
    """Yield ``(row_indices, scores)`` with ``scores = U[rows_block] @ U.T`` block by block.

    The (len(rows) x genes) score matrix is never held whole.
    """
    U = np.ascontiguousarray(U, dtype=np.float64)
    UT = np.ascontiguousarray(U.T)
    for s in range(0, len(rows), block):
        r = rows[s : s + block]
        yield r, U[r] @ UT
