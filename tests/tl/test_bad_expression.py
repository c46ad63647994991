"""Expression a baseline or a model cannot read gives a clear error up front, and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

import scmf


def test_more_components_than_the_data_has(kang_small):
    a = kang_small[:3].copy()
    with pytest.raises(ValueError, match=r"at most 2 components; pass n_comps=2"):
        scmf.tl.baselines(a)  # 50 PCA dims of 3 cells: not silently 2 beside a 50-dim random baseline
    assert "X_pca_baseline" not in a.obsm and "X_random_baseline" not in a.obsm
    scmf.tl.baselines(a, n_comps=2)
    assert a.obsm["X_pca_baseline"].shape == a.obsm["X_random_baseline"].shape == (3, 2)


def test_all_zero_and_non_finite_expression(kang_small, ref_checkpoint):
    a = kang_small.copy()
    a.X = sparse.csr_matrix(a.shape, dtype=np.float32)
    with pytest.raises(ValueError, match="all zeros"):
        scmf.tl.embed(a, "pca", n_comps=10)
    b = kang_small.copy()
    b.X = b.X.tocsr(copy=True)
    b.X.data[5] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        scmf.tl.embed(b, "pca", n_comps=10)
    with pytest.raises(ValueError, match="NaN or infinite"):
        scmf.tl.embed(b, ref_checkpoint, input_scale="log1p")  # a tokenised model too
    assert "X_scmf" not in b.obsm
