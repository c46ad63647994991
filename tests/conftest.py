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
