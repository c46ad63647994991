"""The baselines every model should be compared against, computed in one call."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._keys import BASELINES, USES_BATCH, baseline_key
from ._embed import embed

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")


def baselines(
    adata: AnnData,
    methods: Sequence[str] = ("pca", "random"),
    *,
    n_comps: int = 50,
    batch_key: str | None = None,
    layer: str | None = None,
    use_raw: bool = False,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    copy: bool = False,
) -> AnnData | None:
    """Compute the baselines every model should be compared against, each into ``X_<name>_baseline``.

    The references published evaluations of foundation models use (Kedzierska et al., Genome
    Biology 2025): a model that does not beat them has not shown that it learned something
    they do not already give.

    - ``"pca"``: PCA of the log-normalised expression (raw counts are normalised + log1p'd).
    - ``"random"``: a standard-normal embedding that ignores the data: the floor.
    - ``"hvg"``: the log-normalised expression of the top 2,000 highly variable genes
      (scanpy's ``highly_variable_genes``: ``seurat_v3`` on counts, ``seurat`` on
      log-normalised data; ``options={"hvg": {"n_top_genes": ..., "scale": True}}``).
    - ``"harmony"``: Harmony (harmonypy) on the PCA components, correcting ``batch_key``.
    - ``"scvi"``: the latent space of scVI (scvi-tools, extra ``scmf[scvi]``) trained on the
      raw counts with ``batch_key`` (``options={"scvi": {"max_epochs": ...}}``; a fixed seed).

    ``harmony`` and ``scvi`` read the batch labels (their parameters say so:
    ``uses_batch_labels``): they are integration methods to set beside a model's batch
    correction, not zero-shot references; tables and comparisons label them as such.

    Parameters
    ----------
    adata
        Annotated data matrix.
    methods
        Baselines to compute, in order.
    n_comps
        Dimensions of ``pca``, ``random`` and ``harmony``.
    batch_key
        ``obs`` column of the batches (needed by ``harmony`` and ``scvi``).
    layer
        Expression layer (``None``: ``adata.X``); raw counts are detected. ``scvi`` needs counts.
    use_raw
        Read ``adata.raw`` (scanpy's meaning) instead of ``X``.
    seed
        Random seed of every baseline.
    options
        Per method, its settings (see :func:`scmf.tl.embed`'s ``options``).
    copy
        Return a modified copy instead of writing to ``adata``.

    Returns
    -------
    ``None``, or a copy of ``adata`` when ``copy=True``. Sets, per method,

    ``adata.obsm["X_<method>_baseline"]``
        The embedding (float32, cells x dims).
    ``adata.uns["scmf"]["params"][key]``
        Its parameters (``baseline: True``, ``uses_batch_labels``).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> adata.obsm["X_pca_baseline"].shape
    (700, 20)
    >>> scmf.tl.baselines(adata, ["hvg", "harmony"], batch_key="phase", use_raw=True, options={"hvg": {"n_top_genes": 300}})
    >>> adata.obsm["X_hvg_baseline"].shape, adata.uns["scmf"]["params"]["X_harmony_baseline"]["uses_batch_labels"]
    ((700, 300), True)
    """
    if isinstance(methods, str):
        methods = [methods]
    unknown = [m for m in methods if m not in BASELINES]
    if unknown:
        msg = f"unknown baseline(s) {unknown}; scmf computes {list(BASELINES)}."
        raise ValueError(msg)
    extra = sorted(set(options or {}) - set(methods))
    if extra:
        msg = f"options for {extra}, which are not among methods={list(methods)}."
        raise ValueError(msg)
    if batch_key is None and any(m in USES_BATCH for m in methods):
        msg = (
            f"{[m for m in methods if m in USES_BATCH]} correct for batches: pass batch_key= (an obs column)."
        )
        raise ValueError(msg)
    adata = adata.copy() if copy else adata
    for m in methods:
        embed(
            adata, m, n_comps=n_comps, layer=layer if m != "random" else None, use_raw=use_raw and m != "random",
            seed=seed, key_added=baseline_key(m), batch_key=batch_key if m in USES_BATCH else None,
            options=dict((options or {}).get(m, {})),
        )  # fmt: skip
    return adata if copy else None
