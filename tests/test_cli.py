from __future__ import annotations

import json

import anndata as ad

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


def test_errors_are_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("not a folder")
    assert main(["demo", "--output", str(target)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("scmf demo: error:") and "Traceback" not in err
