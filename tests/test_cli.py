from __future__ import annotations

import json

import anndata as ad
import pytest

import scmf
from scmf.cli import main


def test_demo_writes_evaluated_files(tmp_path, capsys):
    assert main(["demo", "--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "linear_probe" in out and "X_pca_baseline" in out
    back = ad.read_h5ad(tmp_path / "pbmc68k_evaluated.h5ad")
    table = scmf.bm.results(back)
    assert set(table.benchmark) == {"linear_probe", "embedding_quality"}
    acc = table.query("metric == 'accuracy'").set_index("rep")["value"]
    assert acc["X_pca_baseline"] > 0.7 > 0.35 > acc["X_random_baseline"]
    records = json.loads((tmp_path / "results.json").read_text())
    assert len(records) == 4
    assert (tmp_path / "results_table.png").stat().st_size > 10_000


def test_errors_are_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("not a folder")
    assert main(["demo", "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scmf demo: error:") and "Traceback" not in err


CONFIG = """
eval:
  batch_size: 64
  benchmarks:
    - name: linear_probe
      params: {cell_type_key: cell_type, test_size: 0.2}
    - name: grn_inference
      params: {network_path: NETWORK, min_cells: 10}
    - name: perturbation
      params: {perturbation_key: condition, control_label: control}
"""


def _setup(tmp_path, data_dir, kang_small):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(CONFIG.replace("NETWORK", str((data_dir / "dorothea_hs.tsv.gz").resolve())))
    kang_small.write_h5ad(tmp_path / "a.h5ad")
    kang_small[:150].copy().write_h5ad(tmp_path / "b.h5ad")
    return cfg


def test_benchmark_with_checkpoint_two_files(tmp_path, data_dir, kang_small, ref_checkpoint, capsys):
    cfg = _setup(tmp_path, data_dir, kang_small)
    out = tmp_path / "results.json"
    args = [
        "benchmark",
        "--config",
        str(cfg),
        "--model",
        str(ref_checkpoint),
        "--data",
        str(tmp_path / "a.h5ad"),
    ]
    args += [
        "--data",
        str(tmp_path / "b.h5ad"),
        "--output",
        str(out),
        "--write-h5ad",
        str(tmp_path / "ev"),
        "--device",
        "cpu",
    ]
    args += ["--input-scale", "log1p"]
    # the perturbation benchmark cannot run on Kang (one perturbation): recorded, exit code 3
    code = main(args)
    err = capsys.readouterr().err
    assert code == 3 and "2 benchmark run(s) failed" in err, err
    table = scmf.bm.read_json(out)
    # the model's representation is named after its checkpoint folder ("reference")
    assert set(table["dataset"]) == {"a", "b"} and set(table["rep"]) == {"X_reference"}
    assert set(table["benchmark"]) == {"linear_probe", "grn_inference"}
    records = json.loads(out.read_text())
    assert all(r["provenance"]["scmf"] for r in records if "error" not in r)
    assert sum("error" in r for r in records) == 2
    back = ad.read_h5ad(tmp_path / "ev" / "a.h5ad")
    assert back.uns["scmf"]["params"]["X_reference"]["checkpoint"] == str(ref_checkpoint)
    import pandas as pd

    pd.testing.assert_frame_equal(scmf.bm.results(back), table.query("dataset == 'a'").reset_index(drop=True))
    assert not list((tmp_path / "ev").glob("*.tmp"))


def test_benchmark_baseline_model(tmp_path, pbmc, capsys):
    pbmc.write_h5ad(tmp_path / "p.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: bulk_labels}\n"
    )
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "benchmark",
                "--config",
                str(tmp_path / "c.yaml"),
                "--model",
                "pca",
                "--data",
                str(tmp_path / "p.h5ad"),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert scmf.bm.read_json(out)["rep"].unique().tolist() == ["X_pca_baseline"]


def test_benchmark_bad_input_one_line_no_output(tmp_path, pbmc, capsys):
    pbmc.write_h5ad(tmp_path / "p.h5ad")
    good = tmp_path / "c.yaml"
    good.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: bulk_labels}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("eval:\n  benchmarks:\n    - name: linear_prob\n")
    trunc = tmp_path / "t.h5ad"
    trunc.write_bytes((tmp_path / "p.h5ad").read_bytes()[:5000])
    out = tmp_path / "r.json"
    cases = [
        (
            ["--config", str(bad), "--model", "pca", "--data", str(tmp_path / "p.h5ad")],
            "unknown benchmark 'linear_prob'",
        ),
        (
            ["--config", str(tmp_path / "none.yaml"), "--model", "pca", "--data", str(tmp_path / "p.h5ad")],
            "does not exist",
        ),
        (
            ["--config", str(good), "--model", "pca", "--data", str(tmp_path / "missing.h5ad")],
            "does not exist",
        ),
        (["--config", str(good), "--model", "pca", "--data", str(trunc)], "could not read"),
        (
            ["--config", str(good), "--model", "nonsense", "--data", str(tmp_path / "p.h5ad")],
            "neither a baseline",
        ),
    ]
    for extra, msg in cases:
        assert main(["benchmark", *extra, "--output", str(out)]) != 0
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and err.count("\n") == 1, err
        assert not out.exists()


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("linear_probe", "grn_inference", "perturbation", "geneformer", "kang2018", "pca"):
        assert word in out


def test_benchmark_geneformer_checkpoint_with_vocab(tmp_path, data_dir, kang_small, capsys):
    transformers = pytest.importorskip("transformers")
    import torch

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=20275,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=66,
    )
    transformers.BertForMaskedLM(cfg).save_pretrained(tmp_path / "gf")
    kang_small.write_h5ad(tmp_path / "k.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: cell_type}\n"
    )
    out = tmp_path / "r.json"
    args = [
        "benchmark",
        "--config",
        str(tmp_path / "c.yaml"),
        "--model",
        str(tmp_path / "gf"),
        "--data",
        str(tmp_path / "k.h5ad"),
        "--output",
        str(out),
        "--vocab",
        str(data_dir / "geneformer_gc95M_vocab.tsv.gz"),
        "--pooling",
        "cls",
        "--hidden-layer",
        "-1",
        "--input-scale",
        "log1p",
        "--write-h5ad",
        str(tmp_path / "ev"),
    ]
    assert main(args) == 0, capsys.readouterr().err
    params = ad.read_h5ad(tmp_path / "ev" / "k.h5ad").uns["scmf"]["params"][
        "X_gf"
    ]  # named after the checkpoint folder
    assert params["format"] == "geneformer" and params["pooling"] == "cls" and params["hidden_layer"] == -1
    assert params["tokenizer"]["max_len"] == 64
    assert (
        main(
            [
                "benchmark",
                "--config",
                str(tmp_path / "c.yaml"),
                "--model",
                "pca",
                "--data",
                str(tmp_path / "k.h5ad"),
                "--output",
                str(out),
                "--pooling",
                "cls",
            ]
        )
        == 1
    )
    assert "not to baselines" in capsys.readouterr().err


def _docs_block(lang: str, contains: str) -> str:
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "running.md").read_text()
    blocks = [
        b for lg, b in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S) if lg == lang and contains in b
    ]
    assert len(blocks) == 1, f"expected one {lang} block with {contains!r} in docs/running.md"
    return blocks[0]


