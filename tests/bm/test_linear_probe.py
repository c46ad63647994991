from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import GroupShuffleSplit, train_test_split
from sklearn.preprocessing import StandardScaler

import scmf
from scmf import ScmfWarning, _store


def _metrics(adata, rep="X_pca_baseline", dataset="dataset"):
    return _store.get(adata, "linear_probe", dataset=dataset, rep=rep).metrics


def test_equals_sklearn_without_standardisation(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", standardize=False, seed=3)
    X = pbmc.obsm["X_pca_baseline"]  # float32, as the probe uses it
    y = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=3)
    pred = LogisticRegression(max_iter=1000).fit(Xtr, ytr).predict(Xte)
    got = _metrics(pbmc)
    assert got["accuracy"] == pytest.approx(accuracy_score(yte, pred), abs=1e-12)
    assert got["f1_macro"] == pytest.approx(f1_score(yte, pred, average="macro"), abs=1e-12)
    assert got["f1_weighted"] == pytest.approx(f1_score(yte, pred, average="weighted"), abs=1e-12)
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(yte, pred), abs=1e-12)


def test_standardised_equals_sklearn_pipeline(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline")
    X = pbmc.obsm["X_pca_baseline"]  # float32, as the probe uses it
    y = pbmc.obs["bulk_labels"].astype(str).to_numpy()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
    sc = StandardScaler().fit(Xtr)
    pred = LogisticRegression(max_iter=1000).fit(sc.transform(Xtr), ytr).predict(sc.transform(Xte))
    assert _metrics(pbmc)["accuracy"] == pytest.approx(accuracy_score(yte, pred), abs=1e-12)


def test_standardisation_rescues_low_variance_embeddings(pbmc):
    pbmc.obsm["X_tiny"] = pbmc.obsm["X_pca_baseline"] / pbmc.obsm["X_pca_baseline"].std() * 0.01
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_tiny", standardize=False, dataset_name="raw")
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_tiny", dataset_name="std")
    plain = _metrics(pbmc, "X_tiny", "raw")["balanced_accuracy"]
    scaled = _metrics(pbmc, "X_tiny", "std")["balanced_accuracy"]
    assert plain < 0.2 < 0.5 < scaled  # chance is 0.1 for 10 classes


def test_list_of_reps_uses_identical_splits(pbmc):
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=reps, n_splits=2)
    for rep in reps:
        alone = scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=rep, n_splits=2, inplace=False)
        both = scmf.bm.results(pbmc, rep=rep)
        pd.testing.assert_frame_equal(alone, both)
    pca, rnd = _metrics(pbmc), _metrics(pbmc, "X_random_baseline")
    assert pca["accuracy"] > rnd["accuracy"] + 0.3


def test_repeated_splits_mean_and_std(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=4)
    r = _store.get(pbmc, "linear_probe")
    vals = r.artifacts["split_values"]["accuracy"]
    assert vals.shape == (4,) and np.unique(vals).size > 1
    assert r.metrics["accuracy"] == pytest.approx(vals.mean())
    assert r.metrics_std["accuracy"] == pytest.approx(vals.std(ddof=1))
    assert r.artifacts["confusion"].sum() == 4 * r.metadata["n_test"]
    assert r.metadata["n_test"] == 140


def test_group_split_keeps_groups_apart(toy):
    toy.obs["donor"] = pd.Categorical(np.random.default_rng(0).integers(0, 6, toy.n_obs).astype(str))
    scmf.bm.linear_probe(toy, group_key="donor", n_splits=3, standardize=False)
    r = _store.get(toy, "linear_probe")
    assert r.metadata["split"] == "group" and r.metadata["n_groups"] == 6
    X = toy.obsm["X_scmf"].astype(np.float64)
    y = toy.obs["cell_type"].astype(str).to_numpy()
    groups = toy.obs["donor"].astype(str).to_numpy()
    accs = []
    for tr, te in GroupShuffleSplit(n_splits=3, test_size=0.2, random_state=42).split(X, y, groups):
        assert not set(groups[tr]) & set(groups[te])
        pred = LogisticRegression(max_iter=1000).fit(X[tr], y[tr]).predict(X[te])
        accs.append(accuracy_score(y[te], pred))
    assert r.metrics["accuracy"] == pytest.approx(np.mean(accs), abs=1e-12)


