"""The evaluation guide's object API: bound benchmarks, results, the harness, tokenizers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import scmf
from scmf._warnings import ScmfWarning


def test_bound_benchmark_equals_the_scanpy_call(pbmc):
    bench = scmf.bm.get_benchmark("linear_probe", cell_type_key="bulk_labels", test_size=0.2, seed=42)
    emb = pbmc.obsm["X_pca_baseline"].copy()  # a new array, not the one in obsm
    result = bench.run(emb, pbmc, "my_dataset")
    assert result.rep == "X_scmf" and np.array_equal(pbmc.obsm["X_scmf"], emb)
    check = pbmc.copy()
    scmf.bm.linear_probe(check, "bulk_labels", use_rep="X_pca_baseline", test_size=0.2, seed=42)
    want = scmf.bm.results(check).set_index("metric")["value"]
    for m in ("accuracy", "f1_macro", "f1_weighted", "balanced_accuracy"):
        assert result.metrics[m] == pytest.approx(want[m], abs=0)
    assert result.metadata["n_cells"] == pbmc.n_obs and result.metadata["n_classes"] == 10
    assert result.benchmark_name == "linear_probe" and result.dataset_name == "my_dataset"
    # stored like every other result
    assert scmf.bm.results(pbmc).query("dataset == 'my_dataset'")["value"].notna().all()
    line = result.summary()
    assert (
        line.startswith("[linear_probe] my_dataset: accuracy=")
        and f"{result.metrics['f1_macro']:.4f}" in line
    )
    rec = result.to_dict()
    json.dumps(rec, allow_nan=False)  # plain strict JSON
    assert (
        rec["benchmark_name"] == "linear_probe" and rec["metrics"]["accuracy"] == result.metrics["accuracy"]
    )
    assert rec["params"]["test_size"] == 0.2 and rec["params"]["cell_type_key"] == "bulk_labels"


def test_bound_benchmark_never_overwrites_an_embedding(pbmc):
    bench = scmf.bm.get_benchmark("linear_probe", label_key="bulk_labels", n_splits=1)  # the guide's alias
    assert bench.params == {"cell_type_key": "bulk_labels", "n_splits": 1}
    bench.run(pbmc.obsm["X_pca_baseline"].copy(), pbmc)
    before = pbmc.obsm["X_scmf"].copy()
    with pytest.raises(ValueError, match=r"obsm\['X_scmf'\] already holds a different embedding; pass rep="):
        bench.run(pbmc.obsm["X_random_baseline"].copy(), pbmc)
    assert np.array_equal(pbmc.obsm["X_scmf"], before)
    r = bench.run(pbmc.obsm["X_random_baseline"], pbmc)  # the very array in obsm: its key is used
    assert r.rep == "X_random_baseline"
    assert bench.run("X_pca_baseline", pbmc).rep == "X_pca_baseline"  # an obsm key
    with pytest.raises(ValueError, match="one row per cell"):
        bench.run(pbmc.obsm["X_pca_baseline"][:10], pbmc)
    with pytest.raises(ValueError, match="has no parameter 'celltype'"):
        scmf.bm.get_benchmark("linear_probe", celltype="x")


def test_harness_from_config_returns_results(pbmc, tmp_path):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "eval:\n  batch_size: 64\n  benchmarks:\n"
        "    - name: linear_probe\n      params: {cell_type_key: bulk_labels, n_splits: 1}\n"
        "    - name: embedding_quality\n      params: {cell_type_key: bulk_labels, batch_key: null}\n"
    )
    config = scmf.bm.load_config(cfg)
    harness = scmf.bm.EvalHarness.from_config(config.eval)
    assert [b.name for b in harness.benchmarks] == ["linear_probe", "embedding_quality"]
    a, b = pbmc.copy(), pbmc.copy()
    results = harness.run(model="pca", datasets={"a": a, "b": b}, batch_size=64, device="cpu")
    assert [(r.benchmark, r.dataset) for r in results] == [
        ("linear_probe", "a"), ("embedding_quality", "a"), ("linear_probe", "b"), ("embedding_quality", "b"),
    ]  # fmt: skip
    report = scmf.bm.evaluate({"a": pbmc.copy()}, cfg, model="pca", progress=False)
    want = report.results().set_index(["benchmark", "metric"])["value"]
    for r in results[:2]:
        for m, v in r.metrics.items():
            assert v == pytest.approx(want[(r.benchmark, m)], nan_ok=True)
    with pytest.raises(TypeError, match="get_benchmark"):
        scmf.bm.EvalHarness([{"name": "linear_probe"}])


def test_failed_benchmark_in_harness_is_warned(pbmc):
    harness = scmf.bm.EvalHarness([scmf.bm.get_benchmark("linear_probe", cell_type_key="no_such_column")])
    with pytest.warns(ScmfWarning, match="linear_probe on d: .*no_such_column"):
        assert harness.run(model="pca", datasets={"d": pbmc}) == []
    assert list(harness.failures["benchmark"]) == ["linear_probe"]


def test_tokenizer_and_checkpoint_with_vocabulary(ref_checkpoint, kang_small, scgpt_vocab):
    model, vocab = scmf.models.load_pretrained_with_vocab(ref_checkpoint)
    assert vocab is model.tokenizer.vocab
    tok = scmf.models.get_tokenizer("rank_value", gene_vocab=vocab)  # 2048 tokens; the checkpoint reads 64
    with pytest.warns(ScmfWarning, match="at most 64 gene tokens"):
        emb = scmf.tl.extract_embeddings(
            model, kang_small, tok, batch_size=32, device="cpu", input_scale="log1p"
        )
    assert "X_scmf" not in kang_small.obsm
    scmf.tl.embed(kang_small, model, batch_size=32, device="cpu", input_scale="log1p")
    np.testing.assert_allclose(emb, kang_small.obsm["X_scmf"], rtol=1e-5, atol=1e-6)
    # the bare module plus a tokenizer works too
    emb2 = scmf.tl.extract_embeddings(
        model.module, kang_small, model.tokenizer, device="cpu", input_scale="log1p"
    )
    np.testing.assert_allclose(emb2, emb, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="vocabulary is not the checkpoint's"):
        scmf.tl.extract_embeddings(
            model, kang_small, scmf.models.get_tokenizer("binned", gene_vocab=scgpt_vocab)
        )


def test_registered_dataset_is_named_by_its_loader(data_dir):
    """A registered dataset (read from SCMF_DATA_DIR; skipped without it, never downloaded here)."""
    k = scmf.datasets.load("kang2018")
    scmf.tl.embed(k, "pca", n_comps=10)
    scmf.bm.linear_probe(k, "cell_type", n_splits=1)
    scmf.bm.linear_probe(k, "cell_type", n_splits=1, dataset_name="mine")  # an explicit name wins
    assert set(scmf.bm.results(k)["dataset"]) == {"kang2018", "mine"}


def test_default_dataset_name_is_the_data_own(tmp_path, pbmc):
    p = scmf.datasets.pbmc68k()
    scmf.tl.embed(p, "pca", n_comps=10)
    scmf.bm.linear_probe(p, "bulk_labels", n_splits=1)
    assert set(scmf.bm.results(p)["dataset"]) == {"pbmc68k"}
    pbmc.write_h5ad(tmp_path / "donor7.h5ad")
    d = scmf.bm.read_dataset(tmp_path / "donor7.h5ad")
    scmf.bm.linear_probe(d, "bulk_labels", use_rep="X_pca_baseline", n_splits=1)
    assert set(scmf.bm.results(d)["dataset"]) == {"donor7"}
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=1)  # nothing known
    assert set(scmf.bm.results(pbmc)["dataset"]) == {"dataset"}


def test_embedding_quality_default_needs_no_batch_column(pbmc):
    assert "batch" not in pbmc.obs
    scmf.bm.embedding_quality(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_bootstrap=0)
    r = scmf._store.get(pbmc, "embedding_quality")
    assert r.params["batch_key"] is None and "asw_batch" not in r.metrics
    assert r.metrics["overall"] == pytest.approx(r.metrics["bio"])