def test_docs_config_runs_as_written(tmp_path, data_dir, monkeypatch, capsys):
    """The YAML and the command of docs/running.md, in a folder laid out as the page says."""
    import shlex

    for f in data_dir.resolve().glob("*.h5ad"):
        (tmp_path / f.name).symlink_to(f)
    (tmp_path / "dorothea_hs.tsv.gz").symlink_to((data_dir / "dorothea_hs.tsv.gz").resolve())
    scmf.datasets.pbmc68k().write_h5ad(tmp_path / "pbmc68k.h5ad")
    (tmp_path / "eval.yaml").write_text(_docs_block("yaml", "datasets:"))
    monkeypatch.chdir(tmp_path)
    cmd = shlex.split(_docs_block("bash", "scmf benchmark --config eval.yaml --model pca").strip())
    assert cmd[0] == "scmf"
    assert main(cmd[1:]) == 0
    out = capsys.readouterr().out
    table = scmf.bm.read_json("results.json")
    got = set(zip(table["dataset"], table["benchmark"], strict=True))
    assert got == {
        ("pbmc68k", "linear_probe"), ("pbmc68k", "embedding_quality"),
        ("kang2018_ifnb_scgen_valid", "linear_probe"), ("kang2018_ifnb_scgen_valid", "embedding_quality"),
        ("kang2018_ifnb_scgen_valid", "grn_inference"),
        ("norman2019_mcfaline2023_perturbench_devel", "perturbation"),
    }  # fmt: skip
    # each dataset used its own keys
    params = {
        (r.dataset, r.benchmark): json.loads(r.params)
        for r in table.drop_duplicates(["dataset", "benchmark"]).itertuples()
    }
    assert params[("pbmc68k", "linear_probe")]["cell_type_key"] == "bulk_labels"
    assert params[("pbmc68k", "embedding_quality")]["batch_key"] is None
    assert params[("kang2018_ifnb_scgen_valid", "embedding_quality")]["batch_key"] == "condition"
    assert params[("norman2019_mcfaline2023_perturbench_devel", "perturbation")]["context_key"] == "cell_type"
    # the results are printed, per dataset, with the values of the file
    acc = table.query("dataset == 'pbmc68k' and benchmark == 'linear_probe' and metric == 'accuracy'")[
        "value"
    ].item()
    assert "\npbmc68k\n" in out and f"{acc:.3f}" in out and "norman2019_mcfaline2023_perturbench_devel" in out


