"""numba kernels: arrays in, arrays out; nothing here is public API."""

from __future__ import annotations

from ._pairwise import exact_knn, label_distance_sums, neighbour_distances

__all__ = ["exact_knn", "label_distance_sums", "neighbour_distances"]
