from __future__ import annotations

import json
import logging
from importlib.metadata import version

import anndata as ad
import numpy as np
import pandas as pd
import pytest

import scmf
from helpers import assert_same
from scmf import _store


@pytest.fixture
def evaluated(pbmc):
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=reps, n_splits=3, dataset_name="pbmc")
    scmf.bm.embedding_quality(pbmc, "bulk_labels", batch_key="phase", use_rep=reps, dataset_name="pbmc")
    return pbmc


def test_every_result_carries_its_context(evaluated):
    entry = evaluated.uns["scmf_bench"]["linear_probe"]["pbmc"]["X_pca_baseline"]
    assert (
        entry["benchmark"] == "linear_probe"
        and entry["dataset"] == "pbmc"
        and entry["rep"] == "X_pca_baseline"
    )
    assert entry["params"]["seed"] == 42 and entry["params"]["test_size"] == 0.2
    assert entry["metadata"]["n_cells"] == 700 and entry["metadata"]["n_classes"] == 10
    assert entry["metadata"]["cell_type_key"] == "bulk_labels"
    prov = entry["provenance"]
    assert prov["scmf"] == scmf.__version__ and prov["anndata"] == version("anndata")
    assert prov["timestamp"].endswith("Z")
    assert set(entry["metrics_std"]) == set(entry["metrics"])  # 3 splits


def test_results_coexist_and_table_is_tidy(evaluated):
    df = scmf.bm.results(evaluated)
    assert list(df.columns) == [
        "benchmark",
        "dataset",
        "rep",
        "metric",
        "value",
        "std",
        "ci_low",
        "ci_high",
        "params",
    ]
    assert set(df["benchmark"]) == {"linear_probe", "embedding_quality"}
    assert set(df["rep"]) == {"X_pca_baseline", "X_random_baseline"}
    assert len(df) == 2 * 4 + 2 * 9
    assert not df.duplicated(["benchmark", "dataset", "rep", "metric"]).any()
    sub = scmf.bm.results(evaluated, benchmark="linear_probe", rep="X_random_baseline")
    assert len(sub) == 4


def test_rerun_replaces_only_its_entry(evaluated, caplog):
    before = scmf.bm.results(evaluated)
    with caplog.at_level(logging.INFO, logger="scmf"):
        scmf.bm.linear_probe(evaluated, "bulk_labels", use_rep="X_pca_baseline", seed=7, dataset_name="pbmc")
    assert any("replaced result linear_probe/pbmc/X_pca_baseline" in r.message for r in caplog.records)
    after = scmf.bm.results(evaluated)
    assert len(after) == len(before)
    key = ["benchmark", "dataset", "rep", "metric"]
    merged = before.merge(after, on=key, suffixes=("_old", "_new"))
    changed = merged[(merged.value_old != merged.value_new)]
    assert set(changed["benchmark"]) <= {"linear_probe"} and set(changed["rep"]) <= {"X_pca_baseline"}
    untouched = merged[(merged.benchmark != "linear_probe") | (merged.rep != "X_pca_baseline")]
    np.testing.assert_array_equal(untouched.value_old, untouched.value_new)
    assert evaluated.uns["scmf_bench"]["linear_probe"]["pbmc"]["X_pca_baseline"]["params"]["seed"] == 7
    # a different dataset name adds an entry instead of replacing
    scmf.bm.linear_probe(evaluated, "bulk_labels", use_rep="X_pca_baseline", dataset_name="pbmc_again")
    assert set(scmf.bm.results(evaluated)["dataset"]) == {"pbmc", "pbmc_again"}


def test_round_trip_h5ad_exact(evaluated, tmp_path):
    path = tmp_path / "e.h5ad"
    evaluated.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert_same(evaluated.uns["scmf_bench"], back.uns["scmf_bench"])
    assert_same(evaluated.uns["scmf"], back.uns["scmf"])
    pd.testing.assert_frame_equal(scmf.bm.results(evaluated), scmf.bm.results(back))


