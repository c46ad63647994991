"""Per-cell tools: embeddings of cells into ``adata.obsm``."""

from __future__ import annotations

from ._baselines import baselines
from ._embed import embed, extract_embeddings
from ._embed_genes import embed_genes

__all__ = ["baselines", "embed", "embed_genes", "extract_embeddings"]
