"""The in-memory compute step of ``tl.embed``: a resolved model over cells in memory, nothing written.

Both routes of :func:`scmf.tl.embed` end here: a whole in-memory (or backed) AnnData, and each
block of a Dask expression (``tl/_dask.py``), so a cell's embedding is the same on either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from .._expression import check_finite, get_expression
from .._keys import USES_BATCH
from ..models import EmbeddingModel, model_name
from ._methods import METHODS

if TYPE_CHECKING:
    from anndata import AnnData


def compute(
    target: AnnData,
    model: Any,
    *,
    layer: str | None,
    batch_size: int,
    device: str,
    gene_key: str | None,
    id_type: str,
    input_scale: str,
    n_comps: int,
    seed: int,
    progress: bool | None,
    plan: Any = None,
    batch_key: str | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The embedding of ``target`` by ``model`` (already :func:`scmf.models.resolve`-d) and its params.

    ``plan`` (a :class:`scmf.models.TokenPlan`) is given for a block of a larger run: the
    genes are matched once for the whole run and a sampling recipe's random stream continues.
    ``batch_key`` and ``options`` are read by the baselines (see :data:`tl._methods.METHODS`).
    """
    if isinstance(model, str):  # resolve() leaves only the baselines as names
        emb, params = METHODS[model](
            target, n_comps=n_comps, layer=layer, seed=seed, batch_key=batch_key, options=dict(options or {})
        )
        return emb, {**params, "baseline": True, "uses_batch_labels": model in USES_BATCH}
    if callable(getattr(model, "embed_adata", None)):  # models that read the AnnData themselves (tokenised)
        check_finite(get_expression(target, layer) if not target.isbacked else None, model_name(model))
        kw = {"plan": plan} if plan is not None else {}
        return model.embed_adata(
            target, layer=layer, batch_size=batch_size, device=device, gene_key=gene_key, id_type=id_type,
            input_scale=input_scale, progress=progress, **kw,
        )  # fmt: skip
    if isinstance(model, EmbeddingModel):
        emb = _embed_batches(target, model, layer=layer, batch_size=batch_size)
        return emb, {"model": model_name(model), "layer": layer, "batch_size": batch_size}
    from ..models import BASELINES

    msg = (
        f"model must be a baseline name {list(BASELINES)}, a checkpoint directory, a TokenizedModel or an "
        f"object with an embed(X, var_names) method, got {type(model).__name__}."
    )
    raise TypeError(msg)


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
