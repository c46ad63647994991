"""scmf.bm.scib at atlas scale: the approximate path at 1,000,000 cells, and its agreement with the exact path.

    python benchmarks/scib_atlas.py time [--n-cells 1000000]          # approximate, default metric set
    python benchmarks/scib_atlas.py agree [--n-cells 200000] [--batch-shift 0.15]   # exact vs approximate, three representations

Data: ``scmf.datasets.toy`` with 64 dims, 20 labels, 8 batches (overlapping labels,
batch shifts), float32; the unintegrated reference for PCR is the same embedding with the
batch shifts left in. Three representations for ``agree``: the embedding, the embedding
with extra noise, and a random one. Every run is a fresh process (compilation included);
peak memory counts this process and its workers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _data(n: int, reps=("X_scmf", "X_noisy", "X_random"), batch_shift: float = 0.5):
    import numpy as np

    import scmf

    adata = scmf.datasets.toy(
        n, 64, n_labels=20, n_batches=8, label_sep=1.0, batch_shift=batch_shift, n_genes=0, seed=0
    )
    X = np.asarray(adata.obsm["X_scmf"], dtype=np.float32)
    rng = np.random.default_rng(1)
    codes = adata.obs["batch"].cat.codes.to_numpy()
    shift = rng.normal(0, 1.0, (codes.max() + 1, X.shape[1])).astype(np.float32)
    adata.obsm["X_scmf"] = X
    adata.obsm["X_pre"] = X + shift[codes]
    if "X_noisy" in reps:
        adata.obsm["X_noisy"] = X + rng.normal(0, 1.5, X.shape).astype(np.float32)
    if "X_random" in reps:
        adata.obsm["X_random"] = rng.normal(0, 1.0, X.shape).astype(np.float32)
    return adata


def one(mode: str, n: int, approximate: bool, reps: list[str], batch_shift: float = 0.5) -> dict:
    from _memory import TreePeak

    import scmf

    adata = _data(n, reps, batch_shift)
    with TreePeak() as peak:
        t0 = time.perf_counter()
        scmf.bm.scib(
            adata,
            "cell_type",
            "batch",
            use_rep=reps,
            pre_integrated="X_pre",
            approximate=approximate,
            progress=False,
        )
        wall = time.perf_counter() - t0
    out = {"wall": wall, "peak_gb": peak.peak_gb, "reps": {}}
    for rep in reps:
        r = scmf._store.get(adata, "scib", rep=rep)
        out["reps"][rep] = {"metrics": r.metrics, "timings": r.artifacts["timings_s"], "meta": {
            k: v for k, v in r.metadata.items() if k.endswith("_se")
        }}  # fmt: skip
    return out


def _fresh(mode: str, n: int, approximate: bool, reps: list[str], batch_shift: float = 0.5) -> dict:
    cmd = [sys.executable, __file__, "_one", "--n-cells", str(n), "--approximate", str(approximate),
           "--batch-shift", str(batch_shift), "--reps", *reps]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["time", "agree", "_one"])
    p.add_argument("--n-cells", type=int, default=None)
    p.add_argument("--approximate", default="True")
    p.add_argument("--reps", nargs="*", default=["X_scmf"])
    p.add_argument("--batch-shift", type=float, default=0.5)
    a = p.parse_args()
    if a.what == "_one":
        print(
            json.dumps(one("_one", a.n_cells, a.approximate == "True", a.reps, a.batch_shift), default=float)
        )
        return
    if a.what == "time":
        n = a.n_cells or 1_000_000
        r = _fresh("time", n, True, ["X_scmf"])
        print(f"scib, approximate, {n:,} cells x 64 dims, 20 labels, 8 batches, default metrics:")
        print(
            f"  {r['wall']:.1f} s end to end (fresh process, compilation included), peak {r['peak_gb']:.2f} GB"
        )
        for k, v in r["reps"]["X_scmf"]["timings"].items():
            print(f"    {k}: {v:.1f} s")
        print("  metrics:", {k: round(v, 4) for k, v in r["reps"]["X_scmf"]["metrics"].items()})
        return
    n = a.n_cells or 200_000
    reps = ["X_scmf", "X_noisy", "X_random"]
    exact = _fresh("agree", n, False, reps, a.batch_shift)
    approx = _fresh("agree", n, True, reps, a.batch_shift)
    print(
        f"{n:,} cells: exact {exact['wall']:.1f} s ({exact['peak_gb']:.2f} GB), approximate {approx['wall']:.1f} s ({approx['peak_gb']:.2f} GB)"
    )
    names = list(exact["reps"]["X_scmf"]["metrics"])
    print("metric | " + " | ".join(f"{r} exact / approx / diff" for r in reps))
    worst = 0.0
    for m in names:
        cells = []
        for r in reps:
            e, x = exact["reps"][r]["metrics"][m], approx["reps"][r]["metrics"][m]
            worst = max(worst, abs(e - x)) if m not in ("bio", "batch", "total") else worst
            cells.append(f"{e:.4f} / {x:.4f} / {x - e:+.4f}")
        print(f"{m} | " + " | ".join(cells))
    order = {
        k: sorted(reps, key=lambda r: -d["reps"][r]["metrics"]["total"])
        for k, d in (("exact", exact), ("approximate", approx))
    }
    print("ranking by total:", order, "same" if order["exact"] == order["approximate"] else "DIFFERENT")
    print(f"largest |difference| over metrics: {worst:.4f}")
    print("standard errors (approximate):", {r: approx["reps"][r]["meta"] for r in reps})
    print("KMeans seed spread (scikit-learn Lloyd, seeds 0-4, same k and settings):")
    print("  ", kmeans_spread(n, a.batch_shift))


def kmeans_spread(n: int, batch_shift: float) -> dict:
    """The range of KMeans NMI/ARI over five seeds per representation: the yardstick for the KMeans metrics."""
    from scmf.bm._scib import _kmeans_nmi_ari

    adata = _data(n, batch_shift=batch_shift)
    y = adata.obs["cell_type"].cat.codes.to_numpy()
    out = {}
    for rep in ("X_scmf", "X_noisy", "X_random"):
        runs = [_kmeans_nmi_ari(adata.obsm[rep], y, seed) for seed in range(5)]
        out[rep] = {
            k: (round(min(r[k] for r in runs), 4), round(max(r[k] for r in runs), 4)) for k in ("nmi", "ari")
        }
    return out


if __name__ == "__main__":
    main()
