"""The other benchmarks on a million cells: time, peak memory (this process and its workers) and
how that memory compares with the data itself.

    python benchmarks/million.py linear_probe   # 1,000,000 cells x 128 dims, 10 labels, 5 splits
    python benchmarks/million.py perturbation   # 1,000,000 cells x 2,000 genes (10% dense), 200 perturbations
    python benchmarks/million.py grn            # 1,000,000 cells x 2,000 genes (10% dense), d=128, DoRothEA-like net

Each prints the benchmark's own progress bar (to stderr) as a user sees it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _memory import TreePeak


def _report(name: str, seconds: float, mem: TreePeak, data_gb: float) -> None:
    print(
        f"{name}: {seconds:.1f} s, peak memory {mem.peak_gb:.2f} GB (process + workers); "
        f"the input itself is {data_gb:.2f} GB ({mem.peak_gb / data_gb:.1f}x)"
    )


def linear_probe(n: int) -> None:
    import scmf

    adata = scmf.datasets.toy(n, 128, n_labels=10, n_batches=2, label_sep=0.4, seed=0)
    data_gb = adata.obsm["X_scmf"].nbytes / 2**30
    t0 = time.perf_counter()
    with TreePeak() as mem:
        scmf.bm.linear_probe(adata, "cell_type", n_splits=5, progress=True)
    _report(f"linear_probe, {n:,} cells x 128, 5 splits", time.perf_counter() - t0, mem, data_gb)
    print("  accuracy", round(scmf.bm.results(adata).set_index("metric").loc["accuracy", "value"], 4))


def _expression(n: int, n_genes: int, density: float, seed: int):
    from grn import random_csr

    X = random_csr(n, n_genes, density, seed=seed)
    X.data = np.random.default_rng(seed).gamma(2.0, 1.0, X.data.size).astype(np.float32)
    return X


def perturbation(n: int) -> None:
    import anndata as ad
    import pandas as pd

    import scmf

    X = _expression(n, 2000, 0.10, seed=0)
    rng = np.random.default_rng(1)
    labels = np.where(rng.random(n) < 0.2, "control", np.char.add("P", rng.integers(0, 200, n).astype(str)))
    adata = ad.AnnData(X=X, obs=pd.DataFrame({"perturbation": pd.Categorical(labels)}))
    adata.obsm["X_scmf"] = rng.standard_normal((n, 128)).astype(np.float32)
    data_gb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes + adata.obsm["X_scmf"].nbytes) / 2**30
    t0 = time.perf_counter()
    with TreePeak() as mem:
        scmf.bm.perturbation(adata, progress=True)
    _report(
        f"perturbation, {n:,} cells x 2,000 genes, 200 perturbations", time.perf_counter() - t0, mem, data_gb
    )


def grn(n: int) -> None:
    import anndata as ad
    import pandas as pd

    import scmf

    X = _expression(n, 2000, 0.10, seed=0)
    rng = np.random.default_rng(1)
    genes = np.array([f"G{i}" for i in range(2000)])
    adata = ad.AnnData(X=X, var=pd.DataFrame(index=genes))
    adata.obsm["X_scmf"] = rng.standard_normal((n, 128)).astype(np.float32)
    net = pd.DataFrame(
        {"tf": genes[rng.integers(0, 150, 8000)], "target": genes[rng.integers(0, 2000, 8000)]}
    )
    data_gb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes + adata.obsm["X_scmf"].nbytes) / 2**30
    t0 = time.perf_counter()
    with TreePeak() as mem:
        scmf.bm.grn_inference(adata, net, progress=True)  # every (regulator, gene) pair scored
    _report(
        f"grn_inference, {n:,} cells x 2,000 genes, 150 regulators x all genes",
        time.perf_counter() - t0,
        mem,
        data_gb,
    )
    print("  pairs scored:", scmf._store.get(adata, "grn_inference").metadata["n_edges_evaluated"])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("which", choices=["linear_probe", "perturbation", "grn"])
    p.add_argument("--n-cells", type=int, default=1_000_000)
    a = p.parse_args()
    {"linear_probe": linear_probe, "perturbation": perturbation, "grn": grn}[a.which](a.n_cells)


if __name__ == "__main__":
    main()