def test_config_paths_are_relative_to_the_config_file(tmp_path, data_dir, kang_small, monkeypatch, capsys):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "net.tsv.gz").symlink_to((data_dir / "dorothea_hs.tsv.gz").resolve())
    cfg = conf / "eval.yaml"
    cfg.write_text(
        "eval:\n  benchmarks:\n    - name: grn_inference\n      params: {network_path: net.tsv.gz, min_cells: 10}\n"
    )
    kang_small.obsm["X_mine"] = kang_small.obsm["X_pca"]
    kang_small.write_h5ad(tmp_path / "kang.h5ad")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # neither the config's folder nor the data's
    code = main(["benchmark", "--config", "../conf/eval.yaml", "--use-rep", "X_mine", "--data", "../kang.h5ad",
                 "--output", "r.json"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    table = scmf.bm.read_json("r.json")
    assert set(table["rep"]) == {"X_mine"} and set(table["benchmark"]) == {"grn_inference"}
    assert json.loads(table["params"].iloc[0])["network"] == str(conf.resolve() / "net.tsv.gz")
    # a missing file is named with the path tried, before any data is read
    cfg.write_text(cfg.read_text().replace("net.tsv.gz", "missing.tsv"))
    assert main(["benchmark", "--config", "../conf/eval.yaml", "--model", "pca", "--data", "nope.h5ad",
                 "--output", "r2.json"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert (
        "grn_inference.network_path 'missing.tsv' not found" in err
        and str(conf.resolve() / "missing.tsv") in err
    )
    assert not (elsewhere / "r2.json").exists()


def test_use_rep_instead_of_model(tmp_path, pbmc, capsys):
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: bulk_labels, n_splits: 1}\n"
    )
    pbmc.write_h5ad(tmp_path / "pbmc.h5ad")
    base = [
        "benchmark",
        "--config",
        str(cfg),
        "--data",
        str(tmp_path / "pbmc.h5ad"),
        "--output",
        str(tmp_path / "r.json"),
    ]
    assert main(base) == 1 and "give --model" in capsys.readouterr().err
    assert main([*base, "--use-rep", "X_nope"]) == 1
    assert "--use-rep ['X_nope'] not in obsm of 'pbmc'" in capsys.readouterr().err
    assert main([*base, "--use-rep", "X_pca_baseline", "--use-rep", "X_random_baseline"]) == 0
    t = scmf.bm.read_json(tmp_path / "r.json")
    assert set(t["rep"]) == {"X_pca_baseline", "X_random_baseline"}
    # same numbers as the Python call
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=1, dataset_name="pbmc")
    want = scmf.bm.results(pbmc).query("metric == 'accuracy'")["value"].item()
    assert t.query("rep == 'X_pca_baseline' and metric == 'accuracy'")["value"].item() == pytest.approx(want)
    # with a model, the obsm representation is benchmarked beside it
    assert main([*base, "--model", "pca", "--use-rep", "X_random_baseline", "--overwrite"]) == 0
    assert set(scmf.bm.read_json(tmp_path / "r.json")["rep"]) == {"X_pca_baseline", "X_random_baseline"}
    # --name names it
    assert main([*base, "--model", "pca", "--name", "my pca", "--overwrite"]) == 0
    assert set(scmf.bm.read_json(tmp_path / "r.json")["rep"]) == {"X_my_pca"}


def test_dataset_settings_are_validated(tmp_path):
    cfg = {"eval": {"benchmarks": [{"name": "linear_probe"}], "datasets": {"a": {"batch_key": "x"}}}}
    with pytest.raises(ValueError, match="no configured benchmark takes 'batch_key'"):
        scmf.bm.load_config(cfg)
    cfg["eval"]["datasets"] = {"a": {"benchmarks": ["perturbation"]}}
    with pytest.raises(ValueError, match="does not run"):
        scmf.bm.load_config(cfg)
    cfg["eval"]["datasets"] = {"a": {"label_key": "y"}}  # an alias of the benchmark's own name
    c = scmf.bm.load_config(cfg)
    spec = scmf.bm.benchmarks()["linear_probe"]
    assert c.datasets["a"].params_for(spec, {"cell_type_key": "x", "n_splits": 2}) == {
        "label_key": "y",
        "n_splits": 2,
    }


@pytest.mark.filterwarnings("always::scmf.ScmfWarning")
def test_embedding_only_file_gets_the_baselines_it_can(tmp_path, pbmc, capsys):
    """A file with an embedding in obsm and no genes: --baselines computes the random baseline
    (the PCA one needs the expression) instead of failing the whole dataset."""
    import anndata as ad

    emb = ad.AnnData(obs=pbmc.obs[["bulk_labels"]].copy(), obsm={"X_mine": pbmc.obsm["X_pca"].copy()})
    emb.write_h5ad(tmp_path / "emb.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: bulk_labels, n_splits: 2}\n"
    )
    args = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--use-rep", "X_mine", "--baselines",
            "--data", str(tmp_path / "emb.h5ad"), "--output", str(tmp_path / "r.json")]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "scmf benchmark: warning:" in err and "only the random baseline" in err, err
    t = scmf.bm.read_json(tmp_path / "r.json")
    assert set(t["rep"]) == {"X_mine", "X_random_baseline"}
    acc = t.query("metric == 'accuracy'").set_index("rep")["value"]
    assert acc["X_mine"] > acc["X_random_baseline"]


