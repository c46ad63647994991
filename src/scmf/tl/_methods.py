"""The baseline embeddings as arrays (with their parameters); nothing is written.

``METHODS`` maps each baseline name to its function ``f(adata, *, n_comps, layer, seed,
batch_key, options) -> (embedding, params)``; :func:`scmf.tl.embed` runs them through it.
Each equals its own library called directly on the same input (tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from .._expression import check_finite, detect_scale, get_expression, normalise_log1p, warn_unlogged
from .._keys import BASELINES, USES_BATCH

if TYPE_CHECKING:
    from anndata import AnnData


def pca_embedding(
    adata: AnnData, *, n_comps: int = 50, layer: str | None = None, seed: int = 0, scale: str = "auto"
) -> tuple[np.ndarray, dict[str, Any]]:
    """PCA of the expression matrix; raw counts are normalised to 1e4 per cell and log1p'd first."""
    import scanpy as sc

    X = get_expression(adata, layer)
    check_finite(X, "PCA baseline")
    n_max = min(adata.n_obs, adata.n_vars) - 1
    if n_max < 1:
        msg = f"PCA needs at least 2 cells and 2 genes, adata has {adata.n_obs} x {adata.n_vars}."
        raise ValueError(msg)
    if int(n_comps) > n_max:
        msg = (
            f"n_comps={n_comps}, but a PCA of {adata.n_obs} cells x {adata.n_vars} genes has at most {n_max} "
            f"components; pass n_comps={n_max} or fewer (to every baseline, so they compare like for like)."
        )
        raise ValueError(msg)
    if X.nnz == 0 if sparse.issparse(X) else not np.any(X):
        msg = "the expression matrix is all zeros: there is nothing for the PCA baseline to fit."
        raise ValueError(msg)
    detected = detect_scale(X) if scale == "auto" else scale
    if detected not in ("counts", "log1p", "scaled", "unlogged"):
        msg = f"scale must be 'auto', 'counts', 'log1p', 'unlogged' or 'scaled', got {scale!r}."
        raise ValueError(msg)
    if detected == "unlogged" and scale == "auto":
        warn_unlogged(X, "PCA baseline")
    if detected in ("counts", "unlogged"):
        X = normalise_log1p(X)
    k = int(n_comps)
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


def _no_options(name: str, options: dict) -> None:
    if options:
        msg = f"the {name} baseline takes no options; got {sorted(options)}."
        raise ValueError(msg)


def _pca(adata, *, n_comps, layer, seed, batch_key, options):
    _no_options("pca", options)
    return pca_embedding(adata, n_comps=n_comps, layer=layer, seed=seed)


def _random(adata, *, n_comps, layer, seed, batch_key, options):
    _no_options("random", options)
    return random_embedding(adata, n_comps=n_comps, seed=seed)


