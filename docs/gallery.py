"""Draw the plot gallery of docs/plots.md (the same figures the image tests compare).

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


def main() -> None:
    out = ROOT / "docs" / "_static" / "gallery"
    out.mkdir(parents=True, exist_ok=True)
    evaluated = test_plots.evaluated.__wrapped__(_Tmp(), Path(os.environ["SCMF_DATA_DIR"]))
    for name, draw in test_plots.CASES.items():
        fig = draw(evaluated)
        fig.savefig(out / f"{name}.png", dpi=80)
        plt.close(fig)
        print("wrote", out / f"{name}.png")


if __name__ == "__main__":
    main()