def test_write_h5ad_keeps_nullable_strings(tmp_path, pbmc, capsys):
    """obs text in pandas' nullable string dtype (pandas 3's default) is written back, not refused
    after all the work."""
    import pandas as pd

    from scmf._io import write_h5ad

    pbmc.obs["barcode"] = pd.array(
        [f"cell{i}" for i in range(pbmc.n_obs)], dtype="string"
    )  # unique: not categorical
    write_h5ad(tmp_path / "p.h5ad", pbmc)
    assert isinstance(ad.read_h5ad(tmp_path / "p.h5ad").obs["barcode"].dtype, pd.StringDtype)
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: bulk_labels, n_splits: 2}\n"
    )
    args = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--model", "pca", "--data", str(tmp_path / "p.h5ad"),
            "--output", str(tmp_path / "r.json"), "--write-h5ad", str(tmp_path / "ev")]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    back = ad.read_h5ad(tmp_path / "ev" / "p.h5ad")
    assert list(back.obs["barcode"]) == list(pbmc.obs["barcode"])
    assert set(scmf.bm.results(back)["rep"]) == {"X_pca_baseline"}


@pytest.mark.filterwarnings("always::scmf.ScmfWarning")
def test_warnings_are_one_line_each_once(tmp_path, pbmc, capsys):
    pbmc.obs["tiny"] = pbmc.obs["bulk_labels"].astype(str)
    pbmc.obs.loc[pbmc.obs_names[:1], "tiny"] = "single"
    pbmc.write_h5ad(tmp_path / "p.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: tiny, n_splits: 2}\n"
    )
    args = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--model", "pca", "--baselines",
            "--data", str(tmp_path / "p.h5ad"), "--output", str(tmp_path / "r.json")]  # fmt: skip
    assert main(args) == 0
    err = capsys.readouterr().err
    line = "scmf benchmark: warning: linear_probe: dropping 1 classes with fewer than 2 cells: single (1)."
    assert err.count("dropping 1 classes") == 1 and line in err.splitlines(), err