def _options(name: str, options: dict, allowed: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        msg = f"unknown option(s) {unknown} of the {name} baseline; it takes {sorted(allowed)}."
        raise ValueError(msg)
    return {**allowed, **options}


def _batches(adata: AnnData, batch_key: str | None, name: str) -> np.ndarray:
    if batch_key is None:
        msg = f"the {name} baseline corrects for batches: pass batch_key= (an obs column naming each cell's batch)."
        raise ValueError(msg)
    if batch_key not in adata.obs.columns:
        msg = f"batch_key={batch_key!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})."
        raise KeyError(msg)
    b = adata.obs[batch_key]
    if b.isna().any():
        msg = f"adata.obs[{batch_key!r}] has {int(b.isna().sum())} missing values; the {name} baseline needs a batch per cell."
        raise ValueError(msg)
    b = np.asarray(b.astype(str))
    if np.unique(b).size < 2:
        msg = f"adata.obs[{batch_key!r}] has one batch only; the {name} baseline corrects between batches (use pca)."
        raise ValueError(msg)
    return b


def hvg_embedding(adata, *, n_comps, layer, seed, batch_key, options):
    """Log-normalised expression of the highly variable genes (scanpy's selection), optionally scaled.

    Counts: ``seurat_v3`` on the counts, then the selected genes normalised to 10,000 per cell
    (over all genes) and log1p'd; log-normalised data: ``seurat`` on it, the genes as they are.
    A sparse matrix gives a sparse (CSR) embedding, unless ``scale`` (centred, so dense).
    """
    import scanpy as sc
    from anndata import AnnData

    opt = _options("hvg", options, {"n_top_genes": 2000, "flavor": "auto", "scale": False})
    X = get_expression(adata, layer)
    scale = detect_scale(X)
    if scale == "scaled":
        msg = (
            "the hvg baseline selects genes on counts or log-normalised expression; this matrix is scaled "
            "(negative values). Pass layer= naming the counts (or use_raw=True for log-normalised .raw)."
        )
        raise ValueError(msg)
    flavor = opt["flavor"]
    if flavor == "auto":
        flavor = "seurat_v3" if scale == "counts" else "seurat"
    if flavor == "seurat_v3" and scale != "counts":
        msg = (
            "flavor='seurat_v3' ranks genes on raw counts; this matrix is not counts (pass the counts layer)."
        )
        raise ValueError(msg)
    n_top = min(int(opt["n_top_genes"]), adata.n_vars)
    view = AnnData(X=X, var=pd.DataFrame(index=pd.Index(np.asarray(adata.var_names), dtype=object)))
    if flavor == "seurat_v3":
        table = sc.pp.highly_variable_genes(view, n_top_genes=n_top, flavor="seurat_v3", inplace=False)
    else:
        if scale == "unlogged":
            warn_unlogged(X, "hvg baseline")
            view = AnnData(X=normalise_log1p(X), var=view.var)
        table = sc.pp.highly_variable_genes(view, n_top_genes=n_top, flavor=flavor, inplace=False)
    genes = np.flatnonzero(np.asarray(table["highly_variable"]))
    if scale in ("counts", "unlogged"):  # per-cell totals over all genes, then only the chosen columns
        totals = np.asarray(X.sum(axis=1)).ravel().astype(np.float64)
        factor = np.divide(1e4, totals, out=np.zeros_like(totals), where=totals > 0).astype(np.float32)
        sub = X[:, genes]
        if sparse.issparse(sub):
            sub = sparse.csr_matrix(sub, dtype=np.float32)
            sub.data *= np.repeat(factor, np.diff(sub.indptr))
            np.log1p(sub.data, out=sub.data)
            emb = sub
        else:
            emb = np.log1p(np.asarray(sub, dtype=np.float32) * factor[:, None])
    else:
        sub = view.X[:, genes]
        emb = (
            sparse.csr_matrix(sub, dtype=np.float32)
            if sparse.issparse(sub)
            else np.asarray(sub, dtype=np.float32)
        )
    if opt["scale"]:  # centred: dense
        emb = sc.pp.scale(emb.toarray() if sparse.issparse(emb) else emb, max_value=10, copy=True)
    params = {
        "model": "hvg",
        "n_top_genes": int(genes.size),
        "flavor": flavor,
        "scale": bool(opt["scale"]),
        "layer": layer,
        "input_scale": scale,
        "preprocessing": "normalize_total(1e4)+log1p" if scale in ("counts", "unlogged") else "none",
        "genes": [str(g) for g in np.asarray(adata.var_names)[genes]],
    }
    if sparse.issparse(emb):  # sparse in, sparse out: never a dense cells x genes matrix
        emb.sort_indices()
        return emb, params
    return np.ascontiguousarray(emb, dtype=np.float32), params


def harmony_embedding(adata, *, n_comps, layer, seed, batch_key, options):
    """Harmony (harmonypy) on the PCA baseline's components, correcting ``batch_key``."""
    import harmonypy

    opt = _options("harmony", options, {"theta": 2.0, "max_iter_harmony": 10})
    batches = _batches(adata, batch_key, "harmony")
    pcs, pca_params = pca_embedding(adata, n_comps=n_comps, layer=layer, seed=seed)
    meta = pd.DataFrame({"batch": batches})
    ho = harmonypy.run_harmony(
        pcs.astype(np.float64), meta, ["batch"], theta=opt["theta"], max_iter_harmony=int(opt["max_iter_harmony"]),
        random_state=seed, verbose=False,
    )  # fmt: skip
    Z = np.asarray(ho.Z_corr)
    if Z.shape[0] != adata.n_obs:  # harmonypy < 0.1 returns dims x cells
        Z = Z.T
    params = {
        "model": "harmony",
        "batch_key": batch_key,
        "n_comps": pca_params["n_comps"],
        "theta": float(opt["theta"]),
        "max_iter_harmony": int(opt["max_iter_harmony"]),
        "layer": layer,
        "input_scale": pca_params["input_scale"],
        "preprocessing": pca_params["preprocessing"],
        "seed": seed,
    }
    return np.ascontiguousarray(Z, dtype=np.float32), params


def scvi_embedding(adata, *, n_comps, layer, seed, batch_key, options):
    """The latent space of an scVI model (scvi-tools) trained on the counts with ``batch_key``."""
    from anndata import AnnData

    opt = _options("scvi", options, {"n_latent": 10, "max_epochs": 100, "early_stopping": True, "n_layers": 1,
                                     "batch_size": 128})  # fmt: skip
    batches = _batches(adata, batch_key, "scvi")
    X = get_expression(adata, layer)
    scale = detect_scale(X)
    if scale != "counts":
        msg = (
            f"the scvi baseline models raw counts, but {'layer ' + repr(layer) if layer else 'adata.X'} holds "
            f"{scale} values. Pass layer= naming the counts (e.g. layer='counts')."
        )
        raise ValueError(msg)
    try:  # after the checks: a refusal does not wait for the import
        import scvi
    except ImportError:
        msg = 'the scvi baseline trains scvi-tools\' scVI: pip install "scmf[scvi]".'
        raise ImportError(msg) from None
    work = AnnData(X=X, obs=pd.DataFrame({"batch": batches}, index=pd.Index(np.asarray(adata.obs_names))))
    import logging

    quiet = {n: logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "scvi")}
    levels = {n: lg.level for n, lg in quiet.items()}
    for lg in quiet.values():  # "Seed set", "GPU available", tips: Lightning's notes at every fit
        lg.setLevel(logging.WARNING)
    try:
        scvi.settings.seed = int(seed)
        scvi.model.SCVI.setup_anndata(work, batch_key="batch")
        model = scvi.model.SCVI(work, n_latent=int(opt["n_latent"]), n_layers=int(opt["n_layers"]))
        model.train(
            max_epochs=int(opt["max_epochs"]), early_stopping=bool(opt["early_stopping"]),
            batch_size=int(opt["batch_size"]), accelerator="cpu", enable_progress_bar=False,
        )  # fmt: skip
    finally:
        for n, lg in quiet.items():
            lg.setLevel(levels[n])
    Z = model.get_latent_representation()
    history = model.history.get("elbo_train")
    params = {
        "model": "scvi",
        "batch_key": batch_key,
        "layer": layer,
        "input_scale": scale,
        **{k: opt[k] for k in ("n_latent", "max_epochs", "early_stopping", "n_layers", "batch_size")},
        "epochs_trained": len(history) if history is not None else None,
        "seed": seed,
        "scvi_tools_version": scvi.__version__,
    }
    return np.ascontiguousarray(Z, dtype=np.float32), params


#: every baseline :func:`scmf.tl.embed` knows by name (:data:`scmf._keys.BASELINES`)
METHODS = {
    "pca": _pca,
    "random": _random,
    "hvg": hvg_embedding,
    "harmony": harmony_embedding,
    "scvi": scvi_embedding,
}
assert tuple(METHODS) == BASELINES  # one list of names
__all__ = ["METHODS", "USES_BATCH", "pca_embedding", "random_embedding"]
