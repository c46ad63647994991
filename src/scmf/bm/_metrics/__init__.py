"""Pure array metrics (no AnnData), each tested against a reference implementation."""

from __future__ import annotations

from ._neighbors import knn
from ._silhouette import bras, silhouette_batch, silhouette_label

__all__ = ["bras", "knn", "silhouette_batch", "silhouette_label"]
