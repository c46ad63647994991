"""UCE model folders: scmf's loader and recipe against UCE's own code on real cells."""

from __future__ import annotations

import pickle
import types

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

import authors
import scmf
from helpers import counts_of
from scmf.models._uce import SPECIES_FILES

TOKEN_DIM = 16
CHROMS = [str(c) for c in range(1, 23)] + ["X", "Y", "MT"]


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    return authors.uce(tmp_path_factory.mktemp("authors"))


@pytest.fixture(scope="module")
def kang_counts(kang):
    return counts_of(kang[:150])


@pytest.fixture(scope="module")
def norman_counts(data_dir):
    import anndata as ad

    norman = ad.read_h5ad(data_dir / "norman2019_mcfaline2023_perturbench_devel.h5ad")
    rich = np.flatnonzero(np.asarray((norman.X > 0).sum(1)).ravel() >= 60)  # cells UCE's filter keeps
    return counts_of(norman[rich[::10][:150]].copy())


def _release(tmp_path, ref, genes, *, seed=0):
    """A tiny UCE folder in UCE's layout: protein embeddings per species, chromosome CSV, offsets."""
    rng = np.random.default_rng(seed)
    d = tmp_path / "model_files"
    (d / "protein_embeddings").mkdir(parents=True)
    human = [g for g in genes[::2]] + ["NOTINDATA1", "NOTINDATA2"]  # half the data's genes have a protein
    human = [g.lower() if i % 7 == 0 else g for i, g in enumerate(human)]  # UCE upper-cases the keys
    mouse = ["Actb", "Gapdh", "Cd3e"]
    for species, file in SPECIES_FILES.items():
        names = human if species == "human" else mouse
        torch.save({g: torch.from_numpy(rng.normal(size=TOKEN_DIM).astype(np.float32)) for g in names},
                   d / "protein_embeddings" / file)  # fmt: skip
    rows = [("human", g.upper(), rng.choice(CHROMS), int(rng.integers(1, 10**8))) for g in human]
    rows += [("mouse", g.upper(), rng.choice(CHROMS[:5]), int(rng.integers(1, 10**8))) for g in mouse]
    pd.DataFrame(rows, columns=["species", "gene_symbol", "chromosome", "start"]).to_csv(
        d / "species_chrom.csv", index=False
    )
    offsets = {"human": 4, "mouse": 4 + len(human)}
    with open(d / "species_offsets.pkl", "wb") as fh:
        pickle.dump(offsets, fh)
    n_protein = 4 + len(human) + len(mouse)
    table = torch.from_numpy(rng.normal(size=(n_protein + 1895, TOKEN_DIM)).astype(np.float32))
    torch.manual_seed(seed)
    model = ref.TransformerModel(
        token_dim=TOKEN_DIM, d_model=40, nhead=20, d_hid=64, nlayers=2, output_dim=24, dropout=0.05
    )
    model.pe_embedding = torch.nn.Embedding.from_pretrained(table)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    torch.save(model.state_dict(), d / "4layer_model.torch")
    torch.save(table, d / "all_tokens.torch")
    return d, model.eval(), n_protein


def _authors_embedding(ref, model, d, adata, tmp_path, monkeypatch, *, n_protein, seed):
    """UCE's evaluation pipeline (preprocess, index files, loader, forward) on ``adata``."""
    work = tmp_path / "uce_work"
    work.mkdir()
    adata.write_h5ad(work / "cells.h5ad")
    paths = ref.gene_embeddings.MODEL_TO_SPECIES_TO_GENE_EMBEDDING_PATH["ESM2"]
    monkeypatch.setitem(paths, "human", d / "protein_embeddings" / SPECIES_FILES["human"])
    row = types.SimpleNamespace(path="cells.h5ad", species="human", covar_col=np.nan)
    du = ref.data_utils
    proc, n_cells, n_genes = du.process_raw_anndata(
        row, f"{work}/", f"{work}/", "", False, True, root=str(work)
    )
    assert n_cells == adata.n_obs  # UCE's cell filter kept every cell: the draws line up
    species_to_pe = du.get_species_to_pe(d / "protein_embeddings")
    with open(d / "species_offsets.pkl", "rb") as fh:
        offset = pickle.load(fh)["human"]
    pe_idx, chroms, starts = du.adata_path_to_prot_chrom_starts(
        proc,
        "human",
        list(species_to_pe["human"].keys()),
        du.get_spec_chrom_csv(d / "species_chrom.csv"),
        offset,
    )
    torch.save({"cells": pe_idx}, work / "pe.torch")
    with open(work / "chroms.pkl", "wb") as fh:
        pickle.dump({"cells": chroms}, fh)
    with open(work / "starts.pkl", "wb") as fh:
        pickle.dump({"cells": starts}, fh)
    args = types.SimpleNamespace(
        pad_length=1536, sample_size=1024, cls_token_idx=3, chrom_token_right_idx=2, pad_token_idx=0,
        CHROM_TOKEN_OFFSET=n_protein,
    )  # fmt: skip
    dataset = ref.MultiDatasetSentences(
        ["cells"], {"cells": (n_cells, n_genes)}, args, npzs_dir=f"{work}/",
        dataset_to_protein_embeddings_path=work / "pe.torch", datasets_to_chroms_path=work / "chroms.pkl",
        datasets_to_starts_path=work / "starts.pkl",
    )  # fmt: skip
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=25,
        shuffle=False,
        collate_fn=ref.MultiDatasetSentenceCollator(args),
        num_workers=0,
    )
    np.random.seed(seed)  # noqa: NPY002 - the global stream UCE draws from
    out, sentences = [], []
    with torch.no_grad():
        for bs, mask, _idx, cs in loader:
            sentences.extend(cs[i, : int(mask[i].sum())].long().numpy() for i in range(cs.shape[0]))
            x = torch.nn.functional.normalize(model.pe_embedding(bs.permute(1, 0).long()), dim=2)
            out.append(model.forward(x, mask=mask)[1].numpy())
    return np.vstack(out), sentences


