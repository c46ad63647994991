"""Models that turn cells into embeddings: the protocol, vocabularies, tokenizers, checkpoints.

Everything touching torch or transformers is imported on first use, so ``import scmf``
stays light.
"""

from __future__ import annotations

from typing import Any

from ._load import format_info, formats, load, load_pretrained_with_vocab, register_format
from ._matching import GeneMatch, gene_ids, match_genes
from ._protocol import EmbeddingModel, Recipe, RecipeHooks, model_name
from ._resolve import BASELINES, resolve
from ._tokenizers import Tokenizer, Tokens, get_tokenizer
from ._vocab import GeneVocab

_LAZY = {
    "ReferenceConfig": "._reference",
    "ReferenceModel": "._reference",
    "save_reference": "._reference",
    "load_reference": "._reference",
    "load_geneformer": "._geneformer",
    "load_scgpt": "._scgpt",
    "load_uce": "._uce",
    "load_scfoundation": "._scfoundation",
    "load_transcriptformer": "._transcriptformer",
    "ScGPTTokenizer": "._scgpt",
    "tokenized_batches": "._torch",
    "TokenizedModel": "._torch",
    "TokenPlan": "._torch",
    "plan_tokens": "._torch",
    "device_of": "._torch",
    "gene_input_embeddings": "._torch",
    "gene_contextual_embeddings": "._torch",
    "gene_table": "._genes",
    "TokenDataset": "._training",
    "masked_gene_loss": "._training",
    "lit_module": "._training",
    "random_release": "._random",
    "external": "._external",
    "ExternalModel": "._external",
    "UntrustedModelError": "._external",
    "trusted_folder": "._external",
    "ExternalRecipe": "._external_recipes",
    "create_environment": "._external",
    "RECIPES": "._external_recipes",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    msg = f"module 'scmf.models' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "BASELINES",
    "RECIPES",
    "EmbeddingModel",
    "ExternalModel",
    "ExternalRecipe",
    "GeneMatch",
    "GeneVocab",
    "Recipe",
    "RecipeHooks",
    "ReferenceConfig",
    "ReferenceModel",
    "ScGPTTokenizer",
    "TokenDataset",
    "TokenPlan",
    "TokenizedModel",
    "Tokenizer",
    "Tokens",
    "UntrustedModelError",
    "create_environment",
    "device_of",
    "external",
    "format_info",
    "formats",
    "gene_contextual_embeddings",
    "gene_ids",
    "gene_input_embeddings",
    "gene_table",
    "get_tokenizer",
    "lit_module",
    "load",
    "load_geneformer",
    "load_pretrained_with_vocab",
    "load_reference",
    "load_scfoundation",
    "load_scgpt",
    "load_transcriptformer",
    "load_uce",
    "masked_gene_loss",
    "match_genes",
    "model_name",
    "plan_tokens",
    "random_release",
    "register_format",
    "resolve",
    "save_reference",
    "tokenized_batches",
    "trusted_folder",
]
