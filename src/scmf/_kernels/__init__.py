"""numba kernels: arrays in, arrays out; nothing here is public API.

The rest of scmf imports kernels from this package, never from its modules.
"""

from __future__ import annotations

from ._grn import block_cosine, cell_block_rows, edge_cosine, expressing_counts, expressing_sums, unit_rows
from ._pairwise import exact_knn, label_distance_sums, neighbour_distances
from ._ranking import bootstrap_ranking, bootstrap_seeds, weighted_ranking
from ._tokenize import BINNED, EXPM1, NONE, NORMALISE_LOG1P, RAW, tokenize_csr
from ._wilcoxon import benjamini_hochberg, rank_sum_vs_reference

__all__ = [
    "BINNED",
    "EXPM1",
    "NONE",
    "NORMALISE_LOG1P",
    "RAW",
    "benjamini_hochberg",
    "block_cosine",
    "bootstrap_ranking",
    "bootstrap_seeds",
    "cell_block_rows",
    "edge_cosine",
    "exact_knn",
    "expressing_counts",
    "expressing_sums",
    "label_distance_sums",
    "neighbour_distances",
    "rank_sum_vs_reference",
    "tokenize_csr",
    "unit_rows",
    "weighted_ranking",
]