def test_tiny_class_dropped_with_warning(pbmc):
    pbmc.obs["lab"] = pbmc.obs["bulk_labels"].astype(str)
    pbmc.obs.iloc[0, pbmc.obs.columns.get_loc("lab")] = "singleton"
    with pytest.warns(ScmfWarning, match=r"singleton \(1\)"):
        scmf.bm.linear_probe(pbmc, "lab", use_rep="X_pca_baseline")
    r = _store.get(pbmc, "linear_probe")
    assert r.metadata["dropped_classes"].tolist() == ["singleton"]
    assert r.metadata["n_cells"] == 699 and r.metadata["n_classes"] == 10


@pytest.mark.parametrize("kind", ["categorical_unused", "object", "int"])
def test_label_dtypes_give_identical_results(pbmc, kind):
    ref = scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", inplace=False)
    _, codes = np.unique(pbmc.obs["bulk_labels"].astype(str), return_inverse=True)
    if kind == "categorical_unused":
        col = pbmc.obs["bulk_labels"].cat.add_categories(["never_seen"])
    elif kind == "object":
        col = pbmc.obs["bulk_labels"].astype(str).astype(object)
    else:
        # integers in the sorted order of the names (splits depend on the coding)
        col = pd.Series(codes + 10, index=pbmc.obs_names)
    pbmc.obs["lab"] = col
    got = scmf.bm.linear_probe(pbmc, "lab", use_rep="X_pca_baseline", inplace=False)
    np.testing.assert_allclose(got["value"], ref["value"], atol=1e-12)


def test_nan_labels_left_out_with_warning(pbmc):
    pbmc.obs["lab"] = pbmc.obs["bulk_labels"].astype(object)
    pbmc.obs.iloc[:5, pbmc.obs.columns.get_loc("lab")] = np.nan
    with pytest.warns(ScmfWarning, match="5 cells have no 'lab' label"):
        scmf.bm.linear_probe(pbmc, "lab", use_rep="X_pca_baseline")
    assert _store.get(pbmc, "linear_probe").metadata["n_cells"] == 695


def test_bad_inputs(pbmc):
    with pytest.raises(KeyError, match=r"not a column of adata.obs"):
        scmf.bm.linear_probe(pbmc, "celltype", use_rep="X_pca_baseline")
    with pytest.raises(KeyError, match=r"run scmf.tl.embed"):
        scmf.bm.linear_probe(pbmc, "bulk_labels")
    pbmc.obsm["X_nan"] = pbmc.obsm["X_pca_baseline"].copy()
    pbmc.obsm["X_nan"][3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf in 1 cells"):
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_nan")
    pbmc.obs["one"] = "a"
    with pytest.raises(ValueError, match="at least 2 classes"):
        scmf.bm.linear_probe(pbmc, "one", use_rep="X_pca_baseline")
    with pytest.raises(ValueError, match="test_size"):
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", test_size=1.5)
    with pytest.raises(ValueError, match="one cell per class"):
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", test_size=0.005)
    pbmc.obs["g"] = "same"
    with pytest.raises(ValueError, match="only 1 group"):
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", group_key="g")
    assert "scmf_bench" not in pbmc.uns  # nothing half-written


def test_rows_mismatch_is_an_error():
    adata = scmf.datasets.toy(50, 4)
    adata.obsm._data["X_bad"] = np.zeros((49, 4))  # bypass AnnData's own check, as a stale file might
    with pytest.raises(ValueError, match=r"incorrect shape|49 rows but adata has 50 cells"):
        scmf.bm.linear_probe(adata, use_rep="X_bad")


def test_backed_anndata(pbmc, tmp_path):
    path = tmp_path / "p.h5ad"
    pbmc.write_h5ad(path)
    backed = ad.read_h5ad(path, backed="r")
    scmf.bm.linear_probe(backed, "bulk_labels", use_rep="X_pca_baseline")
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", dataset_name="p")
    assert _metrics(backed, dataset="p") == _metrics(pbmc, dataset="p")  # a backed file names its results
    backed.file.close()
