"""Gene representations: every format's input table and contextual states, against direct computations and scGPT's code."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import scmf
from helpers import counts_of

FORMATS = ["reference", "geneformer", "scgpt", "uce", "scfoundation", "transcriptformer"]
OPTIONS = {"scgpt": {"max_length": 64}, "uce": {"sample_size": 64, "pad_length": 128, "min_cells": 0}}


def _input_table(fmt: str, module) -> torch.Tensor:
    """Each format's gene table, read from the loaded weights by the name its authors give it."""
    if fmt == "geneformer":
        return module.bert.state_dict()["embeddings.word_embeddings.weight"]
    state = module.state_dict()
    if fmt == "scgpt":  # the gene encoder: embedding, then its layer norm
        w = state["encoder.embedding.weight"]
        return torch.nn.functional.layer_norm(
            w, w.shape[1:], state["encoder.enc_norm.weight"], state["encoder.enc_norm.bias"]
        )
    name = {
        "reference": "tokens.weight",
        "uce": "pe_embedding.weight",
        "scfoundation": "pos_emb.weight",
        "transcriptformer": "gene_embeddings.embedding.weight",
    }[fmt]
    return state[name]


@pytest.fixture(scope="module")
def cells(kang):
    a = counts_of(kang[::40].copy())
    a.obs["assay"] = "10x 3' v2"  # TranscriptFormer's auxiliary token
    return a


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:only 300 of 6998 genes")  # on purpose: genes outside the vocabulary
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_has_the_vocabulary_rows(tmp_path, cells, fmt):
    if fmt == "geneformer":
        pytest.importorskip("transformers")
    path = scmf.models.random_release(fmt, tmp_path / "m", genes=cells[:, :300], seed=1)
    model = scmf.models.load(path, **OPTIONS.get(fmt, {}))
    a = cells.copy()
    scmf.tl.embed_genes(a, model)
    E = a.varm["X_scmf_genes"]
    match, _ = model.tokenizer.match(a.var, a.var_names)
    tok = np.asarray(match.token_ids)
    if fmt == "uce":  # UCE's match indexes its gene table; the module reads each gene's protein row
        tok = np.where(tok >= 0, model.tokenizer.genes.token[np.maximum(tok, 0)], -1)
    assert E.shape[0] == a.n_vars and E.dtype == np.float32
    np.testing.assert_array_equal(~np.isnan(E).any(axis=1), tok >= 0)  # the vocabulary's genes, and only they
    n = a.uns["scmf"]["params"]["X_scmf_genes"]["n_genes_represented"]
    assert (tok >= 0).sum() == n >= 250 and (fmt == "transcriptformer" or n == 300)
    table = _input_table(fmt, model.module).float().numpy()
    np.testing.assert_allclose(E[tok >= 0], table[tok[tok >= 0]], rtol=1e-5, atol=1e-6)
    # contextual: the genes each model reads in these cells, every one finite
    if fmt == "transcriptformer" and model.module.cfg["model_type"] == "esm2ce":
        return
    scmf.tl.embed_genes(a, model, mode="contextual", key_added="ctx", progress=False)
    C = a.varm["ctx"]
    seen = ~np.isnan(C).any(axis=1)
    assert seen.sum() >= 50 and np.isfinite(C[seen]).all() and C[seen].std() > 1e-4
    assert not seen[tok < 0].any()  # a gene the model cannot read has no state
    expressed = np.asarray((a.X > 0).sum(axis=0)).ravel() > 0
    assert not seen[~expressed].any()  # nor a gene no cell expresses


def _manual_contextual(model, adata) -> dict[int, np.ndarray]:
    """Each token's state, one cell at a time, averaged over occurrences: the definition written out."""
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    module = model.module
    for i in range(adata.n_obs):
        ((ids, values, mask),) = scmf.models.tokenized_batches(model, adata[i : i + 1], batch_size=1)
        with torch.inference_mode():
            h, keep = module.token_states(
                torch.from_numpy(ids), torch.from_numpy(values), torch.from_numpy(mask)
            )
        for j in np.flatnonzero(keep[0].numpy()):
            t = int(ids[0, j])
            sums[t] = sums.get(t, 0.0) + h[0, j].double().numpy()
            counts[t] = counts.get(t, 0) + 1
    return {t: sums[t] / counts[t] for t in sums}


