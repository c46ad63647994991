from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._expression import expression_source, is_dask, with_raw
from .._io import check_new_folder
from .._keys import BASELINES, EMBED_KEY, USES_BATCH
from .._uns import check_writable, write_embedding_params
from .._validate import check_anndata
from ..models import EmbeddingModel, model_name, resolve
from ._compute import compute

if TYPE_CHECKING:
    from anndata import AnnData
    from mudata import MuData

logger = logging.getLogger("scmf")


def embed(
    adata: AnnData | MuData,
    model: str | Path | EmbeddingModel,
    *,
    layer: str | None = None,
    use_raw: bool = False,
    batch_size: int = 256,
    device: str = "auto",
    key_added: str = EMBED_KEY,
    gene_key: str | None = None,
    id_type: str = "auto",
    input_scale: str = "auto",
    mod: str | None = None,
    n_comps: int = 50,
    seed: int = 0,
    batch_key: str | None = None,
    options: dict[str, Any] | None = None,
    client: Any = None,
    zarr_store: str | Path | None = None,
    block_size: int | None = None,
    progress: bool | None = None,
    copy: bool = False,
) -> AnnData | MuData | None:
    """Embed every cell with ``model`` into ``adata.obsm[key_added]``.

    Parameters
    ----------
    adata
        Annotated data matrix (cells x genes), in memory or backed
        (``read_h5ad(..., backed="r")``: read in row chunks, never loaded whole), or a
        ``MuData`` (the modality ``mod`` is embedded and written to). Never modified except
        for the outputs below.
    model
        A baseline: ``"pca"``, ``"random"``, ``"hvg"`` (log-normalised expression of the
        highly variable genes), ``"harmony"`` or ``"scvi"`` (batch-corrected: need
        ``batch_key``; see :func:`scmf.tl.baselines`); a checkpoint directory (scmf reference
        model, Geneformer, or a registered format; see :func:`scmf.models.load`); a
        :class:`scmf.models.TokenizedModel` (a PyTorch module with ``encode`` plus a
        tokenizer); or any object following :class:`scmf.models.EmbeddingModel`.
    layer
        Expression layer to read (``None``: ``adata.X``).
    use_raw
        Read ``adata.raw`` (its expression and gene names; scanpy's meaning), e.g. for
        ``pbmc68k_reduced``, whose ``X`` is scaled and ``.raw`` log-normalised.
    batch_size
        Cells per forward pass (ignored by the baselines, which see all cells).
    device
        ``"auto"`` (CUDA, else Apple MPS, else CPU) or a torch device string.
    key_added
        ``obsm`` key to write; use it with ``sc.pp.neighbors(adata, use_rep=key_added)``.
    gene_key
        ``var`` column holding the gene names to match to the model's vocabulary
        (``None``: ``var_names``).
    id_type
        ``"ensembl"``, ``"symbol"`` or ``"auto"`` (detected from the names).
    input_scale
        What the expression values are: ``"counts"``, ``"log1p"`` (log-normalised) or
        ``"auto"`` (detected; a warning when the tokenizer expects something else).
    mod
        Modality of a ``MuData`` (default ``"rna"`` when present, or the only one).
    n_comps
        Dimensions of the ``"pca"``, ``"random"`` and ``"harmony"`` baselines.
    seed
        Seed of the baselines, and of the random draws of a checkpoint given as a path whose
        recipe samples (scGPT, UCE); a model object keeps the seed it was loaded with.
    batch_key
        ``obs`` column of the batches, for the ``"harmony"`` and ``"scvi"`` baselines (which
        then use batch labels: integration methods, not zero-shot references).
    options
        Settings of a baseline (``hvg``: ``n_top_genes`` = 2000, ``flavor`` = ``"auto"``,
        ``scale`` = False; ``harmony``: ``theta`` = 2, ``max_iter_harmony`` = 10; ``scvi``:
        ``n_latent`` = 10, ``max_epochs`` = 100, ``early_stopping`` = True, ``n_layers`` = 1,
        ``batch_size`` = 128), or the loader options of a checkpoint directory (see
        :func:`scmf.models.format_info`).
    client
        A ``dask.distributed.Client`` to embed on. Default: when the expression is a Dask
        array (``anndata.experimental.read_elem_lazy``, :func:`scmf.datasets.read_lazy`),
        the client active in this process if there is one, else the blocks are embedded one
        after the other in this process. Passing a client with an in-memory matrix sends it
        to the workers block by block. See the scale section of the documentation.
    zarr_store
        A zarr path the embedding is written to; ``obsm[key_added]`` is then a Dask array
        reading it. With a Dask expression the workers write their blocks themselves. The
        path must not exist (or be an empty folder): an existing store is never replaced. The
        store is written under a temporary name beside it and renamed when complete, so a
        failed or killed run leaves no half-written store.
    block_size
        Cells per block of a Dask expression (default: its row chunks).
    progress
        Show a progress bar (``None``: when writing to a terminal).
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``. Sets

    ``adata.obsm[key_added]``
        The embedding, float32, cells x dims.
    ``adata.uns["scmf"]["params"][key_added]``
        The parameters: ``model``, ``layer``, ``batch_size`` and, for tokenised models,
        ``checkpoint``, ``tokenizer``, ``genes`` (how many of the data's genes and of the
        vocabulary matched), ``device``, ``dtype``, ``input_scale``, ``n_empty_cells``.

    Notes
    -----
    The ``"pca"`` baseline looks at the values first: a matrix of non-negative integers is
    treated as raw counts and normalised to 10,000 counts per cell and log1p-transformed
    before PCA; non-integer non-negative values are taken as already log-normalised, and a
    matrix with negative values as already scaled; both are used as they are. The choice is
    recorded as ``input_scale``.

    Tokenised models see cells in chunks; within a chunk, cells of similar length are
    batched together and each batch is padded only to its longest cell. A cell's embedding
    does not depend on its batch (up to float rounding).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.embed(adata, "pca", n_comps=30)
    >>> adata.obsm["X_scmf"].shape
    (700, 30)
    >>> adata.uns["scmf"]["params"]["X_scmf"]["input_scale"]
    'scaled'
    """
    target, holder = _modality(adata, mod)
    check_anndata(target, "scmf.tl.embed")
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        msg = f"key_added must be a non-empty string without '/', got {key_added!r}."
        raise ValueError(msg)
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        msg = f"batch_size must be a positive integer, got {batch_size!r}."
        raise ValueError(msg)
    check_writable(target)  # before any work: a foreign uns["scmf"] would fail the write after obsm was set
    source, source_layer = with_raw(target, layer, use_raw)
    baseline = isinstance(model, str) and model in BASELINES
    resolved = resolve(model, seed=seed, **({} if baseline else dict(options or {})))
    if batch_key is not None and not (baseline and model in USES_BATCH):
        msg = f"batch_key is read by the {' and '.join(USES_BATCH)} baselines only, not by {model_name(resolved)!r}."
        raise ValueError(msg)
    kw = {
        "layer": source_layer, "batch_size": int(batch_size), "device": device, "gene_key": gene_key,
        "id_type": id_type, "input_scale": input_scale, "n_comps": n_comps, "seed": seed,
    }  # fmt: skip
    if baseline:
        kw.update(batch_key=batch_key, options=dict(options or {}))
    if zarr_store is not None:
        check_new_folder(zarr_store)  # before the work, not after it
    X = (
        None
        if isinstance(resolved, str) and resolved == "random"
        else expression_source(source, source_layer)
    )
    if X is not None and (is_dask(X) or client is not None):
        from ._dask import embed_blocks

        emb, params = embed_blocks(
            source, resolved, X=X, compute_kw=kw, client=client, zarr_store=zarr_store, block_size=block_size,
            progress=progress,
        )  # fmt: skip
    else:
        emb, params = compute(source, resolved, progress=progress, **kw)
        if zarr_store is not None:  # computed in memory: written whole, handed back as a lazy reader
            from ._dask import write_zarr

            emb, params = write_zarr(emb, zarr_store), {**params, "zarr_store": str(zarr_store)}

    if use_raw:
        params["use_raw"] = True
    # everything computed and checked: only now touch adata
    if copy:
        holder = holder.copy()
        target, _ = _modality(holder, mod)
    target.obsm[key_added] = emb
    write_embedding_params(target, key_added, params)
    logger.info("wrote adata.obsm[%r] (%d x %d) from model %r", key_added, *emb.shape, params["model"])
    return holder if copy else None


