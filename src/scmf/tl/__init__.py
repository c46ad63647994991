"""Per-cell tools: embeddings of cells into ``adata.obsm``."""

from __future__ import annotations

from ._baselines import baselines
from ._embed import embed, extract_embeddings

__all__ = ["baselines", "embed", "extract_embeddings"]