@pytest.mark.parametrize("dataset", ["kang", "norman"])
@pytest.mark.slow
def test_uce_embedding_equals_authors(tmp_path, ref, kang_counts, norman_counts, dataset, monkeypatch):
    cells = kang_counts if dataset == "kang" else norman_counts
    d, model, n_protein = _release(tmp_path, ref, list(cells.var_names))
    want, sentences = _authors_embedding(
        ref, model, d, cells, tmp_path, monkeypatch, n_protein=n_protein, seed=11
    )
    loaded = scmf.models.load(d, seed=11)
    assert type(loaded.module).__name__ == "UCEEncoder"
    # the sentences (tokenisation) equal UCE's
    tok = loaded.tokenizer
    match, scale = tok.match(cells.var, cells.var_names)
    match = tok.restrict(match, cells.X, cells.n_obs)
    tok.begin()
    t = tok.encode(cells.X, match.token_ids, scale)
    assert len(sentences) == cells.n_obs
    for i, s in enumerate(sentences):
        np.testing.assert_array_equal(t.ids[i, : t.lengths[i]], s)
    out = scmf.tl.embed(cells, loaded, copy=True, progress=False)
    np.testing.assert_allclose(out.obsm["X_scmf"], want, rtol=0, atol=1e-5)
    params = out.uns["scmf"]["params"]["X_scmf"]
    assert params["format"] == "uce" and params["tokenizer"]["seed"] == 11
    assert params["batch_order"] == "consecutive" and params["batch_size"] == 25
    # backed file, read in row chunks: the same embedding
    cells.write_h5ad(tmp_path / "c.h5ad")
    backed = ad.read_h5ad(tmp_path / "c.h5ad", backed="r")
    scmf.tl.embed(backed, loaded, progress=False)
    np.testing.assert_array_equal(backed.obsm["X_scmf"], out.obsm["X_scmf"])


def test_uce_refuses_log_data_and_reports_missing_positions(tmp_path, ref, kang, kang_counts):
    d, _, _ = _release(tmp_path, ref, list(kang_counts.var_names))
    loaded = scmf.models.load(d)
    with pytest.raises(ValueError, match="raw counts"):
        scmf.tl.embed(kang[:30].copy(), loaded, progress=False)
    csv = pd.read_csv(d / "species_chrom.csv")
    csv.iloc[3:].to_csv(d / "species_chrom.csv", index=False)
    with pytest.warns(UserWarning, match="no genomic position"):
        scmf.models.load(d).tokenizer.match(kang_counts.var, kang_counts.var_names)
    with pytest.raises(ValueError, match=r"species='zebra' is not in"):
        scmf.models.load(d, species="zebra")
    (d / "33l_8ep_1024t_1280.torch").write_bytes((d / "4layer_model.torch").read_bytes()[:1000])
    with pytest.raises(ValueError, match="pass weights="):
        scmf.models.load(d)
    with pytest.raises(ValueError, match="truncated"):
        scmf.models.load(d, weights="33l_8ep_1024t_1280.torch")


def test_uce_mouse_genes(tmp_path, ref, kang_counts):
    d, _, _ = _release(tmp_path, ref, list(kang_counts.var_names))
    mouse = scmf.models.load(d, species="mouse", min_cells=0)
    X = sparse.csr_matrix(np.array([[3, 0, 1], [1, 2, 0]], dtype=np.float32))
    cells = ad.AnnData(X, var=pd.DataFrame(index=["Actb", "Gapdh", "Cd3e"]))
    out = scmf.tl.embed(cells, mouse, copy=True, progress=False)
    assert out.obsm["X_scmf"].shape == (2, 24)
    np.testing.assert_allclose(np.linalg.norm(out.obsm["X_scmf"], axis=1), 1.0, atol=1e-6)
    assert out.uns["scmf"]["params"]["X_scmf"]["genes"]["n_genes_matched"] == 3
    with pytest.warns(UserWarning, match="2 cells express fewer than 25 genes"):
        scmf.tl.embed(cells, scmf.models.load(d, species="mouse", min_cells=1), copy=True, progress=False)
