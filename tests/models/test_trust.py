"""No code from a model folder runs without the user's consent; its YAML is type-checked; data text never reaches a terminal raw."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
import yaml

import scmf
from scmf.models import UntrustedModelError

MARK = "ran.txt"


def _folder(tmp_path, **spec):
    d = tmp_path / "sent_to_me"
    d.mkdir()
    (d / "scmf_external.yaml").write_text(yaml.safe_dump(spec))
    return d


def _hostile(tmp_path):
    marker = tmp_path / MARK
    cmd = [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('pwned')"]
    return _folder(
        tmp_path, name="hostile", environment=sys.executable, command=cmd, input_scale="any"
    ), marker


@pytest.fixture(autouse=True)
def _nothing_trusted(monkeypatch, tmp_path):
    monkeypatch.delenv("SCMF_TRUSTED_MODELS", raising=False)
    monkeypatch.setenv("SCMF_ENV_DIR", str(tmp_path / "envs"))


def test_a_folders_command_does_not_run_without_consent(tmp_path, pbmc):
    d, marker = _hostile(tmp_path)
    for attempt in (
        lambda: scmf.models.load(d),
        lambda: scmf.tl.embed(pbmc, d),
        lambda: scmf.bm.evaluate(pbmc, [{"name": "linear_probe"}], model=d, progress=False),
    ):
        with pytest.raises(UntrustedModelError) as e:
            attempt()
        assert "its own command" in str(e.value) and "open(" in str(e.value)  # what would run is shown
        assert "trust=True" in str(e.value) and "SCMF_TRUSTED_MODELS" in str(e.value)
        assert not marker.exists()
    assert "X_scmf" not in pbmc.obsm


def test_consent_by_parameter_or_trusted_list(tmp_path, monkeypatch):
    d, marker = _hostile(tmp_path)
    scmf.models.load(d, trust=True)  # loading checks and resolves; the command runs when cells are embedded
    assert not marker.exists()
    monkeypatch.setenv("SCMF_TRUSTED_MODELS", str(tmp_path))
    assert scmf.models.trusted_folder(d)
    scmf.models.load(d)
    monkeypatch.setenv("SCMF_TRUSTED_MODELS", str(tmp_path / "elsewhere"))
    assert not scmf.models.trusted_folder(d)
    with pytest.raises(UntrustedModelError):
        scmf.models.load(d)


def test_cli_refuses_then_runs_with_trust_model(tmp_path, pbmc, capsys):
    from scmf.cli import main

    d, marker = _hostile(tmp_path)
    data = tmp_path / "cells.h5ad"
    pbmc.write_h5ad(data)
    config = tmp_path / "eval.yaml"
    config.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: bulk_labels}\n"
    )
    run = ["benchmark", "--config", str(config), "--model", str(d), "--data", str(data)]
    rc = main([*run, "--output", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert rc != 0 and "would make scmf run code of its own" in err and "--trust-model" in err
    assert not marker.exists() and not (tmp_path / "r.json").exists()
    main([*run, "--output", str(tmp_path / "r2.json"), "--trust-model"])
    assert marker.exists()  # consent given: the folder's command ran (it wrote no embedding, so that failed)
    rc = main(["benchmark", "--config", str(config), "--model", "pca", "--data", str(data), "--output",
               str(tmp_path / "p.json"), "--trust-model"])  # fmt: skip
    assert rc != 0 and "--trust-model is for a --model folder" in capsys.readouterr().err


def test_requirements_are_never_installed_without_consent(tmp_path):
    d = _folder(tmp_path, recipe="stack", environment={"requirements": ["./evil_local_package"]})
    with pytest.raises(
        UntrustedModelError, match=r"pip install into a new environment: \./evil_local_package"
    ):
        scmf.models.load(d)
    assert not (tmp_path / "envs").exists()  # no environment was even started
    d2 = tmp_path / "two"
    d2.mkdir()
    (d2 / "scmf_external.yaml").write_text("recipe: stack\nenvironment:\n  requirements: numpy\n")
    with pytest.raises(TypeError, match="must be a list of pip requirement strings"):
        scmf.models.load(d2, trust=True)  # a bare string is refused, never split into letters
    with pytest.raises(TypeError, match="list of pip requirement strings"):
        scmf.models.create_environment("numpy")
    d3 = _folder(tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path, recipe="stack",
                 environment={"root": str(tmp_path / "planted")})  # fmt: skip
    with pytest.raises(UntrustedModelError, match="a new environment written under"):
        scmf.models.load(d3)  # the folder does not choose where scmf writes
    assert not (tmp_path / "envs").exists()


def test_an_interpreter_named_by_the_folder_needs_consent_a_callers_does_not(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho pwned\n")
    d = _folder(
        tmp_path, recipe="stack", environment=str(fake), files={"checkpoint": "c.ckpt", "genelist": "g.pkl"}
    )
    (d / "c.ckpt").write_bytes(b"")
    (d / "g.pkl").write_bytes(b"")
    with pytest.raises(UntrustedModelError, match="the interpreter of its environment"):
        scmf.models.load(d)
    # a built-in recipe with the caller's own environment: scmf ships the command, nothing of the folder runs
    model = scmf.models.load(d, environment=sys.executable)
    assert model.recipe.name == "stack" and str(model.env.python) == sys.executable


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("command", "sh -c 'rm -rf ~'", "command must be a non-empty list of strings"),
        ("command", [], "command must be a non-empty list"),
        ("timeout", "10", "timeout must be a positive number"),
        ("threads", -2, "threads must be a positive integer"),
        ("files", {"checkpoint": 3}, "files must be a mapping of names to paths"),
        ("output", "pickle", "output must be 'npy' or 'h5ad'"),
        ("environment", ["python"], "environment must be an interpreter"),
        ("options", ["a"], "options must be a mapping"),
    ],
)
def test_every_yaml_field_is_type_checked(tmp_path, field, value, match):
    spec = {"name": "m", "environment": sys.executable, "command": ["{python}", "x.py"], field: value}
    d = _folder(tmp_path, **spec)
    with pytest.raises(TypeError, match=match):
        scmf.models.load(d, trust=True)


def test_terminal_escapes_from_the_data_are_written_out(pbmc, capsys):
    from scmf._warnings import printable

    evil = "B cell\x1b]0;owned\x07\x1b[2J\rall tests passed"
    assert "\x1b" not in printable(evil) and "\r" not in printable(evil) and "\\x1b" in printable(evil)
    a = pbmc.copy()
    labels = a.obs["bulk_labels"].astype(str).to_numpy().copy()
    labels[:1] = evil  # a class of one cell: dropped with a warning that names it
    a.obs["bulk_labels"] = labels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scmf.bm.linear_probe(a, "bulk_labels", use_rep="X_pca", n_splits=2)
    said = [str(w.message) for w in caught]
    assert any("\\x1b]0;owned" in m for m in said)
    assert not any("\x1b" in m or "\x07" in m or "\r" in m for m in said)
    assert np.isfinite(scmf.bm.results(a)["value"]).all()
