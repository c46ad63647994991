"""scmf's warnings point at the user's line, whichever route the call took."""

from __future__ import annotations

import warnings

import numpy as np

import scmf
from scmf import ScmfWarning


def _caught(fn):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fn()
    mine = [x for x in w if issubclass(x.category, ScmfWarning)]
    assert mine, "no ScmfWarning raised"
    return mine


def test_warnings_point_at_the_callers_line(pbmc, tmp_path):
    pbmc.obs["label"] = pbmc.obs["bulk_labels"].astype(object)
    pbmc.obs.loc[pbmc.obs_names[:5], "label"] = np.nan  # missing labels: a documented, warned fallback
    kw = {"use_rep": "X_pca_baseline", "n_splits": 2}
    routes = {
        "direct": lambda: scmf.bm.linear_probe(pbmc, "label", **kw),
        "guide object": lambda: scmf.bm.get_benchmark("linear_probe", cell_type_key="label", n_splits=2).run(
            "X_pca_baseline", pbmc, "pbmc"
        ),
        "evaluate": lambda: scmf.bm.evaluate(
            {"pbmc": pbmc},
            [{"name": "linear_probe", "params": {"cell_type_key": "label", "n_splits": 2}}],
            use_rep="X_pca_baseline",
            progress=False,
        ),
    }
    for route, call in routes.items():
        for w in _caught(call):
            assert w.filename == __file__, f"{route}: the warning points at {w.filename}:{w.lineno}"


def test_cli_warnings_are_the_commands_own_lines(pbmc, tmp_path, capsys):
    from scmf.cli import main

    pbmc.obs["label"] = pbmc.obs["bulk_labels"].astype(object)
    pbmc.obs.loc[pbmc.obs_names[:5], "label"] = np.nan
    path = tmp_path / "pbmc.h5ad"
    pbmc.write_h5ad(path)
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: label, n_splits: 2}\n"
    )
    args = ["benchmark", "--config", str(cfg), "--use-rep", "X_pca_baseline", "--data", str(path)]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main([*args, "--output", str(tmp_path / "out.json")]) == 0
    err = capsys.readouterr().err.splitlines()
    said = [line for line in err if "warning:" in line]
    assert said and all(line.startswith("scmf benchmark: warning: ") for line in said), err  # no source path
