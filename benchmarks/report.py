"""The HTML report at scale: 10 representations x 5 datasets x every kind of stored result.

Each benchmark is run once for real on small data (linear probe, label efficiency, embedding
quality and cell-cycle-free scIB on pbmc68k_reduced; perturbation on a toy screen; GRN on Kang
with DoRothEA when ``SCMF_DATA_DIR`` is set); each stored result is then copied to 10
representations x 5 datasets with its numbers jittered, artifacts (confusion matrices,
perturbation examples, GRN curves) included, so the report draws every figure it would for a
real evaluation of that size. Timed: ``scmf.report`` end to end (reading, comparisons, ranks,
figures, template, write), in this process; and the file's size.

python benchmarks/report.py [--reps 10] [--datasets 5] [--figure-format png]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def _templates():
    import anndata as ad
    import scanpy as sc

    import scmf
    from scmf import _store

    reps = ["X_pca_baseline", "X_random_baseline"]
    pbmc = sc.datasets.pbmc68k_reduced()
    scmf.tl.baselines(pbmc, n_comps=20, seed=0)
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=reps, n_splits=3)
    scmf.bm.embedding_quality(pbmc, "bulk_labels", batch_key="phase", use_rep=reps)
    scmf.bm.label_efficiency(pbmc, "bulk_labels", use_rep=reps, budgets=[2, 5, 10], n_draws=3)
    scmf.bm.scib(pbmc, "bulk_labels", "phase", use_rep=reps, progress=False)
    pert = scmf.datasets.toy_perturbation(n_perturbations=12, seed=0)
    scmf.tl.baselines(pert, n_comps=10, seed=0)
    scmf.bm.perturbation(pert, use_rep=reps, n_splits=2)
    found = list(_store.iter_results(pbmc)) + list(_store.iter_results(pert))
    data = os.environ.get("SCMF_DATA_DIR")
    if data and Path(data, "kang2018_ifnb_scgen_valid.h5ad").exists():
        kang = ad.read_h5ad(Path(data, "kang2018_ifnb_scgen_valid.h5ad"))
        scmf.tl.baselines(kang, n_comps=20, seed=0)
        scmf.bm.grn_inference(kang, Path(data, "dorothea_hs.tsv.gz"), use_rep=reps)
        found += [r for r in _store.iter_results(kang) if r.benchmark == "grn_inference"]
    return [r for r in found if r.rep == "X_pca_baseline"]


def _jitter(value, rng):
    if isinstance(value, float) and np.isfinite(value):
        return float(value * (1 + rng.normal(0, 0.05)))
    return value


def evaluated(n_reps: int, n_datasets: int, seed: int = 0):
    """An AnnData-shaped holder whose store has every template for n_reps x n_datasets."""
    from scmf import _store

    rng = np.random.default_rng(seed)
    templates = _templates()
    reps = ["X_pca_baseline", "X_random_baseline", "X_hvg_baseline"] + [
        f"X_model{i}" for i in range(n_reps - 3)
    ]
    results = []
    for d in range(n_datasets):
        for rep in reps:
            for t in templates:
                r = copy.deepcopy(t)
                r.dataset, r.rep = f"dataset{d}", rep
                r.metrics = {k: _jitter(v, rng) for k, v in r.metrics.items()}
                reps_art = r.artifacts.get("replicates")
                if reps_art:
                    r.artifacts["replicates"] = {
                        k: np.asarray(v, dtype=float) * (1 + rng.normal(0, 0.05)) for k, v in reps_art.items()
                    }
                results.append(r)
    import anndata as ad

    holder = ad.AnnData(np.zeros((1, 1), dtype=np.float32))
    _store.write(holder, results)
    return holder, len(results)


def main() -> None:
    import matplotlib

    matplotlib.use("agg")
    import scmf

    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--datasets", type=int, default=5)
    ap.add_argument("--figure-format", default="png", choices=["png", "svg"])
    args = ap.parse_args()
    holder, n = evaluated(args.reps, args.datasets)
    benches = sorted({r.benchmark for r in scmf._store.iter_results(holder)})
    print(f"{n} stored results: {args.reps} representations x {args.datasets} datasets x {benches}")
    out = Path(tempfile.mkdtemp()) / "report.html"
    scmf.report(holder, out, figure_format=args.figure_format)  # warm: imports, first figure
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        scmf.report(holder, out, figure_format=args.figure_format)
        times.append(time.perf_counter() - t0)
    html = out.read_text(encoding="utf-8")
    n_sections = html.count('<section class="bench"')
    print(
        f"report: median {np.median(times):.2f} s of {[round(t, 2) for t in times]}, "
        f"{out.stat().st_size / 1e6:.2f} MB, {html.count('<img ')} figures, "
        f"{n_sections} sections ({args.figure_format})"
    )


if __name__ == "__main__":
    main()
