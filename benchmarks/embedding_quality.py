"""embedding_quality vs scib-metrics' Benchmarker on the same data, in the same process.

Both start cold (first-call JIT included). The Benchmarker is configured as close to
scmf's metric set as it allows: Leiden NMI/ARI, silhouette_label, its batch metric (BRAS in
scib-metrics >= 0.5.6), graph connectivity; everything else off. It runs after scmf, so
anything scmf compiled that both share (umap's fuzzy set, jax) is already warm for it:
the ratio favours the Benchmarker.

    python benchmarks/embedding_quality.py [--n-cells 100000] [--dims 64]
    python benchmarks/embedding_quality.py --n-cells 1000000 --labels 20 --batches 8 --skip-reference

Above 200,000 cells ``embedding_quality`` runs its approximate path (``approximate="auto"``);
``--approximate true|false`` forces either.
"""

from __future__ import annotations

import argparse
import resource
import time

from _memory import TreePeak


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-cells", type=int, default=100_000)
    p.add_argument("--dims", type=int, default=64)
    p.add_argument("--labels", type=int, default=10)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--approximate", choices=["auto", "true", "false"], default="auto")
    p.add_argument("--skip-reference", action="store_true")
    a = p.parse_args()

    import scmf

    adata = scmf.datasets.toy(a.n_cells, a.dims, n_labels=a.labels, n_batches=a.batches, seed=0)
    approximate = {"auto": "auto", "true": True, "false": False}[a.approximate]
    t0 = time.perf_counter()
    with TreePeak() as mem:
        scmf.bm.embedding_quality(
            adata, "cell_type", batch_key="batch", use_rep="X_scmf", approximate=approximate
        )
    t_scmf = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    r = scmf._store.get(adata, "embedding_quality")
    print(
        f"scmf embedding_quality on {a.n_cells} cells: {t_scmf:.1f} s, peak RSS {peak_gb:.2f} GB "
        f"(this process), {mem.peak_gb:.2f} GB (with its worker processes, summed)"
    )
    print(
        "  approximate:", r.params["approximate"], {k: v for k, v in r.metadata.items() if k.endswith("_se")}
    )
    for step, s in r.artifacts["timings_s"].items():
        print(f"  {step:36s} {s:7.1f} s")
    print("  metrics:", {k: round(v, 4) for k, v in r.metrics.items()})
    if a.skip_reference:
        return

    from scib_metrics.benchmark import BatchCorrection, Benchmarker, BioConservation

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
    t_ref = time.perf_counter() - t0
    print(f"scib-metrics Benchmarker: {t_ref:.1f} s")
    print(bm.get_results(min_max_scale=False).T.to_string())
    print(f"ratio scmf / Benchmarker = {t_scmf / t_ref:.3f} (target <= 0.333)")


if __name__ == "__main__":
    main()
