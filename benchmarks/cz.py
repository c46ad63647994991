"""Time of each cz_* benchmark on Kang (1,975 cells, 30-dim PCA embedding), pbmc68k too.

SCMF_DATA_DIR=../shared/data python benchmarks/cz.py
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from pathlib import Path


def main() -> None:
    import anndata as ad

    import scmf

    warnings.simplefilter("ignore")
    logging.getLogger().setLevel(logging.WARNING)
    kang = ad.read_h5ad(Path(os.environ["SCMF_DATA_DIR"]) / "kang2018_ifnb_scgen_valid.h5ad")
    scmf.tl.baselines(kang, n_comps=30, seed=0)
    runs = [
        ("cz_clustering", scmf.bm.cz_clustering, {}),
        ("cz_embedding", scmf.bm.cz_embedding, {}),
        ("cz_label_prediction", scmf.bm.cz_label_prediction, {}),
        ("cz_batch_integration", scmf.bm.cz_batch_integration, {"batch_key": "condition"}),
    ]
    scmf.bm.cz_embedding(kang[:200].copy(), "cell_type", use_rep="X_pca_baseline")  # imports, JIT
    print(f"Kang {kang.n_obs} cells, X_pca_baseline (30 dims):")
    for name, f, kw in runs:
        t0 = time.perf_counter()
        f(kang, "cell_type", use_rep="X_pca_baseline", **kw)
        print(f"  {name:22s} {time.perf_counter() - t0:6.2f} s")


if __name__ == "__main__":
    main()