@pytest.mark.filterwarnings("ignore:rank_value tokenisation expects raw counts")  # tokenized_batches detects
def test_contextual_is_the_mean_state_over_expressing_cells(pbmc_raw_tiny):
    adata, path = pbmc_raw_tiny
    model = scmf.models.load(path)
    scmf.tl.embed_genes(adata, model, mode="contextual", batch_size=7, input_scale="log1p", progress=False)
    C = adata.varm["X_scmf_genes"]
    want = _manual_contextual(model, adata)
    match, _ = model.tokenizer.match(adata.var, adata.var_names)
    tok = np.asarray(match.token_ids)
    for g, t in enumerate(tok):
        if t in want:
            np.testing.assert_allclose(C[g], want[t], rtol=2e-5, atol=2e-6)
        else:
            assert np.isnan(C[g]).all()
    assert len(want) > 100
    # a cell's batch-mates change nothing: the same genes from another batch size
    again = adata.copy()
    scmf.tl.embed_genes(again, model, mode="contextual", batch_size=64, input_scale="log1p", progress=False)
    np.testing.assert_allclose(again.varm["X_scmf_genes"], C, rtol=2e-5, atol=2e-6, equal_nan=True)


@pytest.fixture
def pbmc_raw_tiny(tmp_path):
    import scanpy as sc

    pb = sc.datasets.pbmc68k_reduced()
    adata = pb.raw.to_adata()[:120].copy()
    adata.X = adata.X.toarray() if hasattr(adata.X, "toarray") else adata.X
    path = scmf.models.random_release("reference", tmp_path / "tiny", genes=adata)
    return adata, path


def test_contextual_on_a_dask_expression_equals_in_memory(tmp_path, pbmc_raw_tiny):
    pytest.importorskip("dask")
    adata, path = pbmc_raw_tiny
    model = scmf.models.load(path)
    adata.write_h5ad(tmp_path / "a.h5ad")
    lazy = scmf.datasets.read_lazy(tmp_path / "a.h5ad")
    scmf.tl.embed_genes(adata, model, mode="contextual", input_scale="log1p", progress=False)
    scmf.tl.embed_genes(lazy, model, mode="contextual", input_scale="log1p", progress=False)
    np.testing.assert_allclose(
        np.asarray(lazy.varm["X_scmf_genes"]),
        adata.varm["X_scmf_genes"],
        rtol=1e-5,
        atol=1e-6,
        equal_nan=True,
    )


def test_bad_input(pbmc_raw_tiny):
    adata, path = pbmc_raw_tiny
    before = adata.copy()
    with pytest.raises(ValueError, match="mode must be"):
        scmf.tl.embed_genes(adata, path, mode="attention")
    with pytest.raises(TypeError, match="cell baseline"):
        scmf.tl.embed_genes(adata, "pca")
    with pytest.raises(TypeError, match="gives no gene representations"):
        scmf.tl.embed_genes(adata, object())
    assert set(adata.varm) == set(before.varm) and "scmf" not in adata.uns  # nothing written on failure
    out = scmf.tl.embed_genes(adata, path, copy=True)
    assert "X_scmf_genes" in out.varm and "X_scmf_genes" not in adata.varm


@pytest.fixture(scope="module")
def scgpt_ref(tmp_path_factory):
    import authors

    return authors.scgpt(tmp_path_factory.mktemp("authors"))


@pytest.mark.slow
def test_scgpt_gene_embeddings_equal_the_authors(tmp_path, scgpt_ref, data_dir, kang):
    """Input mode is scGPT's own extraction (``model.encoder(gene_ids)``); its token states are ``model._encode``'s."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "models"))
    import test_scgpt

    d, authors_model, vocab = test_scgpt._release(
        tmp_path, scgpt_ref, data_dir / "scgpt_default_gene_vocab.json"
    )
    cells = kang[::50].copy()
    scmf.tl.embed_genes(cells, d)
    ids = np.array([vocab.get(g, -1) for g in cells.var_names])
    with torch.no_grad():
        want = authors_model.encoder(torch.tensor(ids[ids >= 0], dtype=torch.long)).numpy()
    E = cells.varm["X_scmf_genes"]
    np.testing.assert_allclose(E[ids >= 0], want, rtol=1e-5, atol=1e-6)
    assert np.isnan(E[ids < 0]).all()
    # contextual: scmf's per-token states are the authors' transformer outputs on the same tokens
    model = scmf.models.load(d, max_length=64)
    for ids_b, values, mask in scmf.models.tokenized_batches(model, cells[:20], batch_size=8):
        with torch.no_grad():
            theirs = authors_model._encode(
                torch.from_numpy(ids_b), torch.from_numpy(values), torch.from_numpy(~mask), None
            )
            mine, keep = model.module.token_states(
                torch.from_numpy(ids_b), torch.from_numpy(values), torch.from_numpy(mask)
            )
        np.testing.assert_allclose(mine[keep].numpy(), theirs[keep].numpy(), rtol=1e-4, atol=1e-5)
    shutil.rmtree(d)
    json.dumps(cells.uns["scmf"]["params"]["X_scmf_genes"], default=str)  # the params are plain values
