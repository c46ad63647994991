"""scFoundation checkpoints: scmf's loader and recipe against scFoundation's own get_embedding.py."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

import authors
import scmf
from helpers import counts_of

pytest.importorskip("einops", reason="the authors' scFoundation code needs einops (test extra)")
pytest.importorskip(
    "local_attention", reason="the authors' scFoundation code needs local-attention (test extra)"
)

CONFIG = {  # scFoundation's checkpoint layout, small sizes
    "model": "mae_autobin",
    "encoder": {"hidden_dim": 32, "depth": 2, "heads": 4, "dim_head": 8, "module_type": "transformer"},
    "decoder": {"hidden_dim": 16, "depth": 1, "heads": 2, "dim_head": 8, "module_type": "performer"},
    "n_class": 104,
    "bin_alpha": 1.0,
}
RNASEQ = {"seq_len": 19266, "bin_num": 10, "pad_token_id": 103, "mask_token_id": 102}


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return authors.scfoundation(tmp_path_factory.mktemp("authors"))


def _release(tmp_path, ref, seed=0):
    """``model/`` as in the authors' repository: the gene index and ``models/models.ckpt``."""
    torch.manual_seed(seed)
    parts = {}
    for i, key in enumerate(("gene", "cell", "rde")):
        model = ref.select_model({**CONFIG, **RNASEQ})
        with torch.no_grad():
            for p in model.parameters():
                p.add_((0.05 + 0.02 * i) * torch.randn_like(p))
        parts[key] = {
            "config": {
                "model": "mae_autobin",
                "model_config": {"mae_autobin": CONFIG},
                "dataset_config": {"rnaseq": RNASEQ},
            },
            "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        }
    d = tmp_path / "model"
    (d / "models").mkdir(parents=True)
    shutil.copy(ref.dir / "OS_scRNA_gene_index.19264.tsv", d)
    torch.save(parts, d / "models" / "models.ckpt")
    return d


def _authors_embedding(ref, d, adata, tmp_path, monkeypatch, argv):
    adata.write_h5ad(tmp_path / "cells.h5ad")
    monkeypatch.chdir(d)
    # the script moves everything to CUDA; on this CPU-only machine .cuda() stays on the CPU
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)
    monkeypatch.setattr(torch.nn.Module, "cuda", lambda self, *a, **k: self)
    ge = authors.scfoundation_get_embedding(
        ref,
        [
            "--data_path",
            str(tmp_path / "cells.h5ad"),
            "--save_path",
            str(tmp_path),
            "--output_type",
            "cell",
            *argv,
        ],
    )
    ge.main()
    (out,) = tmp_path.glob("*_embedding_*.npy")
    return np.load(out).reshape(adata.n_obs, -1)


@pytest.mark.parametrize(
    ("dataset", "options"),
    [
        ("kang_counts", {"pre_normalized": "F", "tgthighres": "t4"}),
        ("kang_counts", {"pre_normalized": "F", "tgthighres": "f2", "pool_type": "max", "version": "rde"}),
        ("norman", {"pre_normalized": "T", "tgthighres": "a0.5"}),
    ],
)
@pytest.mark.slow
def test_scfoundation_embedding_equals_authors(tmp_path, ref, kang, data_dir, dataset, options, monkeypatch):
    import anndata as ad

    if dataset == "kang_counts":
        cells = counts_of(kang[:60])
    else:
        cells = ad.read_h5ad(data_dir / "norman2019_mcfaline2023_perturbench_devel.h5ad")[::100].copy()
    d = _release(tmp_path, ref)
    argv = ["--pre_normalized", options["pre_normalized"], "--tgthighres", options["tgthighres"]]
    argv += ["--pool_type", options.get("pool_type", "all"), "--version", options.get("version", "ce")]
    want = _authors_embedding(ref, d, cells, tmp_path, monkeypatch, argv)
    loaded = scmf.models.load(d / "models", **options)
    assert type(loaded.module).__name__ == "ScFoundationEncoder"
    out = scmf.tl.embed(cells, loaded, batch_size=16, copy=True, progress=False)
    assert out.obsm["X_scmf"].shape == want.shape
    np.testing.assert_allclose(out.obsm["X_scmf"], want, rtol=0, atol=1e-5)
    params = out.uns["scmf"]["params"]["X_scmf"]
    assert params["format"] == "scfoundation" and params["tokenizer"]["tgthighres"] == options["tgthighres"]
    n_in_index = int(np.isin(cells.var_names, _index(ref)).sum())
    assert params["genes"]["n_genes_matched"] == n_in_index


