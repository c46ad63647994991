"""Registry, YAML config and the harness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import scmf
from scmf import _store

GUIDE_YAML = """
training:
  batch_size: 64
eval:
  every_n_epochs: 2
  batch_size: 128
  benchmarks:
    - name: linear_probe
      params:
        cell_type_key: bulk_labels
        test_size: 0.2
        max_iter: 1000
        seed: 42
    - name: embedding_quality
      params:
        label_key: bulk_labels
        batch_key: null
        n_neighbors: 15
"""


def test_guide_yaml_as_written(tmp_path):
    (tmp_path / "eval.yaml").write_text(GUIDE_YAML)
    cfg = scmf.bm.load_config(tmp_path / "eval.yaml")
    assert (cfg.batch_size, cfg.every_n_epochs) == (128, 2)
    assert [b.name for b in cfg.benchmarks] == ["linear_probe", "embedding_quality"]
    assert (
        scmf.bm.get_benchmark("embedding_quality").resolve(cfg.benchmarks[1].params)["cell_type_key"]
        == "bulk_labels"
    )


@pytest.mark.parametrize(
    ("block", "match"),
    [
        (
            {"benchmarks": [{"name": "linear_prob"}]},
            r"unknown benchmark 'linear_prob'; available: \[.*'linear_probe'",
        ),
        (
            {"benchmarks": [{"name": "linear_probe", "params": {"cell_typ_key": "x"}}]},
            r"no parameter 'cell_typ_key'; valid: \[.*'cell_type_key'",
        ),
        ({"benchmarks": []}, "non-empty list"),
        ({"benchmarks": [{"name": "linear_probe"}], "batchsize": 3}, r"unknown key\(s\) \['batchsize'\]"),
        ({"benchmarks": [{"name": "linear_probe", "cell_type_key": "x"}]}, "under 'params'"),
        (
            {"benchmarks": [{"name": "linear_probe", "params": {"label_key": "a", "cell_type_key": "b"}}]},
            "same parameter",
        ),
        ({"batch_size": 0, "benchmarks": ["linear_probe"]}, "positive integer"),
    ],
)
def test_config_errors(block, match):
    with pytest.raises(ValueError, match=match):
        scmf.bm.load_config({"eval": block})  # validates names and parameters


def test_yaml_is_loaded_safely(tmp_path):
    (tmp_path / "evil.yaml").write_text("eval: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        scmf.bm.load_config(tmp_path / "evil.yaml")


def test_harness_embeds_once_and_survives_a_failure(pbmc):
    calls = []

    class Counting:
        name = "counting"

        def embed(self, X, var_names):
            calls.append(X.shape[0])
            return np.asarray(X[:, :50].toarray() if hasattr(X, "toarray") else X[:, :50])

    other = pbmc.copy()
    config = [
        {"name": "linear_probe", "params": {"cell_type_key": "bulk_labels"}},
        {"name": "embedding_quality", "params": {"cell_type_key": "no_such_column"}},  # fails
        {"name": "embedding_quality", "params": {"cell_type_key": "bulk_labels", "batch_key": None}},
    ]
    report = scmf.bm.evaluate(
        {"a": pbmc, "b": other}, config, model=Counting(), batch_size=700, baselines=True, progress=False
    )
    assert calls == [700, 700]  # one embedding per dataset, not per benchmark
    assert list(report.failures["benchmark"]) == ["embedding_quality", "embedding_quality"]
    assert report.failures["error"].str.contains("no_such_column").all()
    res = report.results()
    assert set(res["dataset"]) == {"a", "b"}
    assert set(res["rep"]) == {"X_scmf", "X_pca_baseline", "X_random_baseline"}
    assert set(res["benchmark"]) == {"linear_probe", "embedding_quality"}
    # same numbers as calling the benchmark directly
    direct = scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_scmf", inplace=False)
    got = res.query("dataset == 'a' and benchmark == 'linear_probe' and rep == 'X_scmf'")
    np.testing.assert_allclose(got["value"].to_numpy(), direct["value"].to_numpy())


def test_report_json_roundtrip_with_failures(pbmc, tmp_path):
    report = scmf.bm.evaluate(
        pbmc,
        [
            {"name": "linear_probe", "params": {"cell_type_key": "bulk_labels"}},
            {"name": "grn_inference", "params": {"network": pd.DataFrame({"tf": ["A"], "target": ["B"]})}},
        ],
        use_rep="X_pca_baseline",
        progress=False,
    )
    report.to_json(tmp_path / "r.json")
    import json

    records = json.loads((tmp_path / "r.json").read_text())
    assert any(r.get("error") and r["benchmark_name"] == "grn_inference" for r in records)
    pd.testing.assert_frame_equal(scmf.bm.read_json(tmp_path / "r.json"), report.results())


def test_custom_benchmarks_function_and_class(pbmc):
    def centroid_spread(X, adata, *, label_key="bulk_labels"):
        means = pd.DataFrame(X).groupby(adata.obs[label_key].to_numpy(), observed=True).mean()
        return {"spread": float(means.std().mean())}

    class NormMean:
        def __init__(self, power: float = 2.0):
            self.power = power

        def run(self, X, adata):
            return {"mean_norm": float(np.mean(np.linalg.norm(X, ord=self.power, axis=1)))}

    try:
        scmf.bm.register_benchmark("centroid_spread", centroid_spread)
        scmf.bm.register_benchmark("norm_mean", NormMean)
        cfg = scmf.bm.load_config(
            [{"name": "centroid_spread"}, {"name": "norm_mean", "params": {"power": 1.0}}]
        )
        report = scmf.bm.evaluate(pbmc, cfg, use_rep="X_pca_baseline", progress=False)
        res = report.results().set_index("metric")["value"]
        X = pbmc.obsm["X_pca_baseline"]
        assert res["mean_norm"] == pytest.approx(np.mean(np.abs(X).sum(axis=1)), rel=1e-6)
        assert _store.get(pbmc, "norm_mean").params["power"] == 1.0
        with pytest.raises(ValueError, match="valid: \\['power'\\]"):
            scmf.bm.load_config([{"name": "norm_mean", "params": {"pow": 1}}])
    finally:
        scmf.bm._registry._REGISTRY.pop("centroid_spread", None)
        scmf.bm._registry._REGISTRY.pop("norm_mean", None)


def test_entry_point_benchmarks(monkeypatch):
    from importlib.metadata import EntryPoint

    ep = EntryPoint(name="ep_bench", value="numpy:mean", group="scmf.benchmarks")

    def fake_entry_points(group):
        return [ep] if group == "scmf.benchmarks" else []

    monkeypatch.setattr("importlib.metadata.entry_points", fake_entry_points)
    monkeypatch.setattr(scmf.bm._registry, "_ENTRY_POINTS_LOADED", False)
    try:
        assert "ep_bench" in scmf.bm.benchmarks()
    finally:
        scmf.bm._registry._REGISTRY.pop("ep_bench", None)


def test_yaml_dump_of_config_reloads(tmp_path):
    cfg = scmf.bm.load_config(yaml.safe_load(GUIDE_YAML))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"eval": cfg.to_dict()}))
    assert scmf.bm.load_config(tmp_path / "c.yaml") == cfg


def test_config_names_the_models_representation(pbmc, tmp_path):
    """``model_name:`` in the config names the model's obsm key (X_<name>) for evaluate and the CLI;
    an explicit key_added / --name wins; a bad name is refused when the config loads."""
    from scmf.cli import main

    cfg = {
        "eval": {
            "model_name": "pca20",
            "benchmarks": [
                {"name": "linear_probe", "params": {"cell_type_key": "bulk_labels", "n_splits": 2}}
            ],
        }
    }
    report = scmf.bm.evaluate({"pbmc": pbmc.copy()}, cfg, model="pca", progress=False)
    assert set(report.results()["rep"]) == {"X_pca20"} and "X_pca20" in report.datasets["pbmc"].obsm
    report = scmf.bm.evaluate({"pbmc": pbmc.copy()}, cfg, model="pca", key_added="X_mine", progress=False)
    assert set(report.results()["rep"]) == {"X_mine"}
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    pbmc.write_h5ad(tmp_path / "p.h5ad")
    args = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--model", "pca", "--data", str(tmp_path / "p.h5ad"),
            "--output", str(tmp_path / "r.json")]  # fmt: skip
    assert main(args) == 0
    assert set(scmf.bm.read_json(tmp_path / "r.json")["rep"]) == {"X_pca20"}
    assert main([*args, "--name", "other", "--overwrite"]) == 0
    assert set(scmf.bm.read_json(tmp_path / "r.json")["rep"]) == {"X_other"}
    with pytest.raises(ValueError, match="model_name must be"):
        scmf.bm.load_config({"eval": {"model_name": "a/b", "benchmarks": ["linear_probe"]}})


def test_config_mistakes_are_caught_when_it_loads(tmp_path, pbmc):
    """A duplicated key, a wrongly typed parameter and a datasets: entry that matches no file are
    errors before anything runs (YAML would keep the last key; the type would fail after embedding)."""
    dup = tmp_path / "dup.yaml"
    dup.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: a, label_key: b}\n"
    )
    with pytest.raises(ValueError, match="appears twice"):
        scmf.bm.load_config(dup)
    typed = {"eval": {"benchmarks": [{"name": "linear_probe", "params": {"test_size": "0.2"}}]}}
    with pytest.raises(ValueError, match=r"test_size must be a number, got '0.2'"):
        scmf.bm.load_config(typed)
    with pytest.raises(ValueError, match="n_splits must be an integer"):
        scmf.bm.load_config({"eval": {"benchmarks": [{"name": "linear_probe", "params": {"n_splits": 2.5}}]}})
    cfg = {"eval": {"benchmarks": [{"name": "linear_probe", "params": {"cell_type_key": "bulk_labels"}}],
                    "datasets": {"pbmc_typo": {"cell_type_key": "bulk_labels"}}}}  # fmt: skip
    with pytest.raises(ValueError, match=r"names \['pbmc_typo'\], which match no dataset given \(\['pbmc'\]"):
        scmf.bm.evaluate({"pbmc": pbmc}, cfg, use_rep="X_pca_baseline", progress=False)
    assert "scmf_bench" not in pbmc.uns


def test_config_paths_can_be_confined_and_files_are_not_echoed(tmp_path):
    from scmf.bm._grn import read_network

    (tmp_path / "cfg").mkdir()
    secret = tmp_path / "secret.tsv"
    secret.write_text("root:$6$saltsalt$hashhashhash:19000:0:99999:7:::\tx\n")
    cfg = tmp_path / "cfg" / "eval.yaml"
    cfg.write_text(
        f"eval:\n  benchmarks:\n    - name: grn_inference\n      params: {{network_path: {secret}}}\n"
    )
    scmf.bm.load_config(cfg)  # allowed by default, as a command's arguments are
    with pytest.raises(ValueError, match="outside the config's folder"):
        scmf.bm.load_config(cfg, confine=True)
    with pytest.raises(ValueError) as e:
        read_network(secret)
    assert "hash" not in str(e.value) and "not shown" in str(e.value)


def test_invalid_yaml_is_located_not_echoed(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("eval:\n  benchmarks: [linear_probe\n  secret: s3cr3t-token\n")
    with pytest.raises(ValueError, match=r"is not valid YAML \(line \d+, column \d+\)") as e:
        scmf.bm.load_config(bad)
    assert "s3cr3t" not in str(e.value)


def test_harness_gives_prediction_benchmarks_the_models_gene_embeddings(tmp_path):
    adata = scmf.datasets.toy_perturbation(n_perturbations=16, target_genes=True, seed=2)
    path = scmf.models.random_release("reference", tmp_path / "tiny", genes=adata)
    report = scmf.bm.evaluate(
        adata,
        [{"name": "perturbation_response", "params": {"splits": ["random"]}}],
        model=path,
        input_scale="log1p",
        progress=False,
    )
    assert report.failures.empty, report.failures
    out = next(iter(report.datasets.values()))
    assert "X_scmf_genes" in out.varm
    assert set(report.results()["rep"]) == {"X_scmf", "X_scmf_genes", "linear"}
    r = _store.get(out, "perturbation_response", rep="X_scmf_genes")
    assert r.metrics["coverage"] == 1.0 and list(r.params["gene_rep"]) == ["X_scmf_genes"]
