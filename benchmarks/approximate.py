"""embedding_quality: approximate path (pynndescent graph, sampled silhouettes) vs exact, metric by metric.

    python benchmarks/approximate.py                  # synthetic 100k and 200k, Kang and pbmc68k
    python benchmarks/approximate.py --sizes 100000   # fewer synthetic sizes

Synthetic data: ``scmf.datasets.toy`` with 64 dims, 20 cell types, 8 batches, twice: well
separated types (``label_sep=3``) and overlapping ones (``label_sep=0.5``, where clustering
is hard and NMI/ARI are far from 1). Real data: the PCA baseline of Kang (``condition`` as
batch) and of pbmc68k (``phase`` as batch), where the sample covers every cell, so only the
graph is approximate. Prints two markdown tables (the ones in docs/metrics.md): every metric,
exact / approximate; and NMI/ARI three ways (the exact path's grid of ten resolutions, the
approximate graph with that grid, and the approximate path's default coarse-to-fine search), to
tell the graph's share of a difference from the search's.
"""

from __future__ import annotations

import argparse
import os
import time

SAMPLE = 20_000  # silhouette sample of the documented table (the default, 10,000, doubles the variance)
METRICS = ("nmi", "ari", "asw_cell_type", "asw_batch", "graph_connectivity", "bras", "overall")


def run(adata, label, batch, approximate, search="auto"):
    import scmf

    name = f"approx_{approximate}_{search}"
    t0 = time.perf_counter()
    scmf.bm.embedding_quality(
        adata, label, batch_key=batch, approximate=approximate, n_bootstrap=0, progress=False,
        dataset_name=name, silhouette_sample=SAMPLE, resolution_search=search,
    )  # fmt: skip
    r = scmf._store.get(adata, "embedding_quality", dataset=name)
    return r, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 200_000])
    a = p.parse_args()

    import anndata as ad
    import scanpy as sc

    import scmf

    cases = []
    for n in a.sizes:
        for sep in (3.0, 0.5):
            cases.append(
                (
                    f"synthetic {n // 1000}k, label_sep={sep}",
                    lambda n=n, sep=sep: scmf.datasets.toy(
                        n, 64, n_labels=20, n_batches=8, label_sep=sep, seed=0
                    ),
                    "cell_type",
                    "batch",
                )
            )
    data_dir = os.environ.get("SCMF_DATA_DIR")
    if data_dir:

        def kang():
            k = ad.read_h5ad(os.path.join(data_dir, "kang2018_ifnb_scgen_valid.h5ad"))
            scmf.tl.embed(k, "pca", n_comps=20)
            return k

        cases.append(("Kang (1,975 cells), PCA", kang, "cell_type", "condition"))

    def pbmc():
        b = sc.datasets.pbmc68k_reduced()
        scmf.tl.embed(b, "pca", n_comps=30, use_raw=True)
        return b

    cases.append(("pbmc68k (700 cells), PCA", pbmc, "bulk_labels", "phase"))

    rows = []
    for name, make, label, batch in cases:
        adata = make()
        exact, t_e = run(adata, label, batch, False)
        approx, t_a = run(adata, label, batch, True)
        grid, t_g = run(adata, label, batch, True, "grid")
        diffs = {m: abs(exact.metrics[m] - approx.metrics[m]) for m in METRICS if m in exact.metrics}
        rows.append((name, exact, approx, grid, diffs))
        se = {k: round(v, 5) for k, v in approx.metadata.items() if k.endswith("_se")}
        print(
            f"{name}: exact {t_e:.1f} s, approximate {t_a:.1f} s (with the grid {t_g:.1f} s), "
            f"max |diff| {max(diffs.values()):.4f}, SE {se}",
            flush=True,
        )

    print("\n| data | " + " | ".join(METRICS) + " | max abs diff |")
    print("|---|" + "---|" * (len(METRICS) + 1))
    for name, exact, approx, _, diffs in rows:
        cells = [
            f"{exact.metrics[m]:.3f} / {approx.metrics[m]:.3f}" if m in exact.metrics else "-"
            for m in METRICS
        ]
        print(f"| {name} | " + " | ".join(cells) + f" | {max(diffs.values()):.4f} |")

    def leiden(r):
        return f"{r.metrics['nmi']:.3f} / {r.metrics['ari']:.3f} ({r.metadata['leiden_resolution']:g})"

    print(
        "\n| data | exact graph, grid | approximate graph, grid | approximate graph, coarse-to-fine (default) |"
    )
    print("|---|---|---|---|")
    for name, exact, approx, grid, _ in rows:
        print(f"| {name} | {leiden(exact)} | {leiden(grid)} | {leiden(approx)} |")


if __name__ == "__main__":
    main()
