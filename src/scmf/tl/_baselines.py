"""The baselines every model should be compared against: PCA and random embeddings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .._keys import PCA_BASELINE_KEY, RANDOM_BASELINE_KEY
from ._embed import embed

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")


def baselines(
    adata: AnnData,
    *,
    n_comps: int = 50,
    layer: str | None = None,
    use_raw: bool = False,
    seed: int = 0,
    copy: bool = False,
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
    use_raw
        PCA of ``adata.raw`` (scanpy's meaning) instead of ``X``.
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

    adata = adata.copy() if copy else adata
    embed(adata, "pca", n_comps=n_comps, layer=layer, use_raw=use_raw, seed=seed, key_added=PCA_BASELINE_KEY)
    embed(adata, "random", n_comps=n_comps, seed=seed, key_added=RANDOM_BASELINE_KEY)
    return adata if copy else None
