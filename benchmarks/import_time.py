"""Time of ``import scmf`` in a fresh interpreter, against ``import pandas`` (its floor)."""

from __future__ import annotations

import subprocess
import sys
import time


def cold(stmt: str, n: int = 5) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], check=True)
        best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    base = cold("pass")
    pd = cold("import pandas") - base
    sc = cold("import scmf") - base
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, scmf; print([m for m in ('torch','jax','scanpy','numba') if m in sys.modules])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(
        f"import pandas {pd:.3f} s, import scmf {sc:.3f} s (ratio {sc / pd:.2f}); heavy modules loaded: {heavy}"
    )
