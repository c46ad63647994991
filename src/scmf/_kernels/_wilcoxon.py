"""Wilcoxon rank-sum (Mann-Whitney U) of many groups against one reference, on a sparse matrix.

``rank_sum_vs_reference`` works gene by gene in parallel on a CSC matrix. Zeros are never
expanded: per gene the reference's non-zero values are sorted once, and each group's
non-zero values are placed among them by binary search; the zeros of the reference and of a
group enter as one tied block each. The U statistic of a group is the number of (group,
reference) pairs where the group's value is larger, ties counting one half; the tie term
(sum of t^3 - t over tied blocks of the pooled sample) is the reference's own plus what the
group's values add. The p-value is the two-sided normal approximation with continuity
correction and tie correction, the same as ``scipy.stats.mannwhitneyu(method="asymptotic")``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._cache import CACHE


@njit(cache=CACHE)
def _cube(t):  # pragma: no cover - numba
    return t * t * t - t


@njit(parallel=True, cache=CACHE)
def rank_sum_vs_reference(indptr, indices, data, group, n_groups, group_sizes, n_ref):  # pragma: no cover
    """U statistic and two-sided p-value of every group against the reference, per gene.

    ``group[row]`` is the row's group (``-1``: reference, ``-2``: left out); ``group_sizes``
    the cells per group. Returns ``(U, p)``, each ``(n_groups, n_genes)``.
    """
    n_genes = indptr.size - 1
    U = np.zeros((n_groups, n_genes))
    P = np.ones((n_groups, n_genes))
    for g in prange(n_genes):
        lo, hi = indptr[g], indptr[g + 1]
        # the reference's non-zero values, sorted; the groups' non-zero values with their group
        n_r = 0
        n_o = 0
        for k in range(lo, hi):
            if data[k] != 0.0:
                gr = group[indices[k]]
                if gr == -1:
                    n_r += 1
                elif gr >= 0:
                    n_o += 1
        ref = np.empty(n_r)
        vals = np.empty(n_o)
        grp = np.empty(n_o, dtype=np.int64)
        i_r = 0
        i_o = 0
        for k in range(lo, hi):
            v = data[k]
            if v != 0.0:
                gr = group[indices[k]]
                if gr == -1:
                    ref[i_r] = v
                    i_r += 1
                elif gr >= 0:
                    vals[i_o] = v
                    grp[i_o] = gr
                    i_o += 1
        ref.sort()
        zeros_ref = n_ref - n_r
        # the reference's own tie term, its zeros included
        tie_ref = _cube(float(zeros_ref))
        k = 0
        while k < n_r:
            j = k
            while j + 1 < n_r and ref[j + 1] == ref[k]:
                j += 1
            tie_ref += _cube(float(j - k + 1))
            k = j + 1
        below_zero = np.searchsorted(ref, 0.0)  # reference values < 0 (scaled data)
        # groups' values sorted by (group, value)
        order = np.argsort(vals, kind="mergesort")
        order = order[np.argsort(grp[order], kind="mergesort")]
        u = np.zeros(n_groups)
        tie_add = np.zeros(n_groups)
        nonzero = np.zeros(n_groups, dtype=np.int64)
        k = 0
        while k < n_o:
            gr = grp[order[k]]
            v = vals[order[k]]
            j = k
            while j + 1 < n_o and grp[order[j + 1]] == gr and vals[order[j + 1]] == v:
                j += 1
            b = float(j - k + 1)
            left = np.searchsorted(ref, v)
            right = np.searchsorted(ref, v, side="right")
            a = float(right - left)
            less = float(left) + (zeros_ref if v > 0.0 else 0.0)
            u[gr] += b * (less + 0.5 * a)
            tie_add[gr] += _cube(a + b) - _cube(a)
            nonzero[gr] += j - k + 1
            k = j + 1
        n2 = float(n_ref)
        for gr in range(n_groups):
            n1 = float(group_sizes[gr])
            if n1 == 0.0:
                continue
            z_g = n1 - nonzero[gr]  # the group's zeros: one tied block with the reference's
            a0 = float(zeros_ref)
            u1 = u[gr] + z_g * (below_zero + 0.5 * a0)
            tie = tie_ref + tie_add[gr] + _cube(a0 + z_g) - _cube(a0)
            U[gr, g] = u1
            n = n1 + n2
            s_sq = n1 * n2 / 12.0 * ((n + 1.0) - tie / (n * (n - 1.0)))
            if s_sq <= 0.0:
                continue  # every value tied: p = 1
            stat = max(u1, n1 * n2 - u1)
            z = (stat - n1 * n2 / 2.0 - 0.5) / math.sqrt(s_sq)
            p = math.erfc(z / math.sqrt(2.0))  # 2 * (1 - Phi(z))
            P[gr, g] = min(max(p, 0.0), 1.0)
    return U, P


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values along the last axis (``scipy.stats.false_discovery_control``)."""
    p = np.asarray(p, dtype=np.float64)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.minimum(ranked, 1.0), axis=-1)
    return out
