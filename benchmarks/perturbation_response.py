"""perturbation_response at screen scale: 1,000,000 cells x 2,000 genes, 200 perturbations.

    python benchmarks/perturbation_response.py [--n-cells 1000000] [--genes 2000] [--n-perturbations 200]
    python benchmarks/perturbation_response.py --n-cells 100000 --cell-eval   # cell-eval + pdex on the same data

The whole evaluation (measured DE of every perturbation and of its ceiling half, all metrics,
the three references and the ceiling, five splits: random, three shift levels, singles to
doubles) in a fresh process, first-call compilation included, next to ``scmf.bm.perturbation``
(the response benchmark without DE, references or shifts) on the same data in the same
process as the yardstick. Expression: CSR, ~5% dense, log-normalised-like values; each
perturbation raises or lowers 100 genes; 10% of the perturbations are doubles whose effect is
the sum of two singles'; every perturbation is named after a measured gene (its target), so
the gene-based predictors cover it. Scored: the linear reference, a cell embedding (d=64, a
noisy copy of the effects, used through the control cells) and a gene representation (d=64).

``--cell-eval`` also times the reference pipeline on the same profiles: pdex's DE of the
measured cells (its numba Mann-Whitney, all threads) and cell-eval's metrics on the scmf
predictions (pearson_delta, mae, discrimination_score_l1, overlap/precision at k, direction).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _memory import TreePeak
from grn import random_csr


def make(n_cells: int, n_genes: int, n_pert: int, seed: int = 0):
    import anndata as ad

    rng = np.random.default_rng(seed)
    X = random_csr(n_cells, n_genes, 0.05, seed=seed)
    X.data = rng.gamma(2.0, 0.5, X.nnz).astype(np.float32)
    n_double = n_pert // 10
    targets = rng.choice(n_genes, n_pert - n_double, replace=False)
    singles = [f"G{t}" for t in targets]
    doubles = [f"{singles[2 * i]}+{singles[2 * i + 1]}" for i in range(n_double)]
    names = np.array(["control", *singles, *doubles])
    effect = np.zeros((names.size, n_genes), dtype=np.float32)
    for i in range(1, 1 + len(singles)):
        genes = rng.choice(n_genes, 100, replace=False)
        effect[i, genes] = rng.choice([-1.0, 1.0], 100)
    for j, d in enumerate(doubles):
        a, b = (1 + singles.index(p) for p in d.split("+"))
        effect[1 + len(singles) + j] = effect[a] + effect[b]
    labels = rng.integers(1, names.size, n_cells)
    labels[: n_cells // 10] = 0  # 10% control cells
    rows = np.repeat(np.arange(n_cells, dtype=np.int32), np.diff(X.indptr))
    X.data = np.maximum(X.data * np.exp(effect[labels[rows], X.indices]), 0).astype(np.float32)
    X.data = np.log1p(X.data)
    obs = pd.DataFrame({"perturbation": pd.Categorical(names[labels])}, index=np.arange(n_cells).astype(str))
    adata = ad.AnnData(X, obs=obs)
    adata.var_names = [f"G{j}" for j in range(n_genes)]
    adata.varm["X_genes"] = rng.standard_normal((n_genes, 64)).astype(np.float32)
    proj = rng.standard_normal((n_genes, 64)).astype(np.float32) / np.sqrt(n_genes)
    signal = (effect @ proj)[labels]
    adata.obsm["X_scmf"] = signal + 0.5 * rng.standard_normal((n_cells, 64)).astype(np.float32) * signal.std()
    return adata


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-cells", type=int, default=1_000_000)
    p.add_argument("--genes", type=int, default=2000)
    p.add_argument("--n-perturbations", type=int, default=200)
    p.add_argument("--cell-eval", action="store_true")
    a = p.parse_args()

    import scmf

    t0 = time.perf_counter()
    adata = make(a.n_cells, a.genes, a.n_perturbations)
    print(
        f"data: {adata.n_obs:,} cells x {adata.n_vars} genes, {adata.X.nnz:,} non-zeros ({time.perf_counter() - t0:.1f} s)"
    )
    with TreePeak() as peak:
        t0 = time.perf_counter()
        scmf.bm.perturbation_response(
            adata, use_rep="X_scmf", gene_rep="X_genes", splits="auto", progress=False
        )
        t_resp = time.perf_counter() - t0
        t0 = time.perf_counter()
        scmf.bm.perturbation(adata, use_rep="X_scmf", progress=False)
        t_pert = time.perf_counter() - t0
    r = scmf._store.get(adata, "perturbation_response", rep="X_scmf")
    print(
        f"perturbation_response: {t_resp:.1f} s (compilation included), peak {peak.peak / 2**30:.2f} GiB; "
        f"splits {list(r.metadata['splits'])}, {len(r.metrics)} metrics"
    )
    print(f"perturbation (yardstick, same process): {t_pert:.1f} s; ratio {t_resp / t_pert:.1f}x")
    print(
        "pearson_delta cell embedding / linear / mean-shift / ceiling: "
        f"{r.metrics['pearson_delta']:.3f} / {r.metrics['linear_pearson_delta']:.3f} / "
        f"{r.metrics['mean_shift_pearson_delta']:.3f} / {r.metrics['ceiling_pearson_delta']:.3f}"
    )
    if a.cell_eval:
        cell_eval_time(adata)


def cell_eval_time(adata) -> None:
    """pdex's DE and cell-eval's metrics on the same measured cells and the same predicted profiles."""
    import anndata as ad
    import pdex
    from cell_eval import metrics as ce
    from cell_eval._types import PerturbationAnndataPair, initialize_de_comparison

    import scmf

    t0 = time.perf_counter()
    scmf.bm.perturbation_response(adata, splits=("random",), progress=False)
    t_scmf = time.perf_counter() - t0
    r = scmf._store.get(adata, "perturbation_response", rep="linear")
    test = sorted(set(pd.DataFrame(r.artifacts["per_perturbation"])["perturbation"]))
    obs = adata.obs["perturbation"].astype(str).to_numpy()
    keep = np.isin(obs, [*test, "control"])
    sub = adata[keep].copy()
    t0 = time.perf_counter()
    de = pdex.pdex(sub, "perturbation", mode="ref", reference="control", is_log1p=True)
    t_pdex = time.perf_counter() - t0
    if sub.n_obs * sub.n_vars > 3e8:
        print(
            f"pdex DE on {sub.n_obs:,} cells: {t_pdex:.1f} s (cell-eval's metrics skipped: too large to densify)"
        )
        return
    means = pd.DataFrame(sub.X.toarray()).groupby(sub.obs["perturbation"].astype(str).to_numpy()).mean()
    ctrl = means.loc["control"].to_numpy()
    pred = means.loc[test].to_numpy()  # profiles to score (the measured means stand in for a prediction)
    genes = np.asarray(sub.var_names)
    real = ad.AnnData(sub.X, obs=pd.DataFrame({"p": sub.obs["perturbation"].astype(str).to_numpy()}))
    real.var_names = genes
    pred_ad = ad.AnnData(np.vstack([ctrl, pred]), obs=pd.DataFrame({"p": ["control", *test]}))
    pred_ad.var_names = genes
    t0 = time.perf_counter()
    pair = PerturbationAnndataPair(real=real, pred=pred_ad, pert_col="p", control_pert="control")
    ce.pearson_delta(pair)
    ce.mae(pair)
    ce.discrimination_score(pair, metric="l1")
    cmp = initialize_de_comparison(de.select(["target", "feature", "log2_fold_change", "p_value", "fdr"]),
                                   de.select(["target", "feature", "log2_fold_change", "p_value", "fdr"]))  # fmt: skip
    for k in (50, 100, 200, None):
        ce.de_overlap_metric(cmp, k=k, metric="overlap")
    ce.DEDirectionMatch()(cmp)
    t_ce = time.perf_counter() - t0
    print(
        f"scmf random split, all metrics + references + ceiling: {t_scmf:.1f} s; "
        f"pdex DE (measured cells only, {sub.n_obs:,} cells): {t_pdex:.1f} s; cell-eval metrics: {t_ce:.1f} s"
    )
    print(f"  cell-eval pipeline / scmf: {(t_pdex + t_ce) / t_scmf:.1f}x")


if __name__ == "__main__":
    main()
