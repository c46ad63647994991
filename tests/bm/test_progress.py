"""Progress bars on long steps, and the probe's parallel fits."""

from __future__ import annotations

import json

import numpy as np
import pytest

import scmf
from scmf import _progress


def test_probe_fits_in_parallel_give_the_same_results(pbmc):
    a, b = pbmc.copy(), pbmc.copy()
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.linear_probe(a, "bulk_labels", use_rep=reps, n_splits=4, progress=False)
    scmf.bm.linear_probe(b, "bulk_labels", use_rep=reps, n_splits=4, n_jobs=2, progress=False)
    ta, tb = scmf.bm.results(a, replicates=True), scmf.bm.results(b, replicates=True)
    np.testing.assert_array_equal(ta["value"], tb["value"])
    for ra, rb in zip(ta["replicates"], tb["replicates"], strict=True):
        np.testing.assert_array_equal(ra, rb)
    assert ta["params"].equals(tb["params"])  # n_jobs/progress are how it ran, not what it computed
    assert "n_jobs" not in json.loads(ta["params"].iloc[0]) and "progress" not in json.loads(
        ta["params"].iloc[0]
    )
    ca = scmf._store.get(a, "linear_probe", rep=reps[0]).artifacts["confusion"]
    cb = scmf._store.get(b, "linear_probe", rep=reps[0]).artifacts["confusion"]
    np.testing.assert_array_equal(ca, cb)


def test_progress_bar_counts_fits_and_resolutions(pbmc, capsys):
    scmf.bm.linear_probe(
        pbmc, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=3, progress=True
    )
    err = capsys.readouterr().err
    assert "linear_probe" in err and "6/6" in err  # 3 fits x 2 representations
    scmf.bm.embedding_quality(
        pbmc, "bulk_labels", batch_key=None, use_rep="X_pca_baseline", n_bootstrap=0, progress=True
    )
    err = capsys.readouterr().err
    assert "embedding_quality" in err and "11/11" in err  # neighbours + 10 Leiden resolutions
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", progress=False)
    assert capsys.readouterr().err == ""


def test_progress_follows_scanpy_verbosity():
    import scanpy as sc

    before = sc.settings.verbosity
    try:
        sc.settings.verbosity = 0
        assert _progress.enabled(None) is False and _progress.enabled(True) is True
        sc.settings.verbosity = 1
        assert _progress.enabled(None) is None  # tqdm decides: shown on a terminal only
        assert _progress.enabled(False) is False
    finally:
        sc.settings.verbosity = before


def test_embedding_batches_show_progress(ref_checkpoint, kang_small, capsys):
    scmf.tl.embed(
        kang_small, str(ref_checkpoint), batch_size=50, device="cpu", input_scale="log1p", progress=True
    )
    err = capsys.readouterr().err
    assert f"{kang_small.n_obs}/{kang_small.n_obs}" in err


@pytest.mark.parametrize("bad", [0.5, "x"])
def test_n_jobs_is_checked(pbmc, bad):
    with pytest.raises((TypeError, ValueError)):
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=2, n_jobs=bad)
