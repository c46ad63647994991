"""cz_* benchmarks: every stored value equals cz-benchmarks' own task on the same inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scmf
from scmf import _store
from scmf._warnings import ScmfWarning

cz = pytest.importorskip("czbenchmarks.tasks")


def _direct(task_cls, X, inp, seed=42):
    out = {}
    for r in task_cls(random_seed=seed).run(np.ascontiguousarray(X), inp):
        clf = (r.params or {}).get("classifier")
        out[(r.metric_type.value, None if clf is None or clf.startswith("MEAN(") else clf)] = r.value
    return out


NAMES = {
    "adjusted_rand_index": "ari",
    "normalized_mutual_info": "nmi",
    "mean_fold_accuracy": "accuracy",
    "mean_fold_f1": "f1",
    "mean_fold_precision": "precision",
    "mean_fold_recall": "recall",
    "mean_fold_auroc": "auroc",
}


def _check(stored, direct):
    expected = {(NAMES.get(m, m) + (f"_{c}" if c else "")): v for (m, c), v in direct.items()}
    assert set(stored) == set(expected)  # every row kept
    for k, v in expected.items():
        if k == "entropy_per_cell":
            # cz builds its HNSW index with all threads (hnswlib add_items, num_threads=-1): the
            # graph, and so this value, varies slightly from run to run even for cz itself
            assert stored[k] == pytest.approx(v, rel=1e-3), k
        else:
            assert stored[k] == v, k  # exact equality


@pytest.fixture
def kang_cz(kang):
    adata = kang.copy()
    scmf.tl.baselines(adata, n_comps=20, seed=0)
    return adata


@pytest.mark.slow
def test_label_prediction_equals_cz_and_keeps_every_classifier(kang_cz):
    scmf.bm.cz_label_prediction(kang_cz, "cell_type", use_rep="X_pca_baseline", seed=3)
    got = _store.get(kang_cz, "cz_label_prediction").metrics
    labels = kang_cz.obs["cell_type"].astype(str).to_numpy()
    direct = _direct(
        cz.MetadataLabelPredictionTask,
        kang_cz.obsm["X_pca_baseline"],
        cz.MetadataLabelPredictionTaskInput(labels=labels),
        seed=3,
    )
    _check(got, direct)
    assert {"accuracy_lr", "accuracy_knn", "accuracy_rf", "accuracy"} <= set(got)
    assert got["accuracy"] == pytest.approx(
        np.mean([got["accuracy_lr"], got["accuracy_knn"], got["accuracy_rf"]])
    )
    other = scmf.bm.cz_label_prediction(kang_cz, "cell_type", use_rep="X_pca_baseline", seed=4, inplace=False)
    assert (
        other.set_index("metric").loc["accuracy_rf", "value"] != got["accuracy_rf"]
    )  # the seed is passed through


@pytest.mark.slow
def test_clustering_with_categorical_unused_and_missing_labels(pbmc):
    adata = pbmc.copy()
    labels = adata.obs["bulk_labels"].cat.add_categories(["unused_type"]).astype(object)
    labels.iloc[:5] = np.nan
    adata.obs["lab"] = pd.Categorical(labels)
    with pytest.warns(scmf.ScmfWarning, match="5 cells have no 'lab' label"):
        scmf.bm.cz_clustering(adata, "lab", use_rep="X_pca_baseline", seed=1)
    got = _store.get(adata, "cz_clustering").metrics
    keep = adata.obs["lab"].notna().to_numpy()
    lab = adata.obs["lab"][keep].astype(str).to_numpy()
    obs = pd.DataFrame({"lab": lab}, index=adata.obs_names[keep])
    direct = _direct(
        cz.ClusteringTask,
        adata.obsm["X_pca_baseline"][keep],
        cz.ClusteringTaskInput(obs=obs, input_labels=lab),
        seed=1,
    )
    _check(got, direct)
    assert _store.get(adata, "cz_clustering").metadata["n_cells"] == 695


def test_embedding_sparse_and_float64(pbmc):
    adata = pbmc.copy()
    X64 = adata.obsm["X_pca_baseline"].astype(np.float64)
    adata.obsm["X_sparse"] = sparse.csr_matrix(X64)
    adata.obsm["X_64"] = X64
    scmf.bm.cz_embedding(adata, "bulk_labels", use_rep=["X_sparse", "X_64"])
    labels = adata.obs["bulk_labels"].astype(str).to_numpy()
    direct = _direct(cz.EmbeddingTask, X64, cz.EmbeddingTaskInput(input_labels=labels))
    for rep in ("X_sparse", "X_64"):
        _check(_store.get(adata, "cz_embedding", rep=rep).metrics, direct)
    ref = scmf.bm.embedding_quality(adata, "bulk_labels", batch_key=None, use_rep="X_64", inplace=False)
    asw = ref.set_index("metric").loc["asw_cell_type", "value"]
    assert _store.get(adata, "cz_embedding", rep="X_64").metrics["silhouette_score"] == pytest.approx(
        asw, abs=1e-5
    )


@pytest.mark.slow
def test_batch_integration_and_pca_baseline(kang_cz):
    X_before = kang_cz.X.copy()
    scmf.bm.cz_batch_integration(
        kang_cz, "cell_type", batch_key="condition", use_rep="X_pca_baseline", baseline=True
    )
    labels = kang_cz.obs["cell_type"].astype(str).to_numpy()
    batches = kang_cz.obs["condition"].astype(str).to_numpy()
    inp = cz.BatchIntegrationTaskInput(batch_labels=batches, labels=labels)
    _check(
        _store.get(kang_cz, "cz_batch_integration", rep="X_pca_baseline").metrics,
        _direct(cz.BatchIntegrationTask, kang_cz.obsm["X_pca_baseline"], inp),
    )
    task = cz.BatchIntegrationTask(random_seed=42)
    base = task.compute_baseline(kang_cz.X)
    _check(
        _store.get(kang_cz, "cz_batch_integration", rep="cz_pca_baseline").metrics,
        _direct(cz.BatchIntegrationTask, base, inp),
    )
    assert "cz_pca_baseline" not in kang_cz.obsm  # benchmarks never write obsm
    assert (kang_cz.X != X_before).nnz == 0  # cz's preprocessing ran on a copy
    with pytest.raises(ValueError, match="at least 2 batches"):
        scmf.bm.cz_batch_integration(
            kang_cz[kang_cz.obs.condition == "control"].copy(),
            "cell_type",
            batch_key="condition",
            use_rep="X_pca_baseline",
        )


@pytest.mark.slow
def test_harness_aliases_and_roundtrip(kang_cz, tmp_path):
    import anndata as ad

    report = scmf.bm.evaluate(
        kang_cz,
        [
            {"name": "cz_label_prediction", "params": {"label_key": "cell_type"}},
            {"name": "cz_embedding", "params": {"cell_type_key": "cell_type"}},
        ],
        use_rep="X_pca_baseline",
        progress=False,
    )
    assert report.failures.empty
    kang_cz.write_h5ad(tmp_path / "k.h5ad")
    pd.testing.assert_frame_equal(
        scmf.bm.results(ad.read_h5ad(tmp_path / "k.h5ad")), scmf.bm.results(kang_cz)
    )


@pytest.mark.slow
def test_user_logging_is_left_alone(pbmc):
    import logging
    import subprocess
    import sys

    code = (
        "import logging, scanpy as sc, scmf\n"
        "a = sc.datasets.pbmc68k_reduced()\n"
        "scmf.bm.cz_embedding(a, 'bulk_labels', use_rep='X_pca')\n"
        "root = logging.getLogger()\n"
        "print(len(root.handlers), root.level)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", str(logging.WARNING)]  # cz's basicConfig(INFO) undone
    assert "INFO:czbenchmarks" not in out.stderr


def test_missing_extra_message(monkeypatch, pbmc):
    from importlib.metadata import PackageNotFoundError

    def missing(name):
        raise PackageNotFoundError(name)

    monkeypatch.setattr("importlib.metadata.version", missing)
    with pytest.raises(ImportError, match=r'pip install "scmf\[cz\]"'):
        scmf.bm.cz_embedding(pbmc, "bulk_labels", use_rep="X_pca_baseline")


@pytest.mark.slow
def test_label_prediction_one_class_and_small_classes(pbmc):
    a = pbmc.copy()
    a.obs["one"] = "T cell"
    with pytest.raises(ValueError, match=r"needs at least 2 classes in obs\['one'\]; found 1"):
        scmf.bm.cz_label_prediction(a, "one", use_rep="X_pca")
    counts = a.obs["bulk_labels"].value_counts()
    small = counts[counts < 40]
    assert len(small) >= 1 and (counts >= 40).sum() >= 2
    with pytest.warns(
        ScmfWarning, match=rf"leaves out {len(small)} classes with fewer than min_class_size=40"
    ):
        scmf.bm.cz_label_prediction(a, "bulk_labels", use_rep="X_pca", min_class_size=40)
    r = scmf._store.get(a, "cz_label_prediction")
    assert r.metadata["n_classes"] == int((counts >= 40).sum()) and r.metadata["n_classes_input"] == len(
        counts
    )
    assert r.metadata["n_cells"] == int(counts[counts >= 40].sum()) and r.metadata["n_cells_input"] == a.n_obs
    assert sorted(r.metadata["dropped_classes"]) == sorted(small.index.astype(str))
    # what was scored is what cz scores: the same metrics on the kept classes alone, no warning
    kept = a[a.obs["bulk_labels"].isin(counts[counts >= 40].index)].copy()
    scmf.bm.cz_label_prediction(kept, "bulk_labels", use_rep="X_pca", min_class_size=40)
    assert scmf._store.get(kept, "cz_label_prediction").metrics["accuracy"] == pytest.approx(
        r.metrics["accuracy"]
    )


def test_numeric_column_as_labels_is_one_short_error(pbmc):
    with pytest.raises(
        ValueError, match=r"obs\['n_genes'\] is numeric with \d+ distinct values in 700 cells"
    ) as e:
        scmf.bm.linear_probe(pbmc, "n_genes", use_rep="X_pca")
    assert len(str(e.value)) < 250
