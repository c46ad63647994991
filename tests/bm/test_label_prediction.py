"""The native probe protocol equals cz-benchmarks' label-prediction task on the same cells and folds."""

from __future__ import annotations

import numpy as np
import pytest

import scmf


@pytest.mark.slow
@pytest.mark.filterwarnings("always::scmf.ScmfWarning")
def test_equals_cz_benchmarks(pbmc):
    pytest.importorskip("czbenchmarks")
    a = pbmc.copy()
    kw = {"use_rep": ["X_pca_baseline", "X_random_baseline"], "min_class_size": 10, "seed": 7}
    scmf.bm.label_prediction(a, "bulk_labels", **kw)
    scmf.bm.cz_label_prediction(a, "bulk_labels", **kw)
    t = scmf.bm.results(a).set_index(["benchmark", "rep", "metric"])["value"]
    cz = t.loc["cz_label_prediction"]
    mine = t.loc["label_prediction"]
    assert set(cz.index) == set(mine.index)
    for key in cz.index:
        assert mine[key] == pytest.approx(cz[key], abs=1e-9), key
    assert mine["X_pca_baseline", "accuracy"] > mine["X_random_baseline", "accuracy"] + 0.2


@pytest.mark.slow
def test_folds_are_paired_replicates(pbmc):
    scmf.bm.label_prediction(
        pbmc, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], min_class_size=5
    )
    reps = scmf.bm.results(pbmc, replicates=True).set_index(["rep", "metric"])["replicates"]
    assert len(reps["X_pca_baseline", "auroc_knn"]) == 5
    np.testing.assert_allclose(
        reps["X_pca_baseline", "accuracy"],
        np.mean([reps["X_pca_baseline", f"accuracy_{c}"] for c in ("lr", "knn", "rf")], axis=0),
    )
    c = scmf.bm.compare(pbmc, baseline="X_random_baseline").set_index("metric")
    assert c.loc["accuracy", "test"] == "corrected resampled t-test" and bool(c.loc["accuracy", "better"])
    with pytest.raises(ValueError, match="n_folds=50"):
        scmf.bm.label_prediction(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_folds=50, min_class_size=5)
