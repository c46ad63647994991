"""perturbation at scale: 1,000 perturbations x 500,000 cells (no per-cell Python loops).

    python benchmarks/perturbation.py [--n-cells 500000] [--n-perturbations 1000] [--genes 2000]

Expression: CSR, ~5% dense, log-normalised-like values; embedding d=64. Reports the time of
scmf.bm.perturbation (group means by one sparse product, ridge, scoring) and peak memory,
next to the time of just reading the group means with pandas groupby on the dense embedding
as a yardstick.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from grn import random_csr


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-cells", type=int, default=500_000)
    p.add_argument("--n-perturbations", type=int, default=1000)
    p.add_argument("--genes", type=int, default=2000)
    a = p.parse_args()

    import anndata as ad

    import scmf

    rng = np.random.default_rng(0)
    X = random_csr(a.n_cells, a.genes, 0.05, seed=0)
    X.data = rng.gamma(2.0, 0.5, X.nnz).astype(np.float32)
    labels = rng.integers(-1, a.n_perturbations, a.n_cells)  # -1: control (~1/1000 of cells... plus)
    labels[: a.n_cells // 10] = -1
    names = np.where(labels < 0, "control", np.char.add("P", labels.astype(str)))
    obs = pd.DataFrame({"perturbation": pd.Categorical(names)}, index=np.arange(a.n_cells).astype(str))
    adata = ad.AnnData(X, obs=obs)
    adata.obsm["X_scmf"] = rng.standard_normal((a.n_cells, 64)).astype(np.float32)

    t0 = time.perf_counter()
    pd.DataFrame(adata.obsm["X_scmf"]).groupby(names).mean()
    t_groupby = time.perf_counter() - t0
    t0 = time.perf_counter()
    scmf.bm.perturbation(adata, n_splits=1)
    t = time.perf_counter() - t0
    r = scmf._store.get(adata, "perturbation")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"{a.n_cells:,} cells x {a.genes} genes ({X.nnz:,} non-zeros), {r.metadata['n_perturbations']} perturbations"
    )
    print(
        f"  scmf.bm.perturbation: {t:.2f} s (pandas groupby-mean of the embedding alone: {t_groupby:.2f} s)"
    )
    print(f"  peak RSS {peak:.2f} GiB")


if __name__ == "__main__":
    main()
