"""The HTML report: content read from the stored results, bad input as notes, opened in a real browser."""

from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

import scmf
from scmf import _store
from scmf.cli import main

REPS = ["X_pca_baseline", "X_random_baseline"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two evaluated files that both hold a dataset named "pbmc" (different models), one of
    which also holds a second dataset."""
    import scanpy as sc

    folder = tmp_path_factory.mktemp("report_inputs")
    a = sc.datasets.pbmc68k_reduced()
    scmf.tl.baselines(a, n_comps=20, seed=0)
    scmf.bm.linear_probe(a, "bulk_labels", use_rep=REPS, n_splits=3, dataset_name="pbmc")
    scmf.bm.embedding_quality(
        a,
        "bulk_labels",
        batch_key="phase",
        use_rep=REPS,
        dataset_name="pbmc",
        cluster_seeds=1,
        n_bootstrap=20,
    )
    scmf.bm.linear_probe(a, "louvain", use_rep=REPS, n_splits=3, dataset_name="pbmc_louvain")
    b = sc.datasets.pbmc68k_reduced()
    scmf.tl.embed(b, "pca", n_comps=10, key_added="X_pca10", seed=0)
    scmf.tl.baselines(b, ["pca"], n_comps=20, seed=0)
    scmf.bm.linear_probe(
        b, "bulk_labels", use_rep=["X_pca10", "X_pca_baseline"], n_splits=3, dataset_name="pbmc"
    )
    a.write_h5ad(folder / "model_a.h5ad")
    b.write_h5ad(folder / "model_b.h5ad")
    return folder / "model_a.h5ad", folder / "model_b.h5ad"


@pytest.fixture(scope="module")
def page(files, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    scmf.report(list(files), path, title="two models")
    return path


def _sections(html: str) -> list[tuple[str, str]]:
    return re.findall(
        r'<section class="bench" id="[^"]+" data-benchmark="([^"]+)" data-context="([^"]+)"', html
    )


def test_sections_keep_files_and_datasets_apart(page):
    html = page.read_text(encoding="utf-8")
    sections = _sections(html)
    assert sorted(sections) == sorted(
        [
            ("embedding_quality", "model_a · pbmc"),
            ("linear_probe", "model_a · pbmc"),
            ("linear_probe", "model_a · pbmc_louvain"),
            ("linear_probe", "model_b · pbmc"),
        ]
    )
    assert "<title>two models</title>" in html
    # self-contained: nothing the browser would fetch
    assert not re.search(r'(src|href)="(?!data:|#)', html)
    assert "http://" not in html and "https://" not in html.replace("https://github.com", "")


def test_summary_words_follow_compare(files, page):
    """The sentence for each representation counts what scmf.bm.compare says."""
    c = scmf.bm.compare(
        scmf.bm.collect(list(files), replicates=True), baseline="X_pca_baseline", across_sources=False
    )
    html = page.read_text(encoding="utf-8")
    for rep, g in c.groupby("rep"):
        sig = int(g["better"].sum())
        assert re.search(rf"<strong>{rep}</strong>.*?significantly on {sig}\b", html), rep


def test_numbers_and_reproducing_calls_are_the_stored_ones(files, page):
    html = page.read_text(encoding="utf-8")
    a = scmf.bm.results(_store.read_file_uns(files[0]))
    row = a[(a["benchmark"] == "linear_probe") & (a["dataset"] == "pbmc") & (a["rep"] == "X_pca_baseline")]
    for value in row["value"]:
        assert f'data-value="{float(value)!r}"' in html
    assert (
        "scmf.bm.linear_probe(adata, use_rep=[&#39;X_pca_baseline&#39;, &#39;X_random_baseline&#39;], C=1.0"
        in html
    )
    assert "dataset_name=&#39;pbmc_louvain&#39;" in html


def test_bad_inputs_become_notes(tmp_path, files, pbmc):
    """A file without results, a missing file, a truncated file, results of another scmf version and a
    benchmark this installation does not know: a report with notes, not a crash."""
    empty = tmp_path / "empty.h5ad"
    pbmc.write_h5ad(empty)
    truncated = tmp_path / "truncated.h5ad"
    data = files[1].read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    other = pbmc.copy()
    scmf.bm.linear_probe(other, "bulk_labels", use_rep="X_pca_baseline", n_splits=2, dataset_name="pbmc")
    old = next(iter(_store.iter_results(other)))
    old.provenance["scmf"] = "0.0.1"
    plugin = _store.Result("my_plugin", "pbmc", "X_pca_baseline", {"my_score": 0.25, "other": 3.0})
    plugin.metadata["warnings"] = ["my_plugin: 3 cells had no neighbours; scored without them."]
    _store.write(other, [old, plugin])
    path = scmf.report(
        {
            "empty": empty,
            "missing": tmp_path / "nope.h5ad",
            "truncated": truncated,
            "other": other,
            "a": files[0],
        },
        tmp_path / "r.html",
    )
    html = path.read_text(encoding="utf-8")
    assert "holds no scmf results" in html and str(empty) in html
    assert "nope.h5ad does not exist" in html
    assert "truncated.h5ad could not be read" in html
    assert "different scmf versions (0.0.1, " in html
    assert ("my_plugin", "other · pbmc") in _sections(html)
    assert "my_plugin is not a benchmark of this installation" in html
    assert 'data-value="0.25"' in html
    assert "raised while evaluating X_pca_baseline: my_plugin: 3 cells had no neighbours" in html


def test_no_results_at_all_still_writes_a_page(tmp_path, pbmc):
    path = scmf.report(pbmc, tmp_path / "r.html")
    html = path.read_text(encoding="utf-8")
    assert "no results to report" in html and not _sections(html)


def test_written_atomically_with_the_umask(tmp_path, files):
    old = os.umask(0o027)
    try:
        path = scmf.report(files[1], tmp_path / "r.html")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    path.write_text("earlier")
    with pytest.raises(ValueError, match="figure_format"):
        scmf.report(files[1], path, figure_format="gif")
    assert path.read_text() == "earlier" and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


@pytest.mark.slow
def test_cli_report_and_benchmark_report(tmp_path, files, pbmc, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(files[0]), str(files[1]), "--output", str(out), "--figure-format", "svg"]) == 0
    assert "data:image/svg+xml;base64," in out.read_text(encoding="utf-8")
    assert main(["report", str(files[0]), "--output", str(files[0])]) == 1
    assert "would replace the input" in capsys.readouterr().err
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(
        "eval:\n  benchmarks:\n    - name: linear_probe\n      params: {cell_type_key: bulk_labels, n_splits: 2}\n"
    )
    data = tmp_path / "pbmc.h5ad"
    pbmc.write_h5ad(data)
    code = main(["benchmark", "--config", str(cfg), "--model", "pca", "--data", str(data),
                 "--output", str(tmp_path / "out.json"), "--report", str(tmp_path / "bench.html")])  # fmt: skip
    assert code == 0
    assert ("linear_probe", "pbmc") in _sections((tmp_path / "bench.html").read_text(encoding="utf-8"))
    code = main(["benchmark", "--config", str(cfg), "--model", "pca", "--data", str(data),
                 "--output", str(tmp_path / "out2.json"), "--report", str(data)])  # fmt: skip
    assert code == 1 and "--report" in capsys.readouterr().err and not (tmp_path / "out2.json").exists()


# ---------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def browser():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync = pytest.importorskip("playwright.sync_api")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )  # fmt: skip
        yield b
        b.close()


def _open(browser, path: Path, width: int = 1200):
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


@pytest.mark.slow
def test_in_the_browser(browser, page, files):
    p, errors, requests = _open(browser, page)
    assert errors == []
    assert [u for u in requests if not u.startswith("data:")] == [page.as_uri()]  # nothing fetched
    images = p.eval_on_selector_all(
        "img",
        "els => els.map(e => [e.complete, e.naturalWidth, e.getBoundingClientRect().width, e.getBoundingClientRect().height])",
    )
    assert len(images) >= 4
    assert all(
        ok and w > 0 and bw > 0 and bh > 0 for ok, w, bw, bh in images
    )  # every figure decodes and shows
    # the numbers shown equal the stored ones, cell by cell
    a = scmf.bm.results(_store.read_file_uns(files[0]))
    section = p.locator('section[data-benchmark="linear_probe"][data-context="model_a · pbmc"] table.results')
    heads = [h.strip().split(" ")[0] for h in section.locator("thead th").all_inner_texts()]
    for row in section.locator("tbody tr").all():
        cells = row.locator("td")
        rep = cells.nth(0).inner_text().split(" ")[0]
        for j, metric in enumerate(heads[1:], start=1):
            want = a[
                (a["benchmark"] == "linear_probe")
                & (a["dataset"] == "pbmc")
                & (a["rep"] == rep)
                & (a["metric"] == metric)
            ]
            if want.empty:
                continue  # a group score of the table, not a stored metric
            shown = cells.nth(j)
            assert float(shown.get_attribute("data-value")) == float(want["value"].iloc[0])
            text = shown.inner_text().split(" ")[0]  # printed to the interval's precision
            decimals = len(text.partition(".")[2])
            assert abs(float(text) - float(want["value"].iloc[0])) <= 0.5 * 10**-decimals + 1e-12
    # sorting by clicking a header
    header = section.locator("thead th", has_text="accuracy").first
    col = heads.index("accuracy")

    def column():
        return [
            float(r.locator("td").nth(col).get_attribute("data-value"))
            for r in section.locator("tbody tr").all()
        ]

    header.click()
    assert column() == sorted(column())
    header.click()
    assert column() == sorted(column(), reverse=True)
    assert header.get_attribute("aria-sort") == "descending"
    pdf = p.pdf(format="A4")  # it prints (the print styles apply), over several pages
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) >= 2
    p.close()


@pytest.mark.slow
def test_layout_screenshot(browser, tmp_path, pbmc):
    """The top of a report of fixed results looks as it did (low resolution, tolerant).
    Regenerate after an intended change with SCMF_UPDATE_BASELINES=1."""
    from PIL import Image

    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=REPS, n_splits=3, seed=0, dataset_name="pbmc")
    path = scmf.report(pbmc, tmp_path / "r.html", title="layout")
    p, errors, _ = _open(browser, path, width=1000)
    shot = tmp_path / "shot.png"
    p.screenshot(path=str(shot), full_page=True, clip={"x": 0, "y": 0, "width": 1000, "height": 2000})
    p.close()
    assert errors == []
    got = np.asarray(Image.open(shot).convert("L").resize((125, 250)), dtype=float) / 255
    baseline = Path(__file__).parent / "pl" / "baseline" / "report_top.png"
    if os.environ.get("SCMF_UPDATE_BASELINES"):
        baseline.parent.mkdir(exist_ok=True)
        Image.fromarray((got * 255).round().astype(np.uint8)).save(baseline)
    want = np.asarray(Image.open(baseline).convert("L"), dtype=float) / 255
    assert got.shape == want.shape
    diff = np.abs(got - want)
    assert diff.mean() < 0.01, diff.mean()  # text and numbers may move a little; the layout may not
    assert (diff > 0.5).mean() < 0.01  # (the page without its styles differs by 0.066 and 0.020)


def test_comparison_chart_bars_and_marks(files, page):
    """One bar per (representation, metric) with its value in the tooltip, and a * exactly where
    scmf.bm.compare finds a significant difference from the baseline."""
    html = page.read_text(encoding="utf-8")
    block = html.split('data-benchmark="linear_probe" data-context="model_a · pbmc"')[1].split("</section>")[
        0
    ]
    chart = re.search(r'<svg class="chart".*?</svg>', block, flags=re.DOTALL).group(0)
    a = scmf.bm.results(_store.read_file_uns(files[0]))
    a = a[(a["benchmark"] == "linear_probe") & (a["dataset"] == "pbmc")]
    tips = re.findall(r"<rect [^>]*><title>([^<]+)</title></rect>", chart)
    assert len(tips) == len(a)
    for r in a.itertuples():
        assert f"{r.rep} · {r.metric}: {r.value:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}]" in tips
    c = scmf.bm.compare(files[0], baseline="X_pca_baseline", benchmark="linear_probe")
    c = c[c["dataset"] == "pbmc"]
    assert chart.count(">*</text>") == int(c["significant"].sum()) > 0


@pytest.mark.slow
def test_figures_drawn_in_worker_processes_equal_serial_ones(tmp_path, files, monkeypatch):
    from scmf._report import _figures

    html = {}
    for workers in (1, 2):
        monkeypatch.setattr(_figures, "_workers", lambda n, w=workers: w)
        path = scmf.report(files[0], tmp_path / f"r{workers}.html", max_figures=5)
        html[workers] = re.findall(r'<img src="([^"]+)"', path.read_text(encoding="utf-8"))
    assert len(html[1]) >= 8 and html[1] == html[2]


def test_rank_summary_never_merges_files_unless_asked(files):
    """Two files hold the dataset "pbmc": kept apart (the default), the page has no rank
    summary that would pool their same-named representations, and a note says why; across
    sources, each file's representation is ranked as a model of its own."""
    from scmf._report._build import render

    apart = render(list(files))
    assert 'id="ranks"' not in apart and "no rank summary: &#39;pbmc&#39; is held by several sources" in apart
    together = render(list(files), across_sources=True)
    ranked = re.search(r'<table class="sortable" id="ranks">(.*?)</table>', together, re.S).group(1)
    names = re.findall(r'<td class="name">([^<]+?)\s*(?:<span|</td>)', ranked)
    assert "model_a · X_pca_baseline" in names and "model_b · X_pca_baseline" in names
    assert "X_pca_baseline" not in names


def test_perturbation_sections_say_whether_they_measure_encoding_or_prediction(tmp_path):
    adata = scmf.datasets.toy_perturbation(n_perturbations=12, target_genes=True, seed=0)
    scmf.tl.baselines(adata, n_comps=8)
    scmf.bm.perturbation(adata, use_rep="X_pca_baseline")
    scmf.bm.perturbation_response(adata, use_rep="X_pca_baseline", splits=("random",))
    html = scmf.report(adata, tmp_path / "r.html").read_text()
    enc = html.index('data-benchmark="perturbation"')
    pred = html.index('data-benchmark="perturbation_response"')
    assert "<b>Measures encoding</b>" in html[enc : enc + 3000]
    assert "<b>Measures prediction</b>" in html[pred : pred + 3000]
    assert "never from its own cells" in html
