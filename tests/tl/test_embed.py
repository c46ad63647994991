from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

import scmf


def test_pca_on_counts_normalises_first():
    adata = scmf.datasets.toy(300, 4, n_genes=200, seed=2)
    X_before = adata.X.copy()
    scmf.tl.embed(adata, "pca", n_comps=10)
    params = adata.uns["scmf"]["params"]["X_scmf"]
    assert params["input_scale"] == "counts" and params["preprocessing"].startswith("normalize_total")
    assert (adata.X != X_before).nnz == 0  # X untouched
    ref = adata.copy()
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    sc.pp.pca(ref, n_comps=10, random_state=0)
    # same subspace up to sign per component
    np.testing.assert_allclose(np.abs(adata.obsm["X_scmf"]), np.abs(ref.obsm["X_pca"]), atol=2e-3, rtol=1e-3)


def test_pca_on_lognormalised_is_used_as_is(pbmc):
    adata = pbmc.raw.to_adata()  # log-normalised values, not integers
    scmf.tl.embed(adata, "pca", n_comps=5)
    assert adata.uns["scmf"]["params"]["X_scmf"]["input_scale"] == "log1p"
    ref = sc.pp.pca(adata.X, n_comps=5, random_state=0)
    np.testing.assert_allclose(np.abs(adata.obsm["X_scmf"]), np.abs(ref), atol=1e-3, rtol=1e-3)


def test_random_is_seeded_and_float32(pbmc):
    scmf.tl.embed(pbmc, "random", n_comps=8, seed=5, key_added="X_r1")
    scmf.tl.embed(pbmc, "random", n_comps=8, seed=5, key_added="X_r2")
    assert pbmc.obsm["X_r1"].dtype == np.float32 and pbmc.obsm["X_r1"].shape == (700, 8)
    np.testing.assert_array_equal(pbmc.obsm["X_r1"], pbmc.obsm["X_r2"])
    assert set(pbmc.uns["scmf"]["params"]) >= {"X_r1", "X_r2", "X_pca_baseline", "X_random_baseline"}


def test_chains_into_scanpy(pbmc):
    scmf.tl.embed(pbmc, "pca", n_comps=20)
    sc.pp.neighbors(pbmc, use_rep="X_scmf")
    assert pbmc.obsp["connectivities"].shape == (700, 700)


class MeanModel:
    name = "mean_of_genes"

    def embed(self, X, var_names):
        X = X.toarray() if sparse.issparse(X) else X
        return np.stack([X.mean(axis=1), X.max(axis=1)], axis=1)


def test_custom_model_batches_do_not_matter(pbmc):
    scmf.tl.embed(pbmc, MeanModel(), batch_size=7, key_added="X_a")
    scmf.tl.embed(pbmc, MeanModel(), batch_size=1000, key_added="X_b")
    np.testing.assert_array_equal(pbmc.obsm["X_a"], pbmc.obsm["X_b"])
    np.testing.assert_allclose(pbmc.obsm["X_a"][:, 0], pbmc.X.mean(axis=1), rtol=1e-6)
    assert pbmc.uns["scmf"]["params"]["X_a"]["model"] == "mean_of_genes"


class BadShape:
    def embed(self, X, var_names):
        return np.zeros((X.shape[0] + 1, 3))


class NaNModel:
    def embed(self, X, var_names):
        return np.full((X.shape[0], 3), np.nan)


def test_bad_models_leave_adata_unchanged(pbmc):
    before_obsm, before_uns = set(pbmc.obsm), dict(pbmc.uns["scmf"]["params"])
    with pytest.raises(ValueError, match="returned shape"):
        scmf.tl.embed(pbmc, BadShape())
    with pytest.raises(ValueError, match="NaN"):
        scmf.tl.embed(pbmc, NaNModel())
    with pytest.raises(ValueError, match="Unknown model 'umap'"):
        scmf.tl.embed(pbmc, "umap")
    with pytest.raises(TypeError, match="embed"):
        scmf.tl.embed(pbmc, 42)
    with pytest.raises(KeyError, match="layer='counts'"):
        scmf.tl.embed(pbmc, "pca", layer="counts")
    assert set(pbmc.obsm) == before_obsm and dict(pbmc.uns["scmf"]["params"]) == before_uns


def test_copy_returns_new_object(pbmc):
    out = scmf.tl.embed(pbmc, "random", copy=True)
    assert "X_scmf" in out.obsm and "X_scmf" not in pbmc.obsm
