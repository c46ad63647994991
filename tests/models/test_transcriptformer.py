"""TranscriptFormer model folders: scmf's loader and recipe against TranscriptFormer's own inference."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

import authors
import scmf
from helpers import counts_of

pytest.importorskip("pytorch_lightning", reason="the authors' TranscriptFormer code needs pytorch_lightning")
omegaconf = pytest.importorskip("omegaconf", reason="the authors' TranscriptFormer code needs omegaconf")

SPECIALS = ["unknown", "[START]", "[END]", "[RD]", "[CELL]", "[PAD]", "[MASK]"]
MODEL = {  # the keys of the released config.json's model_config, small sizes
    "log_counts_eps": 1e-6, "num_heads": 4, "num_layers": 2, "model_dim": 64, "embed_dim": 32, "dropout": 0.1,
    "activation": "gelu", "attn_bias": False, "fw_bias": False, "mu_link_fn": "softmax", "softcap": 10,
    "seq_len": 255, "aux_len": 1, "block_len": 128, "gene_head_hidden_dim": 64, "use_aux": True,
    "compile_block_mask": False,
}  # fmt: skip
ASSAYS = {"unknown": 0, "10x 3' v2": 1, "10x 3' v3": 2}


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return authors.transcriptformer(tmp_path_factory.mktemp("authors"))


def with_ensembl(adata, gf_vocab):
    """Cells with var["ensembl_id"] (some with version suffixes) from the Geneformer gene table."""
    table = gf_vocab.to_frame()
    table = table[table["symbol"] != ""].drop_duplicates("symbol").set_index("symbol")["ensembl_id"]
    keep = adata.var_names.isin(table.index)
    out = adata[:, keep].copy()
    ids = table.reindex(out.var_names).to_numpy().astype(str)
    ids = np.array([f"{g}.{i % 9 + 1}" if i % 5 == 0 else g for i, g in enumerate(ids)], dtype=object)
    out.var["ensembl_id"] = ids
    out.obs["assay"] = np.where(
        np.arange(out.n_obs) % 3 == 0,
        "10x 3' v2",
        np.where(np.arange(out.n_obs) % 3 == 1, "10x 3' v3", "Smart-seq2"),
    )
    return out


def _release(tmp_path, ref, genes, *, aux=True, seed=0):
    rng = np.random.default_rng(seed)
    d = tmp_path / "tf_tiny"
    (d / "vocabs").mkdir(parents=True)
    with h5py.File(d / "vocabs" / "homo_sapiens_gene.h5", "w") as fh:
        fh.create_dataset("keys", data=np.array([g.encode() for g in genes]))
        arrays = fh.create_group("arrays")
        for g in genes:
            arrays.create_dataset(g, data=rng.normal(size=24).astype(np.float32))
    (d / "vocabs" / "assay_vocab.json").write_text(json.dumps(ASSAYS))
    data = {
        "gene_col_name": "ensembl_id", "clip_counts": 30, "filter_to_vocabs": True, "filter_outliers": 0.0,
        "normalize_to_scale": 0, "sort_genes": False, "randomize_genes": False, "min_expressed_genes": 0,
        "gene_pad_token": "[PAD]", "aux_pad_token": "unknown", "pad_zeros": True, "pin_memory": False,
        "n_data_workers": 0, "aux_cols": "assay" if aux else None, "aux_vocab_path": str(d / "vocabs"),
        "esm2_mappings": ["homo_sapiens_gene.h5"], "esm2_mappings_path": str(d / "vocabs"),
        "special_tokens": SPECIALS,
    }  # fmt: skip
    config = {
        "model": {
            "model_type": "transcriptformer",
            "data_config": data,
            "model_config": {**MODEL, "use_aux": aux},
            "loss_config": {"gene_id_loss_weight": 1.0, "softplus_approx": True},
            "inference_config": {"batch_size": 8, "output_keys": ["embeddings"], "obs_keys": ["all"],
                                 "data_files": None, "load_checkpoint": None, "output_path": None,
                                 "pretrained_embedding": None, "precision": "32", "device": "cpu"},
        }
    }  # fmt: skip
    (d / "config.json").write_text(json.dumps(config))
    cfg = omegaconf.OmegaConf.create(config)
    (gene_vocab, aux_vocab), emb = ref.load_vocabs_and_embeddings(cfg)
    torch.manual_seed(seed)
    m = cfg.model
    model = ref.Transcriptformer(
        data_config=m.data_config, model_config=m.model_config, loss_config=m.loss_config,
        inference_config=m.inference_config, gene_vocab_dict=gene_vocab, aux_vocab_dict=aux_vocab, emb_matrix=emb,
    )  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.save(model.state_dict(), d / "model_weights.pt")
    return d


def _authors_embedding(ref, d, adata, tmp_path, monkeypatch, model_type="transcriptformer"):
    """TranscriptFormer's inference command: its config merge, then run_inference."""
    monkeypatch.chdir(tmp_path)  # the Lightning trainer writes logs/ here
    OmegaConf = omegaconf.OmegaConf
    cfg = OmegaConf.merge(
        OmegaConf.create(json.loads((d / "config.json").read_text())), OmegaConf.load(ref.inference_yaml)
    )
    cfg.model.checkpoint_path = str(d)
    cfg.model.model_type = model_type
    cfg.model.inference_config.batch_size = 8
    cfg.model.inference_config.precision = "32"
    cfg.model.inference_config.device = "cpu"
    cfg.model.model_config.compile_block_mask = False
    cfg.model.inference_config.load_checkpoint = str(d / "model_weights.pt")
    cfg.model.data_config.aux_vocab_path = str(d / "vocabs")
    cfg.model.data_config.esm2_mappings_path = str(d / "vocabs")
    out = ref.run_inference(cfg, data_files=[adata])
    return np.asarray(out.obsm["embeddings"])


