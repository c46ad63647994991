"""Expression that is not what X usually holds: scaled X with .raw, unlogged TPM/FPKM."""

from __future__ import annotations

import numpy as np
import pytest

import scmf
from scmf._warnings import ScmfWarning


def test_unlogged_expression_is_detected_and_normalised(kang):
    a = kang[::4].copy()
    tpm = a.copy()
    tpm.X = tpm.X.copy()
    tpm.X.data = (
        np.expm1(tpm.X.data) * 97.3
    )  # per-cell normalised, not logged: values in the tens of thousands
    assert tpm.X.max() > 10_000
    assert scmf._expression.detect_scale(tpm.X) == "unlogged"
    with pytest.warns(ScmfWarning, match=r"not integer counts and not log-scale \(values up to [\d,]+"):
        scmf.tl.embed(tpm, "pca", n_comps=10)
    assert tpm.uns["scmf"]["params"]["X_scmf"]["preprocessing"] == "normalize_total(1e4)+log1p"
    scmf.tl.embed(a, "pca", n_comps=10)

    # Kang's X is log1p of counts per 1e4 (before gene filtering): renormalising the unlogged values
    # gives nearly the same principal subspace back (components may rotate among close eigenvalues)
    def r2(A, B):  # how much of B the span of A explains
        coef, *_ = np.linalg.lstsq(A, B, rcond=None)
        return 1 - ((B - A @ coef) ** 2).sum() / ((B - B.mean(0)) ** 2).sum()

    as_is, _ = scmf.tl._methods.pca_embedding(tpm, n_comps=10, scale="log1p")  # the values taken as log-scale
    fixed, unfixed = r2(a.obsm["X_scmf"], tpm.obsm["X_scmf"]), r2(a.obsm["X_scmf"], as_is)
    assert fixed > 0.9 and fixed > unfixed + 0.15, (fixed, unfixed)  # measured: 0.93 vs 0.73


def test_use_raw_reads_raw(pbmc):
    assert pbmc.X.min() < 0 and pbmc.raw is not None  # scaled X, log-normalised raw
    scmf.tl.embed(pbmc, "pca", n_comps=10, use_raw=True, key_added="X_raw_pca")
    p = pbmc.uns["scmf"]["params"]["X_raw_pca"]
    assert p["input_scale"] == "log1p" and p["use_raw"] is True
    import scanpy as sc

    ref = sc.pp.pca(pbmc.raw.X, n_comps=10, random_state=0, dtype=np.float32)
    np.testing.assert_allclose(np.abs(pbmc.obsm["X_raw_pca"]), np.abs(ref), rtol=1e-4, atol=1e-4)
    emb = scmf.tl.extract_embeddings("pca", pbmc, use_raw=True)
    assert emb.shape == (pbmc.n_obs, 50)
    with pytest.raises(ValueError, match="not both"):
        scmf.tl.embed(pbmc, "pca", use_raw=True, layer="x")
    no_raw = pbmc.copy()
    del no_raw.raw
    with pytest.raises(ValueError, match=r"adata.raw is empty"):
        scmf.tl.embed(no_raw, "pca", use_raw=True)


def test_use_raw_in_perturbation(norman):
    a = norman.copy()
    scmf.tl.embed(a, "pca", n_comps=20)
    scaled = a.copy()
    scaled.raw = a  # X scaled, raw = the log-normalised data (as scanpy's tutorials leave it)
    import scanpy as sc

    sc.pp.scale(scaled)
    kw = {"perturbation_key": "perturbation", "control_label": "control", "context_key": "cell_type"}
    scmf.bm.perturbation(a, **kw)
    scmf.bm.perturbation(scaled, use_raw=True, **kw)
    va = scmf.bm.results(a).set_index("metric")["value"]
    vb = scmf.bm.results(scaled).set_index("metric")["value"]
    np.testing.assert_allclose(va.to_numpy(), vb.loc[va.index].to_numpy(), rtol=1e-6)
