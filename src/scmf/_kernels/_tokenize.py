"""Tokenising a CSR batch of cells: select, order and encode each cell's expressed genes.

One parallel pass per batch, no per-cell Python: for every cell the expressed genes that are
in the vocabulary are valued (optionally transformed and scaled), ordered by value
(descending, ties by column order), truncated to ``max_len`` and written as token ids and
values into a padded (cells x longest) array.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._cache import CACHE

# value transforms applied to the stored expression before anything else
NONE, EXPM1, NORMALISE_LOG1P = 0, 1, 2
# how a token's value is encoded
RAW, BINNED = 0, 1


@njit(cache=CACHE)
def _cell(indptr, indices, data, gene_tok, gene_scale, transform, target_sum, i):  # pragma: no cover
    lo, hi = indptr[i], indptr[i + 1]
    total = 0.0
    if transform == NORMALISE_LOG1P:
        for p in range(lo, hi):
            total += data[p]
    m = 0
    for p in range(lo, hi):
        if gene_tok[indices[p]] >= 0 and data[p] > 0:
            m += 1
    vals = np.empty(m, dtype=np.float64)
    toks = np.empty(m, dtype=np.int64)
    m = 0
    for p in range(lo, hi):
        g = indices[p]
        x = data[p]
        if gene_tok[g] >= 0 and x > 0:
            if transform == EXPM1:
                x = math.expm1(x)
            elif transform == NORMALISE_LOG1P:
                x = math.log1p(x / total * target_sum)
            vals[m] = x * gene_scale[g]
            toks[m] = gene_tok[g]
            m += 1
    return vals, toks


@njit(cache=CACHE)
def _quantile_edges(vals, n_edges):  # pragma: no cover - numba
    """``np.quantile(vals, np.linspace(0, 1, n_edges))`` (numpy's linear method, same rounding)."""
    v = np.sort(vals)
    n = v.size
    step = 1.0 / (n_edges - 1)
    edges = np.empty(n_edges)
    for e in range(n_edges):
        q = 1.0 if e == n_edges - 1 else e * step
        idx = q * (n - 1)
        lo = min(int(idx), n - 1)  # idx >= 0: truncation is floor
        hi = min(lo + 1, n - 1)
        t = idx - lo
        a, b = v[lo], v[hi]
        diff = b - a
        edges[e] = b - diff * (1.0 - t) if t >= 0.5 else a + diff * t
        if e > 0 and edges[e] < edges[e - 1]:
            edges[e] = edges[e - 1]
    return edges


@njit(cache=CACHE)
def _digitize_left(x, edges):  # pragma: no cover - numba
    """``np.digitize(x, edges)`` for increasing edges: number of edges <= x."""
    return np.searchsorted(edges, x, side="right")


@njit(parallel=True, cache=CACHE)
def _lengths(indptr, indices, data, gene_tok, max_len):  # pragma: no cover - numba
    n = indptr.size - 1
    out = np.empty(n, dtype=np.int64)
    for i in prange(n):
        m = 0
        for p in range(indptr[i], indptr[i + 1]):
            if gene_tok[indices[p]] >= 0 and data[p] > 0:
                m += 1
        out[i] = min(m, max_len)
    return out


@njit(parallel=True, cache=CACHE)
def _fill(
    indptr,
    indices,
    data,
    gene_tok,
    gene_scale,
    transform,
    target_sum,
    encoding,
    n_bins,
    max_len,
    offset,
    ids,
    values,
):  # pragma: no cover - numba
    n = indptr.size - 1
    for i in prange(n):
        vals, toks = _cell(indptr, indices, data, gene_tok, gene_scale, transform, target_sum, i)
        m = vals.size
        if m == 0:
            continue
        enc = vals
        if encoding == BINNED:
            # scGPT's per-cell binning of the non-zero values: quantile edges, left digitize
            edges = _quantile_edges(vals, n_bins - 1)
            enc = _digitize_left(vals, edges).astype(np.float64)
        order = np.argsort(-vals, kind="mergesort")  # stable: ties keep column order
        k = min(m, max_len)
        for r in range(k):
            ids[i, offset + r] = toks[order[r]]
            values[i, offset + r] = enc[order[r]]


def tokenize_csr(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    gene_tok: np.ndarray,
    gene_scale: np.ndarray,
    *,
    max_len: int,
    transform: int = NONE,
    target_sum: float = 1e4,
    encoding: int = RAW,
    n_bins: int = 51,
    pad_id: int = 0,
    cls_id: int = -1,
    eos_id: int = -1,
):
    """Token ids, values and lengths of a CSR batch (see module docstring).

    ``max_len`` counts gene tokens only; ``<cls>`` (front) and ``<eos>`` (after the last
    gene) are added when their ids are >= 0. Rows are padded with ``pad_id`` (value 0) to the
    longest cell of the batch.
    """
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int64)
    data = np.ascontiguousarray(data, dtype=np.float64)
    gene_tok = np.ascontiguousarray(gene_tok, dtype=np.int64)
    gene_scale = np.ascontiguousarray(gene_scale, dtype=np.float64)
    n = indptr.size - 1
    n_genes = _lengths(indptr, indices, data, gene_tok, max_len)
    front = 1 if cls_id >= 0 else 0
    back = 1 if eos_id >= 0 else 0
    lengths = n_genes + front + back
    width = int(lengths.max()) if n else front + back
    ids = np.full((n, width), pad_id, dtype=np.int64)
    values = np.zeros((n, width), dtype=np.float32)
    _fill(
        indptr,
        indices,
        data,
        gene_tok,
        gene_scale,
        transform,
        target_sum,
        encoding,
        n_bins,
        max_len,
        front,
        ids,
        values,
    )
    if front:
        ids[:, 0] = cls_id
    if back:
        ids[np.arange(n), lengths - 1] = eos_id
    return ids, values, lengths
