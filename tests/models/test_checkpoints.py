"""Checkpoint formats: scmf's reference model and Geneformer (Hugging Face BERT) directories."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import scmf
from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, load, save_reference


def _tokens(model, adata, **kw):
    tk = model.tokenizer
    match, scale = tk.match(adata.var, adata.var_names, **kw)
    return tk.encode(adata.X, match.token_ids, scale, input_scale="log1p")


def test_reference_roundtrip_same_outputs(ref_checkpoint, kang_small):
    m = load(ref_checkpoint)
    assert isinstance(m.module, ReferenceModel)
    assert (ref_checkpoint / "model.safetensors").exists()
    t = _tokens(m, kang_small)
    args = [torch.from_numpy(t.ids), torch.from_numpy(t.values), torch.from_numpy(t.attention_mask)]
    m2 = load(ref_checkpoint)
    with torch.inference_mode():
        a = m.module.encode(*args)
        b = m2.module.encode(*args)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.shape == (kang_small.n_obs, 32)


def test_reference_pt_fallback_and_corruption(tmp_path, gf_vocab, kang_small):
    torch.manual_seed(1)
    model = ReferenceModel(
        ReferenceConfig(vocab_size=len(gf_vocab), d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=32)
    )
    path = save_reference(model, gf_vocab, tmp_path / "m")
    state = {k: v for k, v in model.state_dict().items()}
    (path / "model.safetensors").unlink()
    torch.save(state, path / "model.pt")
    loaded = load(path)
    for k, v in loaded.module.state_dict().items():
        torch.testing.assert_close(v, state[k])
    data = (path / "model.pt").read_bytes()
    (path / "model.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        load(path)


def test_reference_rejects_pickled_objects(tmp_path, gf_vocab):
    torch.manual_seed(1)
    model = ReferenceModel(
        ReferenceConfig(vocab_size=len(gf_vocab), d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=32)
    )
    path = save_reference(model, gf_vocab, tmp_path / "m")
    (path / "model.safetensors").unlink()
    torch.save(model, path / "model.pt")  # a whole pickled module, not a state dict
    with pytest.raises(ValueError, match="plain state dict"):
        load(path)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope")
    (tmp_path / "args.json").write_text("{}")
    (tmp_path / "best_model.pt").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"scGPT checkpoint.*vocab\.json"):
        load(tmp_path)
    (tmp_path / "args.json").unlink()
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ValueError, match="not a checkpoint format"):
        load(tmp_path)
    with pytest.raises(ValueError, match="unknown checkpoint format"):
        load(tmp_path, format="nope")


def test_register_format(tmp_path, kang_small):
    class Means:
        name = "means"

        def embed(self, X, var_names):
            return np.asarray(X.mean(axis=1)).reshape(-1, 1) * np.ones((1, 3))

    (tmp_path / "means.flag").write_text("")
    scmf.models.register_format("means", lambda p: (p / "means.flag").exists(), lambda p, **kw: Means())
    try:
        scmf.tl.embed(kang_small, tmp_path)
    finally:
        scmf.models._load._FORMATS.pop("means")
    np.testing.assert_allclose(
        kang_small.obsm["X_scmf"][:, 0], np.asarray(kang_small.X.mean(1)).ravel(), rtol=1e-6
    )


# ---------------------------------------------------------------- Geneformer (transformers extra)


def _kang_ensembl(adata, vocab):
    sym2ens = {s: e for s, e in zip(vocab.symbol, vocab.ensembl, strict=True) if s}
    adata = adata.copy()
    adata.var["ensembl_id"] = [sym2ens.get(s, "") for s in adata.var_names]
    return adata


@pytest.mark.parametrize(("pooling", "layer"), [("mean", -2), ("cls", -1), ("mean", 0)])
def test_geneformer_embed_equals_bert_directly(geneformer_dir, gf_vocab, kang_small, pooling, layer):
    from transformers import BertModel

    adata = _kang_ensembl(kang_small, gf_vocab)
    assert (geneformer_dir / "model.safetensors").exists()
    model = load(geneformer_dir, vocab=gf_vocab, pooling=pooling, hidden_layer=layer)
    assert model.tokenizer.max_len == 128 and model.tokenizer.add_cls and model.tokenizer.add_eos
    scmf.tl.embed(adata, model, gene_key="ensembl_id", input_scale="log1p", batch_size=16)
    params = adata.uns["scmf"]["params"]["X_scmf"]
    assert params["genes"]["id_type"] == "ensembl"
    assert params["pooling"] == pooling and params["hidden_layer"] == layer

    # reference: the same tokens through transformers' BertModel, pooled by hand, one cell at a time
    bert = BertModel.from_pretrained(geneformer_dir, add_pooling_layer=False).eval()
    t = _tokens(model, adata, gene_key="ensembl_id")
    for i in range(0, adata.n_obs, 37):
        ids = torch.from_numpy(t.ids[i : i + 1, : t.lengths[i]])
        with torch.no_grad():
            h = bert(input_ids=ids, output_hidden_states=True).hidden_states[layer][0]
        ref = h[0] if pooling == "cls" else h[1:-1].mean(0)  # drop <cls> and <eos>
        np.testing.assert_allclose(adata.obsm["X_scmf"][i], ref.numpy(), rtol=1e-4, atol=1e-5)


def test_geneformer_vocab_from_data_dir_and_symbols(geneformer_dir, kang_small):
    # no vocab given: found under SCMF_DATA_DIR; symbols match through its symbol column
    scmf.tl.embed(kang_small, geneformer_dir, input_scale="log1p")
    assert kang_small.obsm["X_scmf"].shape == (kang_small.n_obs, 32)
    assert kang_small.uns["scmf"]["params"]["X_scmf"]["format"] == "geneformer"


def test_geneformer_bad_settings(geneformer_dir, gf_vocab, tmp_path):
    with pytest.raises(ValueError, match="hidden_layer"):
        load(geneformer_dir, vocab=gf_vocab, hidden_layer=7)
    with pytest.raises(ValueError, match="max_len"):
        load(geneformer_dir, vocab=gf_vocab, max_len=500)
    small = GeneVocab(
        gf_vocab.tokens[:10], gf_vocab.ensembl[:10], gf_vocab.symbol[:10], gf_vocab.medians[:10], {"<pad>": 0}
    )
    with pytest.raises(ValueError, match="cls"):
        load(geneformer_dir, vocab=small, pooling="cls")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(geneformer_dir, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[:1000])
    with pytest.raises(ValueError, match="truncated"):
        load(broken, vocab=gf_vocab)


def test_geneformer_with_mlm_head_loads_quietly(geneformer_dir, gf_vocab, capsys, caplog):
    """A released Geneformer (BertForMaskedLM) loads without transformers' key table; its MLM head is
    a training part the embedding does not use. A checkpoint missing encoder weights is refused."""
    import logging

    with caplog.at_level(logging.WARNING):
        scmf.models.load(geneformer_dir, vocab=gf_vocab)
    out = capsys.readouterr()
    assert "UNEXPECTED" not in out.out + out.err + caplog.text
    broken = geneformer_dir.parent / "broken"
    broken.mkdir(exist_ok=True)
    from safetensors.torch import load_file, save_file

    state = load_file(geneformer_dir / "model.safetensors")
    state = {k: v for k, v in state.items() if "encoder.layer.0.attention.self.query" not in k}
    save_file({k: v.contiguous() for k, v in state.items()}, broken / "model.safetensors")
    (broken / "config.json").write_text((geneformer_dir / "config.json").read_text())
    with pytest.raises(ValueError, match="do not fit a BERT encoder: missing"):
        scmf.models.load(broken, vocab=gf_vocab)