def test_published_baselines_from_the_command_line(tmp_path, kang_small, capsys):
    kang_small.write_h5ad(tmp_path / "k.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: cell_type, n_splits: 2}\n"
    )
    base = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--use-rep", "X_pca", "--data",
            str(tmp_path / "k.h5ad"), "--output", str(tmp_path / "r.json")]  # fmt: skip
    assert main([*base, "--baselines", "pca,harmony"]) == 1  # harmony needs the batches
    assert "--batch-key" in capsys.readouterr().err
    assert main([*base, "--baselines", "hvg,harmony", "--batch-key", "condition"]) == 0, (
        capsys.readouterr().err
    )
    t = scmf.bm.read_json(tmp_path / "r.json")
    assert set(t["rep"]) == {"X_pca", "X_hvg_baseline", "X_harmony_baseline"}
    assert main([*base, "--baselines", "umap"]) == 1
    assert "unknown baseline" in capsys.readouterr().err


def test_an_output_never_replaces_an_input(tmp_path, pbmc, capsys):
    """--output or --write-h5ad naming an input (directly, through a link or '..') is refused before
    any work, and the input is left as it was."""
    pbmc.write_h5ad(tmp_path / "p.h5ad")
    before = (tmp_path / "p.h5ad").read_bytes()
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: bulk_labels, n_splits: 2}\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.h5ad").symlink_to(tmp_path / "p.h5ad")
    base = [
        "benchmark",
        "--config",
        str(tmp_path / "c.yaml"),
        "--use-rep",
        "X_pca",
        "--data",
        str(tmp_path / "p.h5ad"),
    ]
    for extra in (
        ["--output", str(tmp_path / "p.h5ad")],
        ["--output", str(tmp_path / "sub" / ".." / "p.h5ad")],
        ["--output", str(tmp_path / "link.h5ad")],
        ["--output", str(tmp_path / "c.yaml")],
        ["--output", str(tmp_path / "r.json"), "--write-h5ad", str(tmp_path)],
    ):
        assert main([*base, *extra]) == 1, extra
        assert "would replace the input" in capsys.readouterr().err
    assert (tmp_path / "p.h5ad").read_bytes() == before and (tmp_path / "c.yaml").read_text().startswith(
        "eval:"
    )
    assert main([*base, "--output", str(tmp_path / "r.json"), "--write-h5ad", str(tmp_path / "sub")]) == 0
    capsys.readouterr()
    # outputs of one run never name each other, and --write-h5ad is a folder: refused before any work
    (tmp_path / "a_file").write_text("mine")
    for extra, said in (
        (["--output", str(tmp_path / "x.json"), "--report", str(tmp_path / "x.json")], "name the same file"),
        (["--output", str(tmp_path / "y.json"), "--write-h5ad", str(tmp_path / "a_file")], "is a file"),
    ):
        assert main([*base, *extra]) == 1, extra
        assert said in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "y.json").exists()
    assert (tmp_path / "a_file").read_text() == "mine"


