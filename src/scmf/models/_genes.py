"""A model's gene representations beyond one dataset: its input gene embeddings as a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._protocol import EmbeddingModel


def gene_table(
    model: str | Path | EmbeddingModel,
    genes=None,
    *,
    gene_key_type: str = "auto",
    device: str = "auto",
    seed: int = 0,
    options: dict[str, Any] | None = None,
):
    """A model's input gene embeddings as a table, for genes beyond one dataset's.

    What :func:`scmf.tl.embed_genes` writes with ``mode="input"``, for any list of genes (default:
    every gene of the model's vocabulary), as a ``pandas.DataFrame`` (genes x d, float32,
    indexed by gene name; genes outside the vocabulary left out). Give it to
    :func:`scmf.bm.perturbation_response` as ``gene_rep={"name": table}``: a perturbed gene
    that was not measured still has a representation.

    Parameters
    ----------
    model
        A checkpoint directory or a tokenised model, as in :func:`scmf.tl.embed_genes`.
    genes
        Gene names (symbols or Ensembl ids); ``None``: the vocabulary's (symbols where known).
    gene_key_type
        ``"ensembl"``, ``"symbol"`` or ``"auto"`` (detected from the names).
    device, seed, options
        As in :func:`scmf.tl.embed`.

    Examples
    --------
    >>> import os, tempfile, scanpy as sc, scmf
    >>> path = scmf.models.random_release("reference", os.path.join(tempfile.mkdtemp(), "tiny"), genes=["CD3E", "MS4A1", "LYZ"])
    >>> scmf.models.gene_table(path).index.tolist()
    ['CD3E', 'MS4A1', 'LYZ']
    """
    import pandas as pd

    from ._resolve import resolve
    from ._torch import gene_input_embeddings

    resolved = resolve(model, seed=seed, **dict(options or {}))
    tok = resolved.tokenizer
    if genes is None:
        vocab = tok.vocab
        special = set(vocab.specials.values())
        names = [
            str(s) if str(s) else str(t)
            for i, (t, s) in enumerate(zip(vocab.tokens, vocab.symbol, strict=True))
            if i not in special and str(t)
        ]
    else:
        names = [str(g) for g in genes]
    names = list(dict.fromkeys(names))
    index = pd.Index(names)
    match, _ = tok.match(pd.DataFrame(index=index), index, id_type=gene_key_type)
    emb = gene_input_embeddings(resolved, np.asarray(match.token_ids), device=device)
    keep = ~np.isnan(emb).any(axis=1)
    return pd.DataFrame(emb[keep], index=index[keep])
