"""Write the stored metrics of every built-in benchmark on the shipped data to golden.json.

Run once on a version of scmf whose numbers are trusted (they equal scikit-learn,
scib-metrics and cz-benchmarks); ``tests/bm/test_golden.py`` then checks that later versions
store the same numbers. Usage: ``SCMF_DATA_DIR=... python tests/bm/golden/make_golden.py``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).parent


def run_all(data_dir: Path) -> dict[str, float]:
    import anndata as ad

    import scmf

    warnings.simplefilter("ignore")
    out: dict[str, float] = {}
    reps = ["X_pca_baseline", "X_random_baseline"]

    kang = ad.read_h5ad(data_dir / "kang2018_ifnb_scgen_valid.h5ad")
    scmf.tl.baselines(kang, n_comps=20, seed=0)
    scmf.bm.linear_probe(kang, "cell_type", use_rep=reps, n_splits=3, dataset_name="kang")
    scmf.bm.linear_probe(kang, "cell_type", use_rep=reps, group_key="condition", dataset_name="kang_group")
    scmf.bm.embedding_quality(kang, "cell_type", batch_key="condition", use_rep=reps, dataset_name="kang")
    scmf.bm.embedding_quality(
        kang, "cell_type", batch_key=None, use_rep=reps, clustering="kmeans", dataset_name="kang_kmeans"
    )
    scmf.bm.grn_inference(kang, data_dir / "dorothea_hs.tsv.gz", use_rep=reps, dataset_name="kang")
    scmf.bm.grn_inference(
        kang, data_dir / "dorothea_hs.tsv.gz", use_rep=reps, negatives="sampled", dataset_name="kang_sampled"
    )
    small = kang[::4].copy()
    scmf.bm.cz_clustering(small, "cell_type", use_rep=reps, dataset_name="kang")
    scmf.bm.cz_embedding(small, "cell_type", use_rep=reps, dataset_name="kang")
    scmf.bm.cz_label_prediction(small, "cell_type", use_rep=reps, dataset_name="kang")
    scmf.bm.cz_batch_integration(small, "cell_type", batch_key="condition", use_rep=reps, dataset_name="kang")

    norman = ad.read_h5ad(data_dir / "norman2019_mcfaline2023_perturbench_devel.h5ad")
    scmf.tl.baselines(norman, n_comps=20, seed=0)
    scmf.bm.perturbation(norman, use_rep=reps, n_splits=2, dataset_name="norman")
    scmf.bm.perturbation(norman, use_rep=reps, context_key="cell_type", dataset_name="norman_context")

    for adata in (kang, small, norman):
        for row in scmf.bm.results(adata).itertuples():
            out[f"{row.benchmark}/{row.dataset}/{row.rep}/{row.metric}"] = float(row.value)
    return out


if __name__ == "__main__":
    values = run_all(Path(os.environ["SCMF_DATA_DIR"]))
    (HERE / "golden.json").write_text(json.dumps(values, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(values)} values", file=sys.stderr)
