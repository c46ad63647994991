"""Draw the plot gallery of docs/plots.md (the same figures the image tests compare), and the
screenshot of docs/report.md (its python block run, the page shot in headless Chromium).

SCMF_DATA_DIR=../shared/data python docs/gallery.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "pl"))
import test_plots  # noqa: E402


class _Tmp:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp())

    def mktemp(self, name: str) -> Path:
        p = self.root / name
        p.mkdir()
        return p


#: tutorial pages whose own figures are drawn, and the names of those figures in drawing order
TUTORIALS = {
    "cell_types.md": [
        "kang_results_table",
        "kang_confusion_matrix",
        "kang_embedding_quality",
        "kang_embedding",
    ],
    "baselines.md": ["baselines_label_efficiency"],
}


def tutorial_figures(page: str, names: list[str], out: Path) -> None:
    """Run a tutorial page's python blocks as written and save the figures it draws."""
    import re

    plt.close("all")
    text = (ROOT / "docs" / "tutorials" / page).read_text()
    namespace: dict = {"__name__": "__docs__"}
    cwd = os.getcwd()
    os.chdir(tempfile.mkdtemp())
    try:
        for code in re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL):
            exec(compile(code, page, "exec"), namespace)
    finally:
        os.chdir(cwd)
    figs = [plt.figure(n) for n in plt.get_fignums()]
    if len(figs) != len(names):
        msg = f"{page} drew {len(figs)} figures; TUTORIALS names {len(names)}."
        raise RuntimeError(msg)
    for name, fig in zip(names, figs, strict=True):
        fig.savefig(out / f"{name}.png", dpi=80, bbox_inches="tight")
        print("wrote", out / f"{name}.png")
    plt.close("all")


def report_screenshot(out: Path) -> None:
    """Run docs/report.md's python block and save the top of its page as the page shows it."""
    import re
    import shutil

    from PIL import Image
    from playwright.sync_api import sync_playwright

    code = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "report.md").read_text(), flags=re.DOTALL)
    cwd = os.getcwd()
    os.chdir(tempfile.mkdtemp())
    try:
        for block in code:
            exec(compile(block, "report.md", "exec"), {"__name__": "__docs__"})
        page = Path("report.html").resolve()
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=shutil.which("chromium"),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
            )
            tab = browser.new_page(viewport={"width": 1200, "height": 1500})
            tab.goto(page.as_uri())
            tab.screenshot(path="shot.png", clip={"x": 0, "y": 0, "width": 1200, "height": 1500})
            browser.close()
        shot = Image.open("shot.png").resize((720, 900), Image.LANCZOS)
        shot.convert("P", palette=Image.ADAPTIVE, colors=128).save(out / "report.png", optimize=True)
        print("wrote", out / "report.png")
    finally:
        os.chdir(cwd)


def main() -> None:
    report_screenshot(ROOT / "docs" / "_static")
    out = ROOT / "docs" / "_static" / "gallery"
    out.mkdir(parents=True, exist_ok=True)
    for page, names in TUTORIALS.items():
        tutorial_figures(page, names, out)
    evaluated = test_plots.evaluated.__wrapped__(_Tmp(), Path(os.environ["SCMF_DATA_DIR"]))
    for name, draw in test_plots.CASES.items():
        fig = draw(evaluated)
        fig.savefig(out / f"{name}.png", dpi=80)
        plt.close(fig)
        print("wrote", out / f"{name}.png")


if __name__ == "__main__":
    main()