def extract_embeddings(
    model: Any,
    adata: AnnData | MuData,
    tokenizer: Any = None,
    *,
    batch_size: int = 256,
    device: str = "auto",
    layer: str | None = None,
    use_raw: bool = False,
    gene_key: str | None = None,
    id_type: str = "auto",
    input_scale: str = "auto",
    mod: str | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """The cell embeddings of ``adata`` by ``model`` as an array, without writing to ``adata``.

    The evaluation guide's ``extract_embeddings``: the same computation as :func:`embed`
    (which stores the result in ``obsm`` and records its parameters, and is what scanpy-style
    code uses). ``model`` is anything :func:`embed` accepts; a PyTorch module with ``encode``
    plus a ``tokenizer`` (:func:`scmf.models.get_tokenizer`) works too.

    Returns
    -------
    float32 array, cells x dimensions.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.extract_embeddings("pca", adata).shape
    (700, 50)
    >>> "X_scmf" in adata.obsm
    False
    """
    target, _ = _modality(adata, mod)
    check_anndata(target, "scmf.tl.extract_embeddings")
    check_writable(target)  # before any work: a foreign uns["scmf"] would fail the write after obsm was set
    source, source_layer = with_raw(target, layer, use_raw)
    emb, _ = compute(
        source, resolve(model, tokenizer=tokenizer), layer=source_layer, batch_size=int(batch_size), device=device,
        gene_key=gene_key, id_type=id_type, input_scale=input_scale, n_comps=50, seed=0, progress=progress,
    )  # fmt: skip
    return emb


def _modality(adata, mod: str | None):
    """(AnnData to embed, object the user passed)."""
    from mudata import MuData

    if isinstance(adata, MuData):
        mods = list(adata.mod)
        if mod is None:
            if "rna" in adata.mod:
                mod = "rna"
            elif len(mods) == 1:
                mod = mods[0]
            else:
                msg = f"this MuData has modalities {mods}; pass mod= naming the one to embed."
                raise ValueError(msg)
        if mod not in adata.mod:
            msg = f"mod={mod!r} is not a modality of this MuData (modalities: {mods})."
            raise KeyError(msg)
        return adata.mod[mod], adata
    if mod is not None:
        msg = "mod= is only for MuData input."
        raise ValueError(msg)
    return adata, adata