@pytest.mark.slow
def test_a_second_run_keeps_the_first_runs_results(tmp_path, pbmc, capsys):
    """Two runs into the same --output and --write-h5ad: the results of both are there (merged as
    storing into uns does); --overwrite replaces; a foreign file is refused before any work."""
    pbmc.write_h5ad(tmp_path / "p.h5ad")
    for name, body in (("probe", "linear_probe\n      params: {label_key: bulk_labels, n_splits: 2}"),
                       ("quality", "embedding_quality\n      params: {label_key: bulk_labels, batch_key: null}")):  # fmt: skip
        (tmp_path / f"{name}.yaml").write_text(f"eval:\n  benchmarks:\n    - name: {body}\n")
    run = ["benchmark", "--use-rep", "X_pca", "--data", str(tmp_path / "p.h5ad"), "--output", str(tmp_path / "r.json"),
           "--write-h5ad", str(tmp_path / "ev")]  # fmt: skip
    assert main([*run, "--config", str(tmp_path / "probe.yaml")]) == 0
    assert main([*run, "--config", str(tmp_path / "quality.yaml")]) == 0
    out = capsys.readouterr().out
    assert "kept 1 earlier record(s)" in out and "kept 1 earlier result(s)" in out
    assert set(scmf.bm.read_json(tmp_path / "r.json")["benchmark"]) == {"linear_probe", "embedding_quality"}
    back = ad.read_h5ad(tmp_path / "ev" / "p.h5ad")
    assert set(scmf.bm.results(back)["benchmark"]) == {"linear_probe", "embedding_quality"}
    assert main([*run, "--config", str(tmp_path / "probe.yaml"), "--overwrite"]) == 0
    assert set(scmf.bm.read_json(tmp_path / "r.json")["benchmark"]) == {"linear_probe"}
    (tmp_path / "notes.json").write_text('{"mine": 1}')
    bad = [*run[:-4], "--output", str(tmp_path / "notes.json"), "--config", str(tmp_path / "probe.yaml")]
    assert main(bad) == 1 and "not a list of scmf/guide result records" in capsys.readouterr().err
    assert (tmp_path / "notes.json").read_text() == '{"mine": 1}'


@pytest.mark.slow
def test_a_failed_write_replaces_no_output(tmp_path, pbmc, capsys, monkeypatch):
    """The disk fills while the last output is written: the earlier results file is left as it
    was and no temporary remains (outputs are renamed into place together, at the end)."""
    pbmc.write_h5ad(tmp_path / "p.h5ad")
    (tmp_path / "c.yaml").write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {label_key: bulk_labels, n_splits: 2}\n"
    )
    run = ["benchmark", "--config", str(tmp_path / "c.yaml"), "--use-rep", "X_pca", "--data", str(tmp_path / "p.h5ad"),
           "--output", str(tmp_path / "r.json"), "--write-h5ad", str(tmp_path / "ev")]  # fmt: skip
    assert main(run) == 0
    before = (tmp_path / "r.json").read_text()

    def full_disk(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ad.AnnData, "write_h5ad", full_disk)
    assert main([*run, "--overwrite"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert (tmp_path / "r.json").read_text() == before
    leftovers = [
        p.name for p in (*tmp_path.iterdir(), *(tmp_path / "ev").iterdir()) if p.name.startswith(".")
    ]
    assert not leftovers
