"""scmf.bm.scib vs scib-metrics' Benchmarker: the full default metric set, same data, same neighbours.

Each side runs in a fresh subprocess (first-call compilation included for both: numba for
scmf, jax for scib-metrics), on a seeded synthetic AnnData (cells x dims embedding, 10
labels, 4 batches, expression for the pre-integration PCA). The Benchmarker receives scmf's
exact neighbour graph through its ``neighbor_computer`` hook, so both use the same
neighbour method; its per-metric times are measured by timing its metric functions the way
``Benchmarker.benchmark`` calls them. Prints wall time, peak RSS, per-metric times and
the ratio.

    python benchmarks/scib.py [--n-cells 100000] [--dims 64] [--n-genes 500]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _data(a):
    import numpy as np

    import scmf

    adata = scmf.datasets.toy(
        a.n_cells,
        a.dims,
        n_labels=10,
        n_batches=4,
        label_sep=0.5,
        batch_shift=0.25,
        n_genes=a.n_genes,
        seed=0,
    )
    adata.obsm["X_scmf"] = np.asarray(adata.obsm["X_scmf"], dtype=np.float32)
    return adata


def run_scmf(a) -> dict:
    import scmf

    adata = _data(a)
    t0 = time.perf_counter()
    scmf.bm.scib(adata, "cell_type", "batch", use_rep="X_scmf", progress=False)
    wall = time.perf_counter() - t0
    r = scmf._store.get(adata, "scib")
    return {"wall": wall, "timings": r.artifacts["timings_s"], "metrics": r.metrics}


def run_benchmarker(a) -> dict:
    import scib_metrics
    from scib_metrics.benchmark import Benchmarker

    from scmf.bm._metrics import knn

    adata = _data(a)
    timings: dict[str, float] = {}
    originals = {}
    for name in ("isolated_labels", "nmi_ari_cluster_labels_kmeans", "silhouette_label", "clisi_knn", "bras",
                 "ilisi_knn", "kbet_per_label", "graph_connectivity", "pcr_comparison"):  # fmt: skip
        originals[name] = getattr(scib_metrics, name)

        def timed(*args, _f=originals[name], _n=name, **kw):
            t = time.perf_counter()
            out = _f(*args, **kw)
            timings[_n] = time.perf_counter() - t
            return out

        setattr(scib_metrics, name, timed)

    def neighbours(X, k):
        t = time.perf_counter()
        out = knn(X, k)
        timings["neighbours"] = time.perf_counter() - t
        return out

    t0 = time.perf_counter()
    bm = Benchmarker(
        adata, batch_key="batch", label_key="cell_type", embedding_obsm_keys=["X_scmf"], progress_bar=False
    )
    t = time.perf_counter()
    bm.prepare(neighbor_computer=neighbours)
    timings["prepare (PCA + neighbours)"] = time.perf_counter() - t
    bm.benchmark()
    wall = time.perf_counter() - t0
    res = bm.get_results().drop("Metric Type")
    return {"wall": wall, "timings": timings, "metrics": {k: float(v) for k, v in res.iloc[0].items()}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-cells", type=int, default=100_000)
    p.add_argument("--dims", type=int, default=64)
    p.add_argument("--n-genes", type=int, default=500)
    p.add_argument("--only", choices=["scmf", "benchmarker"])
    a = p.parse_args()
    if a.only:
        out = run_scmf(a) if a.only == "scmf" else run_benchmarker(a)
        out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print("RESULT " + json.dumps(out))
        return
    results = {}
    for side in ("scmf", "benchmarker"):
        cmd = [sys.executable, __file__, "--only", side, "--n-cells", str(a.n_cells), "--dims", str(a.dims),
               "--n-genes", str(a.n_genes)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
        results[side] = json.loads(line[7:])
        r = results[side]
        print(f"{side}: {r['wall']:.1f} s, peak RSS {r['peak_rss_gb']:.2f} GB")
        for k, v in r["timings"].items():
            print(f"  {k:32s} {v:7.1f} s")
    ratio = results["scmf"]["wall"] / results["benchmarker"]["wall"]
    print(f"{a.n_cells} cells x {a.dims}: scmf / Benchmarker = {ratio:.3f} (target <= 0.2)")


if __name__ == "__main__":
    main()
