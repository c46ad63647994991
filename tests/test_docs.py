"""The quick start and the tutorials run as written (their python blocks, in order)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("agg")
DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = [
    "../README.md",
    "quickstart.md",
    "statistics.md",
    "scale.md",
    "report.md",
    *sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "tutorials").glob("*.md")),
]


#: warnings a page shows on purpose (the text explains them); every other page runs without one
EXPECTED_WARNINGS = {
    "tutorials/baselines.md": "query cells have types the reference lacks",
    "tutorials/perturbation.md": "target genes that are not in var_names",
}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.slow
def test_page_runs(page, data_dir, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("SCMF_DATA_DIR", str(data_dir.resolve()))
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.DOTALL)
    assert blocks, f"{page} has no python block"
    namespace: dict = {"__name__": "__docs__"}
    import contextlib

    import scmf

    expected = EXPECTED_WARNINGS.get(page)
    with pytest.warns(scmf.ScmfWarning, match=expected) if expected else contextlib.nullcontext():
        for code in blocks:
            exec(compile(code, f"{page}", "exec"), namespace)
    plt.close("all")


@pytest.mark.slow
def test_sphinx_builds_without_warnings(tmp_path):
    """The documentation site (myst pages + API reference from docstrings) builds with -W."""
    import subprocess
    import sys

    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    pytest.importorskip("sphinx_book_theme")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "html" / "generated" / "scmf.bm.linear_probe.html").exists()


def test_every_public_function_has_examples():
    import inspect

    import scmf

    missing = []
    for mod in (scmf.tl, scmf.bm, scmf.pl, scmf.models, scmf.datasets):
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isfunction(obj) and "Examples\n" not in (inspect.getdoc(obj) or ""):
                missing.append(f"{mod.__name__}.{name}")
    assert not missing, f"public functions without an Examples section: {missing}"


def test_custom_benchmark_example_runs_and_stores(capsys):
    """The custom-benchmark example of docs/running.md runs as written and goes through the runner."""
    import inspect

    text = (DOCS / "running.md").read_text()
    section = text[text.index("## Your own benchmark") :]
    code = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    lines = code.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("@scmf.bm.benchmark("))
    stop = next(i for i, line in enumerate(lines) if line.startswith("    return Prepared("))
    assert stop - start + 1 <= 35  # the benchmark's own code, decorator to return
    namespace: dict = {"__name__": "__docs__"}
    exec(compile(code, "running.md", "exec"), namespace)
    import scmf

    adata = namespace["adata"]
    r = scmf.bm.results(adata).set_index("rep")
    assert r.loc["X_pca_baseline", "value"] > r.loc["X_random_baseline", "value"]
    assert (
        r.loc["X_random_baseline", "ci_high"]
        < r.loc["X_pca_baseline", "ci_low"]
        < r.loc["X_pca_baseline", "ci_high"]
    )
    assert "centroid_margin" in scmf.bm.benchmarks()
    assert "margin" in capsys.readouterr().out
    # the runner added the shared parameters to the signature and the docs, and the alias
    run = namespace["centroid_margin"]
    assert {"use_rep", "dataset_name", "inplace", "key_added"} <= set(inspect.signature(run).parameters)
    assert "\nuse_rep\n" in run.__doc__ and "label_key" in scmf.bm.benchmarks()["centroid_margin"].params


def test_readme_summary_fits_80_columns(capsys, data_dir, tmp_path, monkeypatch):
    """What the README quick start prints is readable in an 80-column terminal."""
    monkeypatch.chdir(tmp_path)
    code = re.search(r"```python\n(.*?)```", (DOCS / "../README.md").read_text(), flags=re.DOTALL).group(1)
    exec(compile(code, "README.md", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert out.strip()
    assert max(len(line) for line in out.splitlines()) <= 80, out


def test_api_page_lists_every_public_name():
    """docs/api.md names every public function and class of every room, and nothing that is gone."""
    import scmf

    api = (DOCS / "api.md").read_text()
    listed = set(re.findall(r"^\s+([a-z]+\.[A-Za-z0-9_]+)\s*$", api, re.M))
    missing, gone = [], []
    for room in ("tl", "bm", "pl", "models", "datasets", "callbacks"):
        mod = getattr(scmf, room)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if (callable(obj) or isinstance(obj, type)) and f"{room}.{name}" not in listed:
                missing.append(f"{room}.{name}")
        gone += [x for x in listed if x.startswith(room + ".") and x.split(".", 1)[1] not in mod.__all__]
    assert not missing, f"public names missing from docs/api.md: {missing}"
    assert not gone, f"docs/api.md lists names that are not public: {gone}"


def test_new_format_example_runs(tmp_path, monkeypatch, capsys):
    """The models page's "Adding a checkpoint format" example: one module, one registration line."""
    import scmf

    monkeypatch.chdir(tmp_path)
    text = (DOCS / "models.md").read_text()
    section = text[text.index("## Adding a checkpoint format") :]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    try:
        exec(compile(code, "models.md", "exec"), {"__name__": "__docs__"})
        assert capsys.readouterr().out.strip() == "(700, 16) projection"
        assert "projection" in scmf.models.formats()
    finally:
        scmf.models._load._FORMATS.pop("projection", None)


def test_random_release_example_prints_what_the_page_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (DOCS / "models.md").read_text()
    section = text[
        text.index("## Trying a pipeline before the download") : text.index("## Adding a checkpoint format")
    ]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    exec(compile(code, "models.md", "exec"), {"__name__": "__docs__"})
    printed = re.search(r"This prints `(.*?)`", section).group(1)
    assert capsys.readouterr().out.strip() == printed


def test_gene_representations_example_prints_what_the_page_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (DOCS / "models.md").read_text()
    section = text[text.index("## Gene representations") : text.index("## Adding a checkpoint format")]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    exec(compile(code, "models.md", "exec"), {"__name__": "__docs__"})
    printed = re.search(r"This prints `(.*?)`", section).group(1)
    assert capsys.readouterr().out.strip() == printed
