"""Models that turn cells into embeddings: the protocol, the baselines, adapters."""

from __future__ import annotations

from ._protocol import EmbeddingModel, model_name

BASELINES = ("pca", "random")

__all__ = ["BASELINES", "EmbeddingModel", "model_name"]
