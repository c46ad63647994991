"""embedding_quality vs scib-metrics' Benchmarker on the same data.

Each side runs in a fresh subprocess, so both pay their own first-call compilation (numba
for pynndescent and umap's fuzzy set, jax for the Benchmarker). The Benchmarker is configured
as close to scmf's metric set as it allows: Leiden NMI/ARI, silhouette_label, its batch
metric (BRAS in scib-metrics >= 0.5.6), graph connectivity; everything else off, its own
(pynndescent) neighbours.

    python benchmarks/embedding_quality.py [--n-cells 100000] [--dims 64]
    python benchmarks/embedding_quality.py --n-cells 200000 --labels 20 --batches 8 --approximate true
    python benchmarks/embedding_quality.py --n-cells 1000000 --labels 20 --batches 8 --skip-reference

Above 200,000 cells ``embedding_quality`` runs its approximate path (``approximate="auto"``);
``--approximate true|false`` forces either. Peak memory is this process's and, with its
worker processes, the sum (``_memory.TreePeak``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from _memory import TreePeak


def _data(a):
    import scmf

    return scmf.datasets.toy(a.n_cells, a.dims, n_labels=a.labels, n_batches=a.batches, seed=0)


def run_scmf(a) -> dict:
    import scmf

    adata = _data(a)
    approximate = {"auto": "auto", "true": True, "false": False}[a.approximate]
    t0 = time.perf_counter()
    with TreePeak() as mem:
        scmf.bm.embedding_quality(
            adata, "cell_type", batch_key="batch", use_rep="X_scmf", approximate=approximate
        )
    seconds = time.perf_counter() - t0
    r = scmf._store.get(adata, "embedding_quality")
    return {
        "seconds": seconds,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "tree_peak_gb": mem.peak_gb,
        "approximate": r.params["approximate"],
        "se": {k: v for k, v in r.metadata.items() if k.endswith("_se")},
        "timings": r.artifacts["timings_s"],
        "metrics": r.metrics,
    }


def run_benchmarker(a) -> dict:
    from scib_metrics.benchmark import BatchCorrection, Benchmarker, BioConservation

    adata = _data(a)
    bio = BioConservation(
        isolated_labels=False,
        nmi_ari_cluster_labels_leiden=True,
        nmi_ari_cluster_labels_kmeans=False,
        silhouette_label=True,
        clisi_knn=False,
    )
    batch = BatchCorrection(
        ilisi_knn=False, kbet_per_label=False, graph_connectivity=True, pcr_comparison=False
    )
    adata.obsm["X_pre"] = adata.obsm["X_scmf"]
    t0 = time.perf_counter()
    bm = Benchmarker(
        adata,
        batch_key="batch",
        label_key="cell_type",
        embedding_obsm_keys=["X_scmf"],
        bio_conservation_metrics=bio,
        batch_correction_metrics=batch,
        pre_integrated_embedding_obsm_key="X_pre",
        n_jobs=2,
        progress_bar=False,
    )
    bm.benchmark()
    seconds = time.perf_counter() - t0
    table = bm.get_results(min_max_scale=False)
    return {
        "seconds": seconds,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "table": {k: str(v) for k, v in table.loc["X_scmf"].items()},
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-cells", type=int, default=100_000)
    p.add_argument("--dims", type=int, default=64)
    p.add_argument("--labels", type=int, default=10)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--approximate", choices=["auto", "true", "false"], default="auto")
    p.add_argument("--skip-reference", action="store_true")
    p.add_argument("--side", choices=["scmf", "benchmarker"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.side:
        out = run_scmf(a) if a.side == "scmf" else run_benchmarker(a)
        print("RESULT " + json.dumps(out))
        return

    results = {}
    for side in ["scmf"] + ([] if a.skip_reference else ["benchmarker"]):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--side", side]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        results[side] = json.loads(line[7:])
    s = results["scmf"]
    print(
        f"scmf embedding_quality on {a.n_cells:,} cells (approximate={s['approximate']}): {s['seconds']:.1f} s, "
        f"peak RSS {s['peak_gb']:.2f} GB (this process), {s['tree_peak_gb']:.2f} GB (with its workers, summed)"
    )
    print("  standard errors:", {k: round(v, 6) for k, v in s["se"].items()})
    for step, sec in s["timings"].items():
        print(f"  {step:36s} {sec:7.1f} s")
    print("  metrics:", {k: round(v, 4) for k, v in s["metrics"].items()})
    if a.skip_reference:
        return
    b = results["benchmarker"]
    print(f"scib-metrics Benchmarker: {b['seconds']:.1f} s, peak RSS {b['peak_gb']:.2f} GB")
    print("  " + ", ".join(f"{k}: {v[:6]}" for k, v in b["table"].items() if k != "Metric Type"))
    target = 0.1 if s["approximate"] else 1 / 3
    print(f"ratio scmf / Benchmarker = {s['seconds'] / b['seconds']:.3f} (target <= {target:.3g})")


if __name__ == "__main__":
    main()
