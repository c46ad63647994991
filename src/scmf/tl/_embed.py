from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from .._keys import EMBED_KEY, UNS_KEY
from .._store import encode
from .._validate import check_anndata
from ..models import BASELINES, EmbeddingModel, model_name
from ._baselines import pca_embedding, random_embedding
from ._expression import get_expression

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")


def embed(
    adata: AnnData,
    model: str | EmbeddingModel,
    *,
    layer: str | None = None,
    batch_size: int = 256,
    key_added: str = EMBED_KEY,
    n_comps: int = 50,
    seed: int = 0,
    copy: bool = False,
) -> AnnData | None:
    """Embed every cell with ``model`` into ``adata.obsm[key_added]``.

    Parameters
    ----------
    adata
        Annotated data matrix (cells x genes). Never modified except for the outputs below.
    model
        ``"pca"`` or ``"random"`` for the baselines, or any object following the
        :class:`scmf.models.EmbeddingModel` protocol.
    layer
        Expression layer to read (``None``: ``adata.X``).
    batch_size
        Cells per batch handed to a model (ignored by the baselines, which see all cells).
    key_added
        ``obsm`` key to write; use it with ``sc.pp.neighbors(adata, use_rep=key_added)``.
    n_comps
        Dimensions of the ``"pca"`` and ``"random"`` baselines.
    seed
        Seed of the baselines (and of any stochastic step).
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``. Sets

    ``adata.obsm[key_added]``
        The embedding, float32, cells x dims.
    ``adata.uns["scmf"]["params"][key_added]``
        The parameters: ``model``, ``layer``, ``batch_size`` and the model's own.

    Notes
    -----
    The ``"pca"`` baseline looks at the values first: a matrix of non-negative integers is
    treated as raw counts and normalised to 10,000 counts per cell and log1p-transformed
    before PCA; non-integer non-negative values are taken as already log-normalised, and a
    matrix with negative values as already scaled; both are used as they are. The choice is
    recorded as ``input_scale``.

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
    check_anndata(adata, "scmf.tl.embed")
    if not isinstance(key_added, str) or not key_added or "/" in key_added:
        msg = f"key_added must be a non-empty string without '/', got {key_added!r}."
        raise ValueError(msg)
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        msg = f"batch_size must be a positive integer, got {batch_size!r}."
        raise ValueError(msg)
    if isinstance(model, str):
        if model == "pca":
            emb, params = pca_embedding(adata, n_comps=n_comps, layer=layer, seed=seed)
        elif model == "random":
            emb, params = random_embedding(adata, n_comps=n_comps, seed=seed)
        else:
            msg = f"Unknown model {model!r}: pass one of {list(BASELINES)} or a model object with an embed(X, var_names) method."
            raise ValueError(msg)
    elif isinstance(model, EmbeddingModel):
        emb = _embed_batches(adata, model, layer=layer, batch_size=int(batch_size))
        params = {"model": model_name(model), "layer": layer, "batch_size": int(batch_size)}
    else:
        msg = f"model must be a baseline name {list(BASELINES)} or have an embed(X, var_names) method, got {type(model).__name__}."
        raise TypeError(msg)

    # everything computed and checked: only now touch adata
    adata = adata.copy() if copy else adata
    adata.obsm[key_added] = emb
    uns = dict(adata.uns.get(UNS_KEY, {}))
    all_params = dict(uns.get("params", {}))
    all_params[key_added] = encode(params, "params")
    uns["params"] = all_params
    adata.uns[UNS_KEY] = uns
    logger.info("wrote adata.obsm[%r] (%d x %d) from model %r", key_added, *emb.shape, params["model"])
    return adata if copy else None


def _embed_batches(
    adata: AnnData, model: EmbeddingModel, *, layer: str | None, batch_size: int
) -> np.ndarray:
    X = get_expression(adata, layer)
    var_names = np.asarray(adata.var_names, dtype=object)
    out: np.ndarray | None = None
    for start in range(0, adata.n_obs, batch_size):
        stop = min(start + batch_size, adata.n_obs)
        batch = X[start:stop]
        if sparse.issparse(batch):
            batch = sparse.csr_matrix(batch)
        res = np.asarray(model.embed(batch, var_names))
        if res.ndim != 2 or res.shape[0] != stop - start:
            msg = (
                f"model {model_name(model)!r} returned shape {res.shape} for a batch of {stop - start} cells; "
                "embed() must return (n_cells, d)."
            )
            raise ValueError(msg)
        if not np.isfinite(res).all():
            msg = f"model {model_name(model)!r} returned NaN or inf for cells {start}..{stop - 1}."
            raise ValueError(msg)
        if out is None:
            out = np.empty((adata.n_obs, res.shape[1]), dtype=np.float32)
        elif res.shape[1] != out.shape[1]:
            msg = f"model {model_name(model)!r} returned {res.shape[1]} dims for one batch and {out.shape[1]} for another."
            raise ValueError(msg)
        out[start:stop] = res
    assert out is not None
    return out
