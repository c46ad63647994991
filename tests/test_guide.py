"""The evaluation guide's Python examples run in scmf with only their imports changed.

The guide is read from the shared spec folder next to the data (skipped where absent); the
import replacements are read from docs/migration.md, so the page and this test cannot drift
apart. Each example runs on CPU on Kang cells, in the order of the guide, in one namespace
(later examples use names earlier ones defined, as a reader of the guide would).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

import scmf

DOCS = Path(__file__).parents[1] / "docs"
LINE = re.compile(r"^(\s*)(\S.*)$")
SUMMARY = re.compile(r"^\[(\w+)\] (\w+): (\w+=(-?\d+\.\d{4}|nan)(, )?)+$")


@pytest.fixture
def guide(data_dir) -> str:
    env = os.environ.get("SCMF_GUIDE")
    p = Path(env) if env else data_dir.resolve().parent / "spec" / "evaluation-guide.md"
    if not p.is_file():
        pytest.skip(f"the evaluation guide is not available here ({p})")
    return p.read_text(encoding="utf-8")


def _import_map() -> dict[str, str]:
    rows = re.findall(
        r"^\|\s*`(from scmodelforge[^`]*)`\s*\|\s*`([^`]*)`\s*\|", (DOCS / "migration.md").read_text(), re.M
    )
    assert rows, "docs/migration.md has no import table"
    return dict(rows)


def _blocks(text: str, lang: str) -> list[str]:
    return [b for lg, b in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S) if lg == lang]


def _translate(code: str, imports: dict[str, str]) -> str:
    out = []
    for line in code.splitlines():
        stripped = line.strip()
        if "scmodelforge" in stripped:
            assert stripped in imports, f"docs/migration.md does not map {stripped!r}"
            line = line.replace(stripped, imports[stripped])
        out.append(line.replace('device="cuda"', 'device="cpu"'))
    return "\n".join(out)


@pytest.fixture
def guide_workspace(guide, tmp_path, kang, gf_vocab, monkeypatch):
    """The files the guide's examples name: a checkpoint with its vocabulary, data files, a config."""
    import torch

    from scmf.models import ReferenceConfig, ReferenceModel, save_reference

    torch.manual_seed(0)
    cfg = ReferenceConfig(vocab_size=len(gf_vocab), d_model=16, n_layers=1, n_heads=2, d_ff=32, max_len=2048)
    save_reference(ReferenceModel(cfg), gf_vocab, tmp_path / "checkpoints" / "my_model")
    cells = kang[::12].copy()  # ~170 cells of 8 types, IFN-stimulated or not
    cells.obs["batch"] = cells.obs["condition"].astype(str)
    # the guide's files hold counts: undo Kang's log-normalisation (to 1e4) with each cell's total
    counts = cells.X.copy()
    counts.data = np.rint(
        np.expm1(counts.data) * np.repeat(cells.obs["n_counts"].to_numpy() / 1e4, np.diff(counts.indptr))
    )
    counts.eliminate_zeros()
    cells.X = counts
    for name in ("eval_dataset.h5ad", "my_data.h5ad"):
        cells.write_h5ad(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    import matplotlib

    matplotlib.use("agg")
    return cells


def test_migration_page_maps_every_guide_import(guide):
    text = guide
    imports = _import_map()
    used = {ln.strip() for b in _blocks(text, "python") for ln in b.splitlines() if "scmodelforge" in ln}
    assert used and used <= set(imports), sorted(used - set(imports))


@pytest.mark.slow
def test_every_python_example_of_the_guide_runs(guide, guide_workspace, capsys):
    text = guide
    imports = _import_map()
    blocks = _blocks(text, "python")
    yamls = _blocks(text, "yaml")
    Path("eval_config.yaml").write_text(yamls[0])  # the guide's first eval: block
    cells = guide_workspace
    ns: dict = {"__name__": "__guide__"}
    printed: list[str] = []
    for i, block in enumerate(blocks):
        code = _translate(block, imports)
        # names a guide example uses without defining, as its surrounding text sets them up
        if "embeddings" in code and "embeddings =" not in code and "embeddings" not in ns:
            ns["embeddings"] = scmf.tl.extract_embeddings(ns["model"], ns["adata"], ns["tokenizer"])
        if re.search(r"^result = benchmark\.run", code, re.M) and "get_benchmark" not in code:
            ns["benchmark"] = ns["get_benchmark"](
                "embedding_quality", cell_type_key="cell_type", batch_key="batch"
            )
        if "adata_train" in code:
            ns.update(
                adata_train=cells[:80].copy(), adata_test=cells[80:].copy(), adata_external=cells.copy()
            )
        exec(compile(code, f"evaluation-guide example {i + 1}", "exec"), ns)
        printed += capsys.readouterr().out.splitlines()

    # what the examples printed has the guide's shape
    summaries = [ln for ln in printed if ln.startswith("[")]
    assert summaries and all(SUMMARY.match(s) for s in summaries), summaries
    assert any(s.startswith("[linear_probe] my_dataset: accuracy=") for s in summaries)
    assert any(s.startswith("[embedding_quality] pbmc_batched: ari=") for s in summaries)
    assert any(ln.startswith("Accuracy: ") for ln in printed)
    assert f"Number of cells: {cells.n_obs}" in printed
    # the JSON the last example wrote is the guide's record, readable by scmf
    table = scmf.bm.read_json("benchmark_results.json")
    assert set(table["dataset"]) == {"train", "test", "external"}
    assert set(table["benchmark"]) == {"linear_probe", "embedding_quality"}
    # the guide's API gives the scanpy-style numbers
    adata = ns["adata"]
    check = adata.copy()
    check.obsm["X_check"] = ns["embeddings"]
    scmf.bm.linear_probe(
        check, "cell_type", use_rep="X_check", test_size=0.2, seed=42, dataset_name="my_data"
    )
    want = scmf.bm.results(check).set_index("metric")["value"]
    got = ns["result"].metrics
    assert got["accuracy"] == pytest.approx(want["accuracy"]) and got["f1_macro"] == pytest.approx(
        want["f1_macro"]
    )
    assert np.allclose(ns["embeddings"], scmf.tl.extract_embeddings(ns["model"], adata, ns["tokenizer"]))
