"""Pure array metrics (no AnnData), each tested against a reference implementation."""

from __future__ import annotations

from ._kbet import isolated_labels, kbet_per_label
from ._neighbors import knn
from ._silhouette import bras, silhouette_batch, silhouette_label
from ._trajectory import trajectory_conservation

__all__ = [
    "bras",
    "isolated_labels",
    "kbet_per_label",
    "knn",
    "silhouette_batch",
    "silhouette_label",
    "trajectory_conservation",
]
