"""tl.embed with tokenised PyTorch models: batching, backed files, MuData, failures."""

from __future__ import annotations

import anndata as ad
import mudata as md
import numpy as np
import pytest
import torch

import scmf
from scmf import ScmfWarning
from scmf.models import TokenizedModel, load


def test_batch_size_does_not_change_results(ref_checkpoint, kang_small):
    res = {}
    for bs in (1, 7, 64, 1000):
        scmf.tl.embed(kang_small, ref_checkpoint, batch_size=bs, input_scale="log1p", key_added=f"X_{bs}")
        res[bs] = kang_small.obsm[f"X_{bs}"]
        assert res[bs].dtype == np.float32
    for bs in (7, 64, 1000):
        np.testing.assert_allclose(res[bs], res[1], rtol=1e-5, atol=1e-5)
    assert np.unique(res[1], axis=0).shape[0] == kang_small.n_obs  # cells differ


def test_params_written_and_survive_h5ad(ref_checkpoint, kang_small, tmp_path):
    X_before = kang_small.X.copy()
    var_before = kang_small.var.copy()
    scmf.tl.embed(kang_small, ref_checkpoint, input_scale="log1p")
    assert (kang_small.X != X_before).nnz == 0
    assert kang_small.var.equals(var_before)
    p = kang_small.uns["scmf"]["params"]["X_scmf"]
    assert p["checkpoint"] == str(ref_checkpoint) and p["format"] == "reference"
    assert p["tokenizer"]["kind"] == "rank_value" and p["tokenizer"]["max_len"] == 64
    assert p["device"] == "cpu" and p["dtype"] == "float32" and p["batch_size"] == 256
    assert p["genes"]["n_genes_matched"] > 5000 and p["genes"]["n_genes_data"] == kang_small.n_vars
    kang_small.write_h5ad(tmp_path / "e.h5ad")
    back = ad.read_h5ad(tmp_path / "e.h5ad")
    np.testing.assert_array_equal(back.obsm["X_scmf"], kang_small.obsm["X_scmf"])
    assert back.uns["scmf"]["params"]["X_scmf"]["genes"]["n_genes_matched"] == p["genes"]["n_genes_matched"]


def test_chains_into_scanpy_and_benchmarks(ref_checkpoint, kang):
    import scanpy as sc

    adata = kang.copy()
    scmf.tl.embed(adata, ref_checkpoint, input_scale="log1p")
    sc.pp.neighbors(adata, use_rep="X_scmf")
    scmf.tl.baselines(adata, n_comps=30)
    scmf.bm.linear_probe(adata, "cell_type", use_rep=["X_scmf", "X_pca_baseline", "X_random_baseline"])
    acc = scmf.bm.results(adata).query("metric == 'balanced_accuracy'").set_index("rep")["value"]
    # an untrained transformer still carries which genes are expressed: it beats random
    assert acc["X_scmf"] > acc["X_random_baseline"] + 0.2


def test_backed_equals_in_memory(ref_checkpoint, kang_small, tmp_path):
    kang_small.write_h5ad(tmp_path / "k.h5ad")
    backed = ad.read_h5ad(tmp_path / "k.h5ad", backed="r")
    scmf.tl.embed(backed, ref_checkpoint, input_scale="log1p", batch_size=32)
    scmf.tl.embed(kang_small, ref_checkpoint, input_scale="log1p", batch_size=32)
    np.testing.assert_allclose(backed.obsm["X_scmf"], kang_small.obsm["X_scmf"], rtol=1e-6, atol=1e-6)
    assert backed.isbacked


def test_mudata_modality(ref_checkpoint, kang_small):
    mdata = md.MuData({"rna": kang_small, "other": kang_small[:, :10].copy()})
    scmf.tl.embed(mdata, ref_checkpoint, input_scale="log1p")
    assert mdata.mod["rna"].obsm["X_scmf"].shape[0] == kang_small.n_obs
    assert "X_scmf" not in mdata.mod["other"].obsm
    with pytest.raises(KeyError, match="modalities"):
        scmf.tl.embed(mdata, ref_checkpoint, mod="atac")
    out = scmf.tl.embed(mdata, ref_checkpoint, input_scale="log1p", key_added="X_copy", copy=True)
    assert "X_copy" in out.mod["rna"].obsm and "X_copy" not in mdata.mod["rna"].obsm


class _Broken(torch.nn.Module):
    def __init__(self, inner, fail):
        super().__init__()
        self.inner, self.fail = inner, fail

    def encode(self, ids, values, mask):
        out = self.inner.encode(ids, values, mask)
        if self.fail == "nan":
            out[0] = float("nan")
        elif self.fail == "shape":
            out = out[:-1]
        elif self.fail == "raise":
            raise RuntimeError("boom")
        return out


@pytest.mark.parametrize(
    ("fail", "err", "match"),
    [("nan", ValueError, "NaN"), ("shape", ValueError, "shape"), ("raise", RuntimeError, "boom")],
)
def test_failing_model_leaves_adata_and_model_as_they_were(ref_checkpoint, kang_small, fail, err, match):
    m = load(ref_checkpoint)
    broken = TokenizedModel(_Broken(m.module, fail), m.tokenizer, name="broken")
    broken.module.train()
    before = set(kang_small.obsm), dict(kang_small.uns)
    with pytest.raises(err, match=match):
        scmf.tl.embed(kang_small, broken, input_scale="log1p")
    assert (set(kang_small.obsm), dict(kang_small.uns)) == before
    assert broken.module.training  # train mode restored


def test_no_matching_genes(ref_checkpoint, kang_small):
    adata = kang_small.copy()
    adata.var_names = [f"g{i}" for i in range(adata.n_vars)]
    with pytest.raises(ValueError, match="none of the"):
        scmf.tl.embed(adata, ref_checkpoint)
    assert "X_scmf" not in adata.obsm


def test_cells_without_genes_warn(ref_checkpoint, kang_small):
    adata = kang_small.copy()
    X = adata.X.tolil()
    X[:3] = 0
    adata.X = X.tocsr()
    with pytest.warns(ScmfWarning, match=r"3 of \d+ cells express none"):
        scmf.tl.embed(adata, ref_checkpoint, input_scale="log1p")
    e = adata.obsm["X_scmf"]
    assert np.isfinite(e).all()
    np.testing.assert_allclose(e[0], e[1], rtol=1e-6)  # all empty cells get the same embedding


def test_bad_device_and_input(ref_checkpoint, kang_small):
    with pytest.raises(ValueError, match="torch device"):
        scmf.tl.embed(kang_small, ref_checkpoint, device="gpu0")
    with pytest.raises(ValueError, match="Unknown model"):
        scmf.tl.embed(kang_small, "not-a-model")
    with pytest.raises(ValueError, match="mod="):
        scmf.tl.embed(kang_small, ref_checkpoint, mod="rna")
    scaled = kang_small.copy()
    scaled.X = scaled.X.toarray() - 1.0
    with pytest.raises(ValueError, match="negative"):
        scmf.tl.embed(scaled, ref_checkpoint)


def test_rank_value_on_lognormalised_warns(ref_checkpoint, kang_small):
    with pytest.warns(ScmfWarning, match="expects raw counts"):
        scmf.tl.embed(kang_small, ref_checkpoint)
    assert kang_small.uns["scmf"]["params"]["X_scmf"]["input_scale"] == "log1p"
