from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("agg")


def _data_dir() -> Path | None:
    d = os.environ.get("SCMF_DATA_DIR")
    return Path(d) if d and Path(d).is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = _data_dir()
    if d is None:
        pytest.skip("SCMF_DATA_DIR is not set to the folder of public datasets")
    return d


@pytest.fixture(scope="session")
def _pbmc_session():
    import scanpy as sc

    import scmf

    adata = sc.datasets.pbmc68k_reduced()
    scmf.tl.baselines(adata, n_comps=30, seed=0)
    return adata


@pytest.fixture
def pbmc(_pbmc_session):
    """pbmc68k_reduced with X_pca_baseline / X_random_baseline (a fresh copy per test)."""
    return _pbmc_session.copy()


@pytest.fixture(scope="session")
def kang(data_dir):
    import anndata as ad

    return ad.read_h5ad(data_dir / "kang2018_ifnb_scgen_valid.h5ad")


@pytest.fixture
def toy():
    import scmf

    return scmf.datasets.toy(600, 8, n_labels=4, n_batches=3, seed=1)


@pytest.fixture(scope="session")
def gf_vocab(data_dir):
    from scmf.models import GeneVocab

    return GeneVocab.from_geneformer(data_dir / "geneformer_gc95M_vocab.tsv.gz")


@pytest.fixture(scope="session")
def scgpt_vocab(data_dir):
    from scmf.models import GeneVocab

    return GeneVocab.from_scgpt(data_dir / "scgpt_default_gene_vocab.json")


@pytest.fixture
def kang_small(kang):
    """200 Kang cells (a copy): enough for model tests, fast."""
    return kang[::10].copy()


@pytest.fixture(scope="session")
def ref_checkpoint(tmp_path_factory, gf_vocab):
    """A small randomly initialised scmf reference model saved with the real Geneformer vocabulary."""
    import torch

    from scmf.models import ReferenceConfig, ReferenceModel, save_reference

    torch.manual_seed(0)
    model = ReferenceModel(
        ReferenceConfig(vocab_size=len(gf_vocab), d_model=32, n_layers=2, n_heads=4, d_ff=64, max_len=64)
    )
    return save_reference(model, gf_vocab, tmp_path_factory.mktemp("ckpt") / "reference")


@pytest.fixture(scope="session")
def geneformer_dir(tmp_path_factory, gf_vocab):
    """A small randomly initialised Geneformer (BertForMaskedLM) in the public checkpoint layout."""
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=len(gf_vocab),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=130,
        pad_token_id=gf_vocab.pad_id,
    )
    path = tmp_path_factory.mktemp("gf") / "geneformer"
    transformers.BertForMaskedLM(cfg).save_pretrained(path)  # the public checkpoint layout
    return path


@pytest.fixture(scope="session")
def _norman_session(data_dir):
    import anndata as ad

    import scmf

    adata = ad.read_h5ad(data_dir / "norman2019_mcfaline2023_perturbench_devel.h5ad")
    scmf.tl.baselines(adata, n_comps=30, seed=0)
    return adata


@pytest.fixture
def norman(_norman_session):
    """The perturbation dataset (Norman 2019 + McFaline 2023) with PCA and random baselines."""
    return _norman_session.copy()
