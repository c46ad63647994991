"""The baselines published evaluations use (HVG, Harmony, scVI), each equal to its own library
called directly on the same input, and their refusals."""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

import scmf
from helpers import counts_of


@pytest.fixture(scope="module")
def kang_counts(kang):
    return counts_of(kang[::2])  # ~1,000 cells, raw counts


def test_hvg_on_counts_equals_scanpy(kang_counts):
    a = kang_counts.copy()
    scmf.tl.embed(a, "hvg", key_added="X_hvg", options={"n_top_genes": 500})
    ref = kang_counts.copy()
    sc.pp.highly_variable_genes(ref, n_top_genes=500, flavor="seurat_v3")  # on counts, as the field does
    sc.pp.normalize_total(ref, target_sum=1e4)
    sc.pp.log1p(ref)
    want = ref[:, ref.var["highly_variable"]].X.toarray()
    assert sparse.issparse(a.obsm["X_hvg"])  # sparse in, sparse out
    np.testing.assert_allclose(a.obsm["X_hvg"].toarray(), want, rtol=1e-5, atol=1e-6)
    p = a.uns["scmf"]["params"]["X_hvg"]
    assert p["flavor"] == "seurat_v3" and p["n_top_genes"] == 500 and p["input_scale"] == "counts"
    assert list(p["genes"]) == list(ref.var_names[ref.var["highly_variable"]])
    assert sparse.issparse(a.X) and a.X.nnz == kang_counts.X.nnz  # the data is untouched


def test_hvg_on_log_data_equals_scanpy_and_scales(kang):
    a = kang.copy()
    scmf.tl.embed(a, "hvg", key_added="X_hvg", options={"n_top_genes": 300, "scale": True})
    ref = kang.copy()
    sc.pp.highly_variable_genes(ref, n_top_genes=300, flavor="seurat")
    sub = ref[:, ref.var["highly_variable"]].copy()
    sc.pp.scale(sub, max_value=10)
    np.testing.assert_allclose(a.obsm["X_hvg"], sub.X, rtol=1e-4, atol=1e-5)
    assert a.uns["scmf"]["params"]["X_hvg"]["flavor"] == "seurat"


def test_harmony_equals_harmonypy(kang):
    import harmonypy

    a = kang.copy()
    scmf.tl.baselines(a, ["pca", "harmony"], batch_key="condition", n_comps=20, seed=3)
    pcs = a.obsm["X_pca_baseline"].astype(np.float64)
    ho = harmonypy.run_harmony(
        pcs, a.obs[["condition"]].astype(str), ["condition"], random_state=3, verbose=False
    )
    Z = np.asarray(ho.Z_corr)
    Z = Z if Z.shape[0] == a.n_obs else Z.T
    np.testing.assert_allclose(a.obsm["X_harmony_baseline"], Z, rtol=1e-5, atol=1e-5)
    p = a.uns["scmf"]["params"]["X_harmony_baseline"]
    assert p["uses_batch_labels"] and p["baseline"] and p["batch_key"] == "condition"

    # Harmony moves the conditions together: their centroids are closer than in the PCA
    def gap(E):
        c = a.obs["condition"].to_numpy()
        return np.linalg.norm(E[c == "control"].mean(0) - E[c == "stimulated"].mean(0))

    assert gap(a.obsm["X_harmony_baseline"]) < 0.5 * gap(a.obsm["X_pca_baseline"])


@pytest.mark.slow
def test_bad_input(kang, kang_counts):
    a = kang.copy()
    with pytest.raises(ValueError, match="pass batch_key="):
        scmf.tl.embed(a, "harmony")
    with pytest.raises(ValueError, match="pass batch_key="):
        scmf.tl.baselines(a, ["pca", "scvi"])
    a.obs["one"] = "b"
    with pytest.raises(ValueError, match="one batch only"):
        scmf.tl.embed(a, "harmony", batch_key="one")
    with pytest.raises(ValueError, match="Pass layer= naming the counts"):
        scmf.tl.embed(a, "scvi", batch_key="condition")  # Kang's X is log-normalised
    with pytest.raises(ValueError, match="read by the harmony and scvi baselines only"):
        scmf.tl.embed(a, "pca", batch_key="condition")
    with pytest.raises(ValueError, match="unknown option"):
        scmf.tl.embed(a, "hvg", options={"n_top": 10})
    with pytest.raises(ValueError, match="unknown baseline"):
        scmf.tl.baselines(a, ["pca", "umap"])
    scaled = sc.pp.scale(a, copy=True)
    with pytest.raises(ValueError, match="scaled"):
        scmf.tl.embed(scaled, "hvg")
    assert "X_scmf" not in a.obsm and "X_harmony_baseline" not in a.obsm  # nothing written by a refusal


@pytest.mark.slow
def test_scvi_equals_scvi_tools(kang_counts):
    scvi = pytest.importorskip("scvi")
    a = kang_counts[::2].copy()  # ~500 cells
    opts = {"max_epochs": 3, "n_latent": 8, "early_stopping": False}
    scmf.tl.embed(a, "scvi", batch_key="condition", seed=5, options=opts, key_added="X_scvi")
    ref = a.copy()
    ref.obs["batch"] = ref.obs["condition"].astype(str)
    scvi.settings.seed = 5
    scvi.model.SCVI.setup_anndata(ref, batch_key="batch")
    model = scvi.model.SCVI(ref, n_latent=8)
    model.train(
        max_epochs=3, early_stopping=False, batch_size=128, accelerator="cpu", enable_progress_bar=False
    )
    np.testing.assert_allclose(a.obsm["X_scvi"], model.get_latent_representation(), rtol=1e-4, atol=1e-5)
    p = a.uns["scmf"]["params"]["X_scvi"]
    assert p["uses_batch_labels"] and p["epochs_trained"] == 3 and p["seed"] == 5


@pytest.mark.slow
def test_tables_label_baselines_and_batch_aware_ones(kang):
    a = kang[::2].copy()
    a.obsm["X_model"] = a.obsm["X_pca"][:, :20]  # stands in for a model's embedding
    scmf.tl.baselines(a, ["pca", "random", "harmony"], batch_key="condition", n_comps=20)
    reps = ["X_model", "X_pca_baseline", "X_random_baseline", "X_harmony_baseline"]
    scmf.bm.linear_probe(a, "cell_type", use_rep=reps, n_splits=3)
    kinds = scmf.bm.rank_summary(a)["kind"]
    assert kinds.to_dict() == {"X_model": "model", "X_pca_baseline": "baseline", "X_random_baseline": "baseline",
                               "X_harmony_baseline": "baseline (batch labels)"}  # fmt: skip
    c = scmf.bm.compare(a, baseline="X_pca_baseline").drop_duplicates("rep").set_index("rep")["kind"]
    assert c["X_harmony_baseline"] == "baseline (batch labels)" and c["X_model"] == "model"
    ax = scmf.pl.results_table(a, show=False)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "X_harmony_baseline †" in labels and "X_model" in labels
    assert "uses batch labels" in ax.get_title()
    ax = scmf.pl.rank_summary(a, show=False)
    assert "X_harmony_baseline †" in [t.get_text() for t in ax.get_yticklabels()]
