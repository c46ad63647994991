"""The PCA and random baseline embeddings as arrays (with their parameters); nothing is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._expression import detect_scale, get_expression, normalise_log1p, warn_unlogged

if TYPE_CHECKING:
    from anndata import AnnData


def pca_embedding(
    adata: AnnData, *, n_comps: int = 50, layer: str | None = None, seed: int = 0, scale: str = "auto"
) -> tuple[np.ndarray, dict[str, Any]]:
    """PCA of the expression matrix; raw counts are normalised to 1e4 per cell and log1p'd first."""
    import scanpy as sc

    X = get_expression(adata, layer)
    detected = detect_scale(X) if scale == "auto" else scale
    if detected not in ("counts", "log1p", "scaled", "unlogged"):
        msg = f"scale must be 'auto', 'counts', 'log1p', 'unlogged' or 'scaled', got {scale!r}."
        raise ValueError(msg)
    if detected == "unlogged" and scale == "auto":
        warn_unlogged(X, "PCA baseline")
    if detected in ("counts", "unlogged"):
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
        "preprocessing": "normalize_total(1e4)+log1p" if detected in ("counts", "unlogged") else "none",
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
