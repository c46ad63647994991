"""scGPT checkpoints: scmf's loader and recipe against scGPT's own code on real cells."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

import authors
import scmf

ARGS = {  # the keys of the released checkpoints' args.json (whole-human), small sizes
    "embsize": 32,
    "nheads": 4,
    "d_hid": 48,
    "nlayers": 2,
    "n_layers_cls": 3,
    "dropout": 0.2,
    "pad_token": "<pad>",
    "pad_value": -2,
    "mask_value": -1,
    "n_bins": 51,
    "input_style": "binned",
    "input_emb_style": "continuous",
    "max_seq_len": 1200,
    "fast_transformer": True,
}


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return authors.scgpt(tmp_path_factory.mktemp("authors"))


@pytest.fixture(scope="module")
def vocab_json(data_dir):
    return data_dir / "scgpt_default_gene_vocab.json"


def _authors_model(ref, vocab: dict, args: dict, seed: int = 0):
    torch.manual_seed(seed)
    model = authors.scgpt_model(ref, vocab, args)
    with torch.no_grad():  # every weight random, layer norms included
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _release(tmp_path, ref, vocab_json, args=ARGS, *, flash_keys=True):
    vocab = json.loads(vocab_json.read_text())
    for special in ("<pad>", "<cls>", "<eoc>"):  # appended when absent, as scGPT's embed_data does
        vocab.setdefault(special, len(vocab))
    model = _authors_model(ref, vocab, args)
    state = model.state_dict()
    if flash_keys:  # the released checkpoints were trained with flash-attention: Wqkv
        state = {k.replace("self_attn.in_proj_", "self_attn.Wqkv."): v for k, v in state.items()}
    d = tmp_path / "scGPT_tiny"
    d.mkdir()
    torch.save(state, d / "best_model.pt")
    (d / "args.json").write_text(json.dumps(args))
    shutil.copy(vocab_json, d / "vocab.json")
    return d, model, vocab


def _authors_embedding(ref, model, vocab, args, adata, *, max_length, seed, monkeypatch, batch_size=64):
    genes = adata.var_names.to_numpy()
    ids = np.array([vocab.get(g, -1) for g in genes])
    sub = adata[:, ids >= 0]
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(), raising=False)  # one process
    np.random.seed(seed)  # noqa: NPY002 - the global stream scGPT draws from
    torch.manual_seed(seed)
    return ref.get_batch_cell_embeddings(
        sub,
        cell_embedding_mode="cls",
        model=model,
        vocab=vocab,
        max_length=max_length,
        batch_size=batch_size,
        model_configs=args,
        gene_ids=ids[ids >= 0],
    )


@pytest.fixture(scope="module")
def kang_cells(kang):
    return kang[:300].copy()


@pytest.fixture(scope="module")
def norman_cells(data_dir):
    import anndata as ad

    return ad.read_h5ad(data_dir / "norman2019_mcfaline2023_perturbench_devel.h5ad")[::20].copy()


@pytest.mark.parametrize(("dataset", "max_length"), [("kang", 1200), ("kang", 300), ("norman", 1200)])
@pytest.mark.slow
def test_scgpt_embedding_equals_authors(
    tmp_path, ref, vocab_json, kang_cells, norman_cells, dataset, max_length, monkeypatch
):
    path, model, vocab = _release(tmp_path, ref, vocab_json)
    cells = kang_cells if dataset == "kang" else norman_cells
    n_long = int(((cells.X > 0).sum(1) + 1 > max_length).sum())
    if max_length == 300:
        assert n_long > 50  # the authors' gene sampling is exercised
    want = _authors_embedding(
        ref, model, vocab, ARGS, cells, max_length=max_length, seed=7, monkeypatch=monkeypatch
    )
    loaded = scmf.models.load(path, max_length=max_length, seed=7)
    assert type(loaded.module).__name__ == "ScGPTEncoder"
    out = scmf.tl.embed(cells, loaded, batch_size=32, copy=True, progress=False)
    got = out.obsm["X_scmf"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert np.abs(got - want).max() > 0 or max_length == 1200  # float32 noise, not the same code path
    params = out.uns["scmf"]["params"]["X_scmf"]
    assert params["tokenizer"]["seed"] == 7
    assert params["genes"]["n_genes_matched"] == int((np.isin(cells.var_names, list(vocab))).sum())
    # a second run gives the same embedding: the seed, not the call order, decides the draws
    again = scmf.tl.embed(cells, loaded, batch_size=32, copy=True, progress=False).obsm["X_scmf"]
    np.testing.assert_array_equal(again, got)
    other = scmf.tl.embed(cells, loaded, batch_size=64, copy=True, progress=False).obsm["X_scmf"]
    np.testing.assert_allclose(other, got, rtol=0, atol=1e-6)  # other batches: float32 noise only


def test_scgpt_tokens_equal_authors_collator(tmp_path, ref, vocab_json, kang_cells):
    path, _, vocab = _release(tmp_path, ref, vocab_json)
    loaded = scmf.models.load(path, max_length=200, seed=3)
    tok = loaded.tokenizer
    match, scale = tok.match(kang_cells.var, kang_cells.var_names)
    tok.begin()
    t = tok.encode(kang_cells.X, match.token_ids, scale)

    collate = ref.DataCollator(
        do_padding=True, pad_token_id=vocab["<pad>"], pad_value=-2, do_mlm=False, do_binning=True,
        max_length=200, sampling=True, keep_first_n_tokens=1,
    )  # fmt: skip
    np.random.seed(3)  # noqa: NPY002 - the global stream scGPT draws from
    torch.manual_seed(3)
    torch.empty((), dtype=torch.int64).random_()  # what scGPT's DataLoader draws before the first cell
    X = kang_cells.X.toarray()
    ids = np.array([vocab.get(g, -1) for g in kang_cells.var_names])
    for i in range(kang_cells.n_obs):
        row = X[i, ids >= 0]
        nz = np.nonzero(row)[0]
        genes = np.insert(ids[ids >= 0][nz], 0, vocab["<cls>"])
        values = np.insert(row[nz], 0, -2)
        batch = collate(
            [{"genes": torch.from_numpy(genes).long(), "expressions": torch.from_numpy(values).float()}]
        )
        n = t.lengths[i]
        np.testing.assert_array_equal(t.ids[i, :n], batch["gene"][0].numpy())
        np.testing.assert_array_equal(t.values[i, :n], batch["expr"][0].numpy())


def test_scgpt_in_proj_checkpoint_and_mean_pooling(tmp_path, ref, vocab_json, kang_cells):
    path, model, _ = _release(tmp_path, ref, vocab_json, flash_keys=False)
    loaded = scmf.models.load(path, pooling="mean")
    batches = scmf.models.tokenized_batches(loaded, kang_cells[:40], batch_size=40)
    ids, values, mask = (torch.from_numpy(a) for a in batches[0])
    with torch.no_grad():
        h = model._encode(ids, values, src_key_padding_mask=~mask)
        w = mask.unsqueeze(-1).float()
        want = torch.nn.functional.normalize((h * w).sum(1) / w.sum(1), dim=1)
        got = loaded.module.encode(ids, values, mask)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_scgpt_category_values_and_continuous_input(tmp_path, ref, vocab_json, kang_cells):
    args = {**ARGS, "input_emb_style": "category", "input_style": "log1p", "pad_value": 51}
    path, model, _ = _release(tmp_path, ref, vocab_json, args)
    loaded = scmf.models.load(path)
    assert loaded.tokenizer.kind == "continuous"
    batches = scmf.models.tokenized_batches(loaded, kang_cells[:30], batch_size=30)
    ids, values, mask = (torch.from_numpy(a) for a in batches[0])
    with torch.no_grad():
        want = torch.nn.functional.normalize(
            model._encode(ids, values, src_key_padding_mask=~mask)[:, 0], dim=1
        )
        got = loaded.module.encode(ids, values, mask)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_scgpt_bad_checkpoints(tmp_path, ref, vocab_json):
    path, _, _ = _release(tmp_path, ref, vocab_json)
    state = torch.load(path / "best_model.pt")
    torch.save({**state, "mystery.weight": torch.zeros(2)}, path / "best_model.pt")
    with pytest.raises(ValueError, match="does not know"):
        scmf.models.load(path)
    torch.save({k: v for k, v in state.items() if "norm2" not in k}, path / "best_model.pt")
    with pytest.raises(ValueError, match="do not fit"):
        scmf.models.load(path)
    data = (path / "vocab.json").read_bytes()
    torch.save(state, path / "best_model.pt")
    raw = (path / "best_model.pt").read_bytes()
    (path / "best_model.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated"):
        scmf.models.load(path)
    torch.save(state, path / "best_model.pt")
    (path / "vocab.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"vocab\.json"):
        scmf.models.load(path)
    other = {g: i + 10 for i, g in enumerate(json.loads(data))}  # ids beyond the embedding table
    (path / "vocab.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match=r"wrong vocab\.json"):
        scmf.models.load(path)


def test_scgpt_from_the_command_line(tmp_path, ref, vocab_json, kang_cells, capsys):
    import anndata as ad

    from scmf.cli import main

    path, _, _ = _release(tmp_path, ref, vocab_json)
    kang_cells[:120].write_h5ad(tmp_path / "k.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: cell_type}\n"
    )
    base = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--model", str(path)]
    base += ["--data", str(tmp_path / "k.h5ad"), "--output", str(tmp_path / "r.json")]
    args = [
        *base,
        "--model-option",
        "seed=5",
        "--model-option",
        "max_length=300",
        "--write-h5ad",
        str(tmp_path / "ev"),
    ]
    assert main(args) == 0, capsys.readouterr().err
    got = ad.read_h5ad(tmp_path / "ev" / "k.h5ad")
    params = got.uns["scmf"]["params"]["X_scGPT_tiny"]  # named after the checkpoint folder
    assert (
        params["format"] == "scgpt"
        and params["tokenizer"]["seed"] == 5
        and params["tokenizer"]["max_length"] == 300
    )
    want = scmf.tl.embed(kang_cells[:120].copy(), scmf.models.load(path, seed=5, max_length=300), copy=True)
    np.testing.assert_allclose(got.obsm["X_scGPT_tiny"], want.obsm["X_scmf"], rtol=0, atol=1e-6)
    capsys.readouterr()
    assert main([*base, "--hidden-layer", "3"]) == 1
    err = capsys.readouterr().err
    assert (
        "scgpt format does not take ['hidden_layer']" in err and "max_length" in err and err.count("\n") == 1
    )
    assert main([*base, "--model-option", "seed"]) == 1
    assert "KEY=VALUE" in capsys.readouterr().err


@pytest.mark.slow
def test_scgpt_path_string_in_tl_embed(tmp_path, ref, vocab_json, kang_cells):
    path, _, _ = _release(tmp_path, ref, vocab_json)
    by_path = scmf.tl.embed(kang_cells[:40].copy(), str(path), copy=True, progress=False)
    by_model = scmf.tl.embed(kang_cells[:40].copy(), scmf.models.load(path), copy=True, progress=False)
    np.testing.assert_array_equal(by_path.obsm["X_scmf"], by_model.obsm["X_scmf"])
    assert by_path.uns["scmf"]["params"]["X_scmf"]["format"] == "scgpt"
    assert "scgpt" in scmf.models.formats() and "uce" in scmf.models.formats()
    model = scmf.models.load(path)  # scGPT's embedding code runs under float16 autocast on CUDA only
    assert model.precision("cuda") == "float16" and model.precision("cpu") == "float32"
    seeded = scmf.tl.embed(kang_cells[:40].copy(), str(path), seed=4, copy=True, progress=False)
    want = scmf.tl.embed(kang_cells[:40].copy(), scmf.models.load(path, seed=4), copy=True, progress=False)
    np.testing.assert_array_equal(seeded.obsm["X_scmf"], want.obsm["X_scmf"])
    assert seeded.uns["scmf"]["params"]["X_scmf"]["tokenizer"]["seed"] == 4
    assert not np.array_equal(seeded.obsm["X_scmf"], by_path.obsm["X_scmf"])  # the seed matters (bin ties)
