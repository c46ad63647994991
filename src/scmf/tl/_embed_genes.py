"""Gene representations of a model: its input token embeddings or its contextual output states."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._expression import with_raw
from .._keys import GENE_EMBED_KEY
from .._uns import check_writable, write_embedding_params
from .._validate import check_anndata
from ..models import EmbeddingModel, resolve

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")

MODES = ("input", "contextual")


def embed_genes(
    adata: AnnData,
    model: str | Path | EmbeddingModel,
    *,
    mode: str = "input",
    key_added: str = GENE_EMBED_KEY,
    layer: str | None = None,
    use_raw: bool = False,
    batch_size: int = 64,
    device: str = "auto",
    gene_key: str | None = None,
    id_type: str = "auto",
    input_scale: str = "auto",
    seed: int = 0,
    options: dict[str, Any] | None = None,
    progress: bool | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Represent every gene of ``adata`` by ``model`` into ``adata.varm[key_added]``.

    Parameters
    ----------
    adata
        Annotated data matrix (cells x genes), in memory, backed or with a Dask expression
        (``mode="contextual"`` reads it in row chunks, never whole). Never modified except for
        the outputs below.
    model
        A checkpoint directory scmf loads (reference model, Geneformer, scGPT, UCE,
        scFoundation, TranscriptFormer; see :func:`scmf.models.load`) or a
        :class:`scmf.models.TokenizedModel` whose module has ``token_embeddings(ids)`` and
        ``token_states(ids, values, mask)``.
    mode
        ``"input"``: the model's own embedding of each gene's token, the same for every
        dataset (Geneformer's and the reference model's token table; scGPT's gene encoder,
        embedding and layer norm, as its authors extract gene embeddings; UCE's and
        TranscriptFormer's ESM-2 protein embeddings, the tables they read; scFoundation's gene
        embedding). ``"contextual"``: each gene's output state averaged over the cells of
        ``adata`` that express it (as the Geneformer and scGPT papers take gene embeddings),
        run with the model's own recipe in chunks as :func:`scmf.tl.embed` runs it (for
        Geneformer, the cell embedding's hidden layer).
    key_added
        ``varm`` key to write.
    layer, use_raw, batch_size, device, gene_key, id_type, input_scale, seed, options, progress
        As in :func:`scmf.tl.embed` (``seed`` and ``options`` for a checkpoint directory).
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``. Sets

    ``adata.varm[key_added]``
        genes x d, float32; the rows of genes outside the model's vocabulary (and, for
        ``"contextual"``, of genes expressed in no cell) are NaN.
    ``adata.uns["scmf"]["params"][key_added]``
        The model's parameters, ``mode``, ``genes`` (how many of the data's genes matched),
        ``n_genes_represented`` and, for ``"contextual"``, ``n_occurrences_median``.

    Examples
    --------
    >>> import os, tempfile, scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> path = scmf.models.random_release("reference", os.path.join(tempfile.mkdtemp(), "tiny"), genes=adata)
    >>> scmf.tl.embed_genes(adata, path)
    >>> adata.varm["X_scmf_genes"].shape[0] == adata.n_vars
    True
    """
    check_anndata(adata, "scmf.tl.embed_genes")
    if mode not in MODES:
        msg = f"mode must be one of {MODES}, got {mode!r}."
        raise ValueError(msg)
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        msg = f"key_added must be a non-empty string without '/', got {key_added!r}."
        raise ValueError(msg)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        msg = f"batch_size must be a positive integer, got {batch_size!r}."
        raise ValueError(msg)
    check_writable(adata)
    source, source_layer = with_raw(adata, layer, use_raw)
    from ..models import BASELINES

    if isinstance(model, str) and model in BASELINES:
        msg = (
            f"{model!r} is a cell baseline; embed_genes needs a model with gene tokens (a checkpoint folder)."
        )
        raise TypeError(msg)
    resolved = resolve(model, seed=seed, **dict(options or {}))
    from ..models import gene_contextual_embeddings, gene_input_embeddings

    if getattr(resolved, "tokenizer", None) is None:  # no gene tokens: the models room says so
        gene_input_embeddings(resolved, np.zeros(0, dtype=np.int64))
    if mode == "input":
        match, _ = resolved.tokenizer.match(source.var, source.var_names, gene_key=gene_key, id_type=id_type)
        emb = gene_input_embeddings(resolved, np.asarray(match.token_ids), device=device)
        params = {**resolved.params(), "genes": match.report(resolved.tokenizer.vocab)}
        extra: dict[str, Any] = {}
    else:
        emb, seen, params = gene_contextual_embeddings(
            source, resolved, layer=source_layer, batch_size=int(batch_size), device=device, gene_key=gene_key,
            id_type=id_type, input_scale=input_scale, progress=progress,
        )  # fmt: skip
        extra = {"n_occurrences_median": float(np.median(seen[seen > 0])) if (seen > 0).any() else 0.0}
    if source is not adata:  # .raw's genes: written for adata's genes, by name
        import pandas as pd

        emb = pd.DataFrame(emb, index=source.var_names).reindex(adata.var_names).to_numpy(np.float32)
    n_rep = int((~np.isnan(emb).any(axis=1)).sum())
    params = {**params, "mode": mode, "n_genes_represented": n_rep, **extra}
    if use_raw:
        params["use_raw"] = True
    if copy:
        adata = adata.copy()
    adata.varm[key_added] = emb
    write_embedding_params(adata, key_added, params)
    logger.info("wrote adata.varm[%r] (%d x %d, %d genes represented)", key_added, *emb.shape, n_rep)
    return adata if copy else None
