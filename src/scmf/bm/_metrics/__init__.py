"""Pure array metrics (no AnnData), each tested against a reference implementation."""

from __future__ import annotations

from ._cell_cycle import cell_cycle_conservation, pc_regression
from ._kbet import isolated_labels, kbet_per_label
from ._neighbors import knn
from ._silhouette import bras, silhouette_batch, silhouette_label
from ._trajectory import trajectory_conservation

__all__ = [
    "bras",
    "cell_cycle_conservation",
    "isolated_labels",
    "kbet_per_label",
    "knn",
    "pc_regression",
    "silhouette_batch",
    "silhouette_label",
    "trajectory_conservation",
]