@pytest.mark.parametrize(("dataset", "aux"), [("kang", True), ("norman", False)])
@pytest.mark.slow
def test_transcriptformer_embedding_equals_authors(
    tmp_path, ref, kang, data_dir, gf_vocab, dataset, aux, monkeypatch
):
    import anndata as ad

    if dataset == "kang":
        cells = counts_of(kang[:40])
    else:
        cells = counts_of(
            ad.read_h5ad(data_dir / "norman2019_mcfaline2023_perturbench_devel.h5ad")[::150].copy()
        )
    cells = with_ensembl(cells, gf_vocab)
    genes = [g.split(".")[0] for g in cells.var["ensembl_id"][::2]] + ["ENSG99999999999"]
    d = _release(tmp_path, ref, genes, aux=aux)
    want = _authors_embedding(ref, d, cells, tmp_path, monkeypatch)
    loaded = scmf.models.load(d)
    assert type(loaded.module).__name__ == "TranscriptFormerEncoder"
    out = scmf.tl.embed(cells, loaded, batch_size=16, copy=True, progress=False)
    np.testing.assert_allclose(out.obsm["X_scmf"], want, rtol=0, atol=1e-5)
    assert (
        np.abs(want).mean() > 1e-3 and np.std(want, axis=0).mean() > 1e-3
    )  # cells differ: a real comparison
    params = out.uns["scmf"]["params"]["X_scmf"]
    assert params["format"] == "transcriptformer" and params["genes"]["gene_key"] == "ensembl_id"
    assert params["genes"]["n_genes_matched"] == len(genes) - 1


def test_transcriptformer_esm2ce_equals_authors(tmp_path, ref, kang, gf_vocab, monkeypatch):
    cells = with_ensembl(counts_of(kang[:16]), gf_vocab)
    genes = [g.split(".")[0] for g in cells.var["ensembl_id"]]
    d = _release(tmp_path, ref, genes, aux=False)
    want = _authors_embedding(ref, d, cells, tmp_path, monkeypatch, model_type="esm2ce")
    got = scmf.tl.embed(cells, scmf.models.load(d, model_type="esm2ce"), copy=True, progress=False).obsm[
        "X_scmf"
    ]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_transcriptformer_errors(tmp_path, ref, kang, gf_vocab):
    cells = with_ensembl(counts_of(kang[:10]), gf_vocab)
    d = _release(tmp_path, ref, [g.split(".")[0] for g in cells.var["ensembl_id"]])
    model = scmf.models.load(d)
    bare = cells.copy()
    del bare.obs["assay"]
    with pytest.warns(UserWarning, match="obs has no 'assay' column"):
        scmf.tl.embed(bare, model, copy=True, progress=False)
    symbols = pd.DataFrame(index=["CD3E", "MS4A1"])
    with pytest.raises(ValueError, match="Ensembl"):
        model.tokenizer.match(symbols, symbols.index)
    (d / "vocabs" / "homo_sapiens_gene.h5").unlink()
    with pytest.raises(FileNotFoundError, match=r"homo_sapiens_gene\.h5"):
        scmf.models.load(d)