def _index(ref):
    return pd.read_csv(ref.dir / "OS_scRNA_gene_index.19264.tsv", sep="\t")["gene_name"].tolist()


def test_scfoundation_inputs_equal_authors(tmp_path, ref, kang):
    """The aligned, normalised values and count tokens equal the script's, for each cell."""
    cells = counts_of(kang[:20])
    d = _release(tmp_path, ref)
    loaded = scmf.models.load(d, pre_normalized="F", tgthighres="a1")
    tok = loaded.tokenizer
    match, scale = tok.match(cells.var, cells.var_names)
    t = tok.encode(cells.X, match.token_ids, scale)
    genes = _index(ref)
    # float64, as the script's zero-filled alignment (np.concatenate with np.zeros) makes the frame
    frame = pd.DataFrame(cells.X.toarray().astype(np.float64), columns=cells.var_names)
    for i in range(cells.n_obs):  # get_embedding.py's per-cell preparation, step by step
        row = frame.iloc[i].reindex(genes).fillna(0.0)
        total = row.sum()
        values = [*np.log1p(row / total * 1e4).tolist(), np.log10(total) + 1.0, np.log10(total)]
        x = torch.tensor(values).unsqueeze(0)
        labels = x > 0
        data, _ = ref.load.gatherData(x, labels, 103)
        ids, _ = ref.load.gatherData(torch.arange(19266).repeat(1, 1), labels, 103)
        n = t.lengths[i]
        np.testing.assert_array_equal(t.ids[i, :n], ids[0].numpy())
        np.testing.assert_array_equal(t.values[i, :n], data[0].float().numpy())


def test_scfoundation_layout_and_errors(tmp_path, ref, kang):
    d = _release(tmp_path, ref)
    assert (
        scmf.models.load(d).info["gene_index"].endswith("OS_scRNA_gene_index.19264.tsv")
    )  # found one folder up
    (d / "OS_scRNA_gene_index.19264.tsv").rename(tmp_path / "index.tsv")
    with pytest.raises(FileNotFoundError, match="biomap-research/scFoundation"):
        scmf.models.load(d / "models")
    model = scmf.models.load(d / "models", gene_index=tmp_path / "index.tsv")
    with pytest.raises(ValueError, match="no 'xx' model"):
        scmf.models.load(d / "models", gene_index=tmp_path / "index.tsv", version="xx")
    with pytest.raises(ValueError, match="tgthighres"):
        scmf.models.load(d / "models", gene_index=tmp_path / "index.tsv", tgthighres="x4")
    unknown = pd.DataFrame(index=["NOT_A_GENE", "ALSO_NOT"])
    with pytest.raises(ValueError, match="gene index"):
        model.tokenizer.match(unknown, unknown.index)
    import pathlib

    ckpt = torch.load(d / "models" / "models.ckpt", weights_only=True)
    ckpt["cell"]["config"]["origin"] = pathlib.PurePosixPath("/trained/here")  # an object, not a plain value
    torch.save(ckpt, d / "models" / "models.ckpt")
    with pytest.raises(ValueError, match="does not run code"):
        scmf.models.load(d / "models", gene_index=tmp_path / "index.tsv")
    scmf.models.load(
        d / "models", gene_index=tmp_path / "index.tsv", weights_only=False
    )  # trusted by the user
    raw = (d / "models" / "models.ckpt").read_bytes()
    (d / "models" / "models.ckpt").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match="truncated"):
        scmf.models.load(d / "models", gene_index=tmp_path / "index.tsv")


def test_scfoundation_warns_for_cells_without_index_genes(tmp_path, ref, kang):
    cells = counts_of(kang[:6])
    X = cells.X.toarray()
    X[2] = 0  # a cell with nothing expressed: its count tokens alone reach the encoder
    cells.X = sparse.csr_matrix(X)
    model = scmf.models.load(_release(tmp_path, ref), pre_normalized="F")
    with pytest.warns(UserWarning, match="1 of 6 cells express none of the model's genes"):
        scmf.tl.embed(cells, model, copy=True, progress=False)