@pytest.mark.slow
def test_round_trip_zarr(evaluated, tmp_path):
    path = tmp_path / "e.zarr"
    evaluated.write_zarr(path)
    back = ad.read_zarr(path)
    # zarr returns string arrays as numpy StringDType; the store reads them as object arrays
    assert_same(_store.canonical(evaluated.uns["scmf_bench"]), _store.canonical(back.uns["scmf_bench"]))
    pd.testing.assert_frame_equal(scmf.bm.results(evaluated), scmf.bm.results(back))
    stored = back.uns["scmf_bench"]["linear_probe"]["pbmc"]["X_pca_baseline"]
    assert isinstance(stored["metadata"]["n_cells"], int) and stored["params"]["group_key"] is None


def test_json_strict_atomic_and_round_trip(evaluated, tmp_path):
    # a NaN metric must become null
    r = _store.get(evaluated, "linear_probe", rep="X_random_baseline")
    r.metrics["accuracy"] = float("nan")
    _store.write(evaluated, [r])
    path = tmp_path / "out" / "results.json"
    scmf.bm.to_json(evaluated, path)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    records = json.loads(text)
    rec = next(
        x for x in records if x["benchmark_name"] == "linear_probe" and x["rep"] == "X_random_baseline"
    )
    assert rec["metrics"]["accuracy"] is None
    assert {"benchmark_name", "dataset_name", "metrics", "metadata", "rep", "params", "provenance"} <= set(
        rec
    )
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    pd.testing.assert_frame_equal(scmf.bm.read_json(path), scmf.bm.results(evaluated))


def test_json_write_failure_keeps_old_file(evaluated, tmp_path):
    path = tmp_path / "results.json"
    path.write_text("[]")
    evaluated.uns["scmf_bench"]["linear_probe"]["pbmc"]["X_pca_baseline"]["params"]["bad"] = object()
    with pytest.raises(TypeError):
        scmf.bm.to_json(evaluated, path)
    assert path.read_text() == "[]"
    assert list(tmp_path.iterdir()) == [path]


def test_collect_across_objects_and_files(evaluated, tmp_path):
    other = scmf.datasets.toy(300, 8, seed=3)
    scmf.bm.linear_probe(other, dataset_name="toy")
    h5 = tmp_path / "a.h5ad"
    zr = tmp_path / "b.zarr"
    js = tmp_path / "c.json"
    evaluated.write_h5ad(h5)
    other.write_zarr(zr)
    scmf.bm.to_json(other, js)
    table = scmf.bm.collect([evaluated, h5, str(zr), js])
    assert list(table.columns) == [
        "source",
        "benchmark",
        "dataset",
        "rep",
        "metric",
        "value",
        "std",
        "ci_low",
        "ci_high",
        "params",
    ]
    assert table["source"].unique().tolist() == ["adata0", "a", "b", "c"]  # file stems
    a = table[table.source == "adata0"].drop(columns="source").reset_index(drop=True)
    b = table[table.source == "a"].drop(columns="source").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    named = scmf.bm.collect({"model_a": evaluated, "model_b": other})
    assert set(named.source) == {"model_a", "model_b"}


def test_collect_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        scmf.bm.collect([tmp_path / "missing.h5ad"])
    broken = tmp_path / "broken.h5ad"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 10)
    with pytest.raises(ValueError, match="Is the file complete"):
        scmf.bm.collect([broken])
    bad_json = tmp_path / "t.json"
    bad_json.write_text('[{"benchmark_name": "x"')
    with pytest.raises(ValueError, match="truncated"):
        scmf.bm.collect([bad_json])
    with pytest.raises(TypeError, match="AnnData objects or paths"):
        scmf.bm.collect([42])


