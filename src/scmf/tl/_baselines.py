"""The baselines every model should be compared against: PCA and random embeddings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from .._keys import PCA_BASELINE_KEY, RANDOM_BASELINE_KEY
from .._expression import detect_scale, get_expression, normalise_log1p

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")


def pca_embedding(
    adata: AnnData, *, n_comps: int = 50, layer: str | None = None, seed: int = 0, scale: str = "auto"
) -> tuple[np.ndarray, dict[str, Any]]:
    """PCA of the expression matrix; raw counts are normalised to 1e4 per cell and log1p'd first."""
    import scanpy as sc

    X = get_expression(adata, layer)
    detected = detect_scale(X) if scale == "auto" else scale
    if detected not in ("counts", "log1p", "scaled"):
        msg = f"scale must be 'auto', 'counts', 'log1p' or 'scaled', got {scale!r}."
        raise ValueError(msg)
    if detected == "counts":
        X = normalise_log1p(X)
    n_max = min(adata.n_obs, adata.n_vars) - 1
    if n_max < 1:
        msg = f"PCA needs at least 2 cells and 2 genes, adata has {adata.n_obs} x {adata.n_vars}."
        raise ValueError(msg)
    k = min(n_comps, n_max)
    emb = sc.pp.pca(X, n_comps=k, random_state=seed, dtype=np.float32)
    params = {
        "model": "pca",
        "n_comps": int(k),
        "layer": layer,
        "input_scale": detected,
        "preprocessing": "normalize_total(1e4)+log1p" if detected == "counts" else "none",
        "seed": seed,
    }
    return np.ascontiguousarray(emb, dtype=np.float32), params


def random_embedding(
    adata: AnnData, *, n_comps: int = 50, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Standard-normal embedding that ignores the data: the floor any model must beat."""
    rng = np.random.default_rng(seed)
    emb = rng.standard_normal((adata.n_obs, n_comps), dtype=np.float32)
    return emb, {"model": "random", "n_comps": int(n_comps), "seed": seed}


def baselines(
    adata: AnnData, *, n_comps: int = 50, layer: str | None = None, seed: int = 0, copy: bool = False
) -> AnnData | None:
    """Compute both baselines, PCA and random, in one call.

    Parameters
    ----------
    adata
        Annotated data matrix.
    n_comps
        Dimensions of each baseline embedding.
    layer
        Expression layer for PCA (``None``: ``adata.X``); raw counts are detected and
        normalised + log1p'd before PCA, see :func:`scmf.tl.embed`.
    seed
        Random seed of both baselines.
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``. Sets

    ``adata.obsm["X_pca_baseline"]``
        PCA embedding (float32, cells x ``n_comps``).
    ``adata.obsm["X_random_baseline"]``
        Random embedding (float32, cells x ``n_comps``).
    ``adata.uns["scmf"]["params"][key]``
        Parameters of each.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> adata.obsm["X_pca_baseline"].shape
    (700, 20)
    """
    from ._embed import embed

    adata = adata.copy() if copy else adata
    embed(adata, "pca", n_comps=n_comps, layer=layer, seed=seed, key_added=PCA_BASELINE_KEY)
    embed(adata, "random", n_comps=n_comps, seed=seed, key_added=RANDOM_BASELINE_KEY)
    return adata if copy else None
