"""Tiny random-weight releases: every layout loads in scmf like the real release, embeds real
cells, and (where the authors' code is at hand) holds exactly the weights the authors' model
class names, so it stands in for the real download."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

import authors
import scmf
from helpers import counts_of

FORMATS = ["reference", "geneformer", "scgpt", "uce", "scfoundation", "transcriptformer"]
OPTIONS = {"scgpt": {"max_length": 64}, "uce": {"sample_size": 64, "pad_length": 128, "min_cells": 0}}


@pytest.fixture(scope="module")
def cells(kang):
    return kang[::40].copy()


def _embed(fmt, path, cells, seed=0):
    a = counts_of(cells)  # raw counts: what every format reads best
    a.obs["assay"] = "10x 3' v2"  # TranscriptFormer's auxiliary token
    model = scmf.models.load(path, **OPTIONS.get(fmt, {}))
    scmf.tl.embed(a, model, progress=False, seed=seed)
    return a.obsm["X_scmf"], model


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_release_loads_and_embeds(tmp_path, cells, fmt):
    if fmt == "geneformer":
        pytest.importorskip("transformers")
    path = scmf.models.random_release(fmt, tmp_path / "a", genes=cells, seed=1)
    E, model = _embed(fmt, path, cells)
    assert model.info["format"] == fmt  # detected as the format it was written in
    assert E.shape[0] == cells.n_obs and np.isfinite(E).all() and E.std() > 1e-3
    again, _ = _embed(fmt, scmf.models.random_release(fmt, tmp_path / "b", genes=cells, seed=1), cells)
    np.testing.assert_array_equal(E, again)  # the seed decides the weights
    other, _ = _embed(fmt, scmf.models.random_release(fmt, tmp_path / "c", genes=cells, seed=2), cells)
    assert not np.allclose(E, other)


def test_errors_and_nothing_half_written(tmp_path):
    with pytest.raises(ValueError, match="unknown checkpoint format"):
        scmf.models.random_release("nope", tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        scmf.models.random_release("scgpt", tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(TypeError, match="list of gene names"):
        scmf.models.random_release("scgpt", tmp_path / "y", genes="CD3E")
    assert not (tmp_path / "y").exists()
    path = scmf.models.random_release("reference", tmp_path / "default")  # pbmc68k_reduced's genes
    assert len(scmf.models.load(path).tokenizer.vocab) == 4 + 765


def _only_heads_missing(authors_model, state, heads):
    result = authors_model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert all(k.startswith(heads) for k in result.missing_keys), result.missing_keys
    for k, v in state.items():  # every written weight fits the authors' tensor
        assert authors_model.state_dict()[k].shape == v.shape, k


def test_scgpt_release_fits_the_authors_model(tmp_path, cells):
    from scmf.models._scgpt import HEADS, read_weights

    ref = authors.scgpt(tmp_path / "authors")
    path = scmf.models.random_release("scgpt", tmp_path / "scGPT_tiny", genes=cells)
    vocab = json.loads((path / "vocab.json").read_text())
    args = json.loads((path / "args.json").read_text())
    _only_heads_missing(authors.scgpt_model(ref, vocab, args), read_weights(path), HEADS)


def test_uce_release_fits_the_authors_model(tmp_path, cells):
    from scmf.models._uce import HEADS

    ref = authors.uce(tmp_path / "authors")
    path = scmf.models.random_release("uce", tmp_path / "model_files", genes=cells)
    state = torch.load(path / "4layer_model.torch", weights_only=True)
    token_dim = state["pe_embedding.weight"].shape[1]
    model = ref.TransformerModel(token_dim=token_dim, d_model=40, nhead=20, d_hid=64, nlayers=2, output_dim=24,
                                 dropout=0.05)  # fmt: skip
    model.pe_embedding = torch.nn.Embedding(
        *state["pe_embedding.weight"].shape
    )  # UCE sets its table this way
    _only_heads_missing(model, state, HEADS)
    torch.testing.assert_close(state["pos_encoder.pe"], model.pos_encoder.pe)  # UCE's own positions
    with open(path / "species_offsets.pkl", "rb") as fh:
        assert pickle.load(fh) == {"human": 4}


def test_scfoundation_release_fits_the_authors_model(tmp_path, cells):
    pytest.importorskip("einops", reason="the authors' scFoundation code needs einops (test extra)")
    pytest.importorskip("local_attention", reason="the authors' scFoundation code needs local-attention")
    from scmf.models._scfoundation import HEADS, read_checkpoint

    ref = authors.scfoundation(tmp_path / "authors")
    path = scmf.models.random_release("scfoundation", tmp_path / "model", genes=cells)
    data = torch.load(path / "models" / "models.ckpt", weights_only=True)
    for part in data.values():  # what the authors' load.py reads: config -> select_model -> state_dict
        mc = part["config"]["model_config"]["mae_autobin"]
        model = ref.select_model({**mc, **part["config"]["dataset_config"]["rnaseq"]})
        state = {k.removeprefix("model."): v for k, v in part["state_dict"].items()}
        _only_heads_missing(model, state, HEADS)
    cfg, _ = read_checkpoint(path / "models" / "models.ckpt", "ce")
    assert cfg["seq_len"] == cells.n_vars + 2


def test_transcriptformer_release_fits_the_authors_model(tmp_path, cells):
    omegaconf = pytest.importorskip("omegaconf")
    from scmf.models._transcriptformer import HEADS

    ref = authors.transcriptformer(tmp_path / "authors")
    path = scmf.models.random_release("transcriptformer", tmp_path / "tf_tiny", genes=cells)
    config = json.loads((path / "config.json").read_text())
    data = config["model"]["data_config"]
    data["aux_vocab_path"] = data["esm2_mappings_path"] = str(path / "vocabs")
    config["model"]["loss_config"] = {"gene_id_loss_weight": 1.0, "softplus_approx": True}
    config["model"]["inference_config"] = {"batch_size": 8, "output_keys": ["embeddings"], "obs_keys": ["all"],
                                           "data_files": None, "load_checkpoint": None, "output_path": None,
                                           "pretrained_embedding": None, "precision": "32", "device": "cpu"}  # fmt: skip
    cfg = omegaconf.OmegaConf.create(config)
    (gene_vocab, aux_vocab), emb = ref.load_vocabs_and_embeddings(cfg)
    m = cfg.model
    model = ref.Transcriptformer(
        data_config=m.data_config, model_config=m.model_config, loss_config=m.loss_config,
        inference_config=m.inference_config, gene_vocab_dict=gene_vocab, aux_vocab_dict=aux_vocab, emb_matrix=emb,
    )  # fmt: skip
    state = torch.load(path / "model_weights.pt", weights_only=True)
    _only_heads_missing(model, state, HEADS)
    torch.testing.assert_close(  # the gene table holds the ESM-2 rows of vocabs/, as the authors' loader builds it
        state["gene_embeddings.embedding.weight"], model.state_dict()["gene_embeddings.embedding.weight"]
    )


@pytest.mark.filterwarnings("always::scmf.ScmfWarning")  # 50 cells: the probe drops its rarest types
def test_from_the_command_line(tmp_path, cells, capsys):
    """`scmf random-model` writes a release for the data's genes; `scmf benchmark` then runs on it."""
    from scmf.cli import main

    data = counts_of(cells)
    data.write_h5ad(tmp_path / "cells.h5ad")
    folder = tmp_path / "scGPT_tiny"
    assert (
        main(
            [
                "random-model",
                "scgpt",
                str(folder),
                "--genes-from",
                str(tmp_path / "cells.h5ad"),
                "--seed",
                "3",
            ]
        )
        == 0
    )
    assert "random-weight scgpt release" in capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: cell_type, n_splits: 2}\n"
    )
    args = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--model", str(folder), "--data",
            str(tmp_path / "cells.h5ad"), "--output", str(tmp_path / "r.json"), "--model-option", "max_length=64"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert set(scmf.bm.read_json(tmp_path / "r.json")["rep"]) == {"X_scGPT_tiny"}
    assert main(["random-model", "scgpt", str(folder)]) == 1  # never over an existing release
    assert "not an empty folder" in capsys.readouterr().err