def test_store_refuses_views_and_foreign_values(pbmc):
    view = pbmc[:300]
    with pytest.raises(ValueError, match="view"):
        scmf.bm.linear_probe(view, "bulk_labels", use_rep="X_pca_baseline")
    # but a view is fine for inplace=False, and untouched
    df = scmf.bm.linear_probe(view, "bulk_labels", use_rep="X_pca_baseline", inplace=False)
    assert set(df.metric) == {"accuracy", "balanced_accuracy", "f1_macro", "f1_weighted"}
    assert "scmf_bench" not in view.uns
    pbmc.uns["scmf_bench"] = "something else"
    with pytest.raises(TypeError, match="not a dict"):
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline")
    with pytest.raises(ValueError, match="'/'"):
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", dataset_name="a/b", key_added="x")


def test_inplace_false_leaves_adata_untouched(pbmc):
    uns_before = set(pbmc.uns)
    df = scmf.bm.embedding_quality(
        pbmc, "bulk_labels", batch_key=None, use_rep="X_pca_baseline", inplace=False
    )
    assert set(pbmc.uns) == uns_before
    assert set(df.metric) == {"nmi", "ari", "asw_cell_type", "bio", "overall"}


def test_use_rep_given_an_array_is_explained_briefly(pbmc):
    with pytest.raises(TypeError) as e:
        scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=pbmc.obsm["X_pca"])
    msg = str(e.value)
    assert "array of shape (700, 50)" in msg and "get_benchmark" in msg and len(msg) < 300


def test_a_foreign_or_edited_store_is_read_entry_by_entry(pbmc):
    """Bad entries (a metric as text, an entry filed under another rep, a flat foreign value) are
    skipped with a warning naming each; every good entry still reads, and compare still works."""
    import warnings

    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=3)
    store = pbmc.uns["scmf_bench"]
    good = store["linear_probe"]["dataset"]
    bad_metric = dict(good["X_pca_baseline"], metrics={"accuracy": "high"})
    store["linear_probe"]["dataset"]["X_text"] = dict(bad_metric, rep="X_text")
    store["linear_probe"]["dataset"]["X_elsewhere"] = dict(
        good["X_pca_baseline"]
    )  # says it is X_pca_baseline
    store["someone_else"] = "a flat value"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = scmf.bm.results(pbmc)
        c = scmf.bm.compare(pbmc, baseline="X_random_baseline")
    said = " ".join(str(w.message) for w in caught)
    assert "linear_probe/dataset/X_text: metrics ['accuracy'] are not numbers" in said
    assert "X_elsewhere: the entry says it is linear_probe/dataset/X_pca_baseline" in said
    assert "someone_else: not a mapping of datasets" in said
    assert set(t["rep"]) == {"X_pca_baseline", "X_random_baseline"}  # no duplicated rows
    assert set(c["rep"]) == {"X_pca_baseline"} and len(c) == 4


def test_embed_writes_nothing_when_uns_is_foreign(pbmc):
    pbmc.uns["scmf"] = "another tool's note"
    with pytest.raises(ValueError, match="not scmf's"):
        scmf.tl.embed(pbmc, "random", n_comps=4)
    assert "X_scmf" not in pbmc.obsm and pbmc.uns["scmf"] == "another tool's note"


@pytest.mark.filterwarnings("always::scmf.ScmfWarning")
def test_warnings_raised_while_scoring_are_stored_with_the_result(pbmc, tmp_path):
    """What scmf warned about during a benchmark travels with its result (and survives the file),
    so that a reader of the file (the report) sees it; a clean run stores nothing extra."""
    pbmc.obs["tiny"] = pbmc.obs["bulk_labels"].astype(str)
    pbmc.obs.loc[pbmc.obs_names[:1], "tiny"] = "singleton"
    with pytest.warns(scmf.ScmfWarning, match="singleton"):
        scmf.bm.linear_probe(pbmc, "tiny", use_rep="X_pca_baseline", n_splits=2, dataset_name="tiny")
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=2, dataset_name="clean")
    pbmc.write_h5ad(tmp_path / "a.h5ad")
    back = {r.dataset: r for r in _store.iter_results(ad.read_h5ad(tmp_path / "a.h5ad"))}
    assert back["tiny"].metadata["warnings"] == [
        "linear_probe: dropping 1 classes with fewer than 2 cells: singleton (1)."
    ]
    assert "warnings" not in back["clean"].metadata
