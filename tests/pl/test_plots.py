"""Every plot: compared with a committed baseline image, and drawn from an .h5ad read back.

Regenerate the baselines (after an intended change) with SCMF_UPDATE_BASELINES=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import anndata as ad
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.testing.compare import compare_images

import scmf

matplotlib.use("agg")
BASELINE = Path(__file__).parent / "baseline"
DPI = 40
TOL = 6.0


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, data_dir):
    """Three evaluated datasets, written to .h5ad and read back (the plots read only uns)."""
    import scanpy as sc

    out = {}
    pbmc = sc.datasets.pbmc68k_reduced()
    scmf.tl.baselines(pbmc, n_comps=20, seed=0)
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=reps, n_splits=3)
    scmf.bm.embedding_quality(pbmc, "bulk_labels", batch_key="phase", use_rep=reps)
    out["pbmc"] = pbmc
    two = pbmc.copy()  # two datasets in one object
    scmf.bm.linear_probe(two, "phase", use_rep=reps, n_splits=3, dataset_name="phase")
    out["two"] = two
    norman = ad.read_h5ad(data_dir / "norman2019_mcfaline2023_perturbench_devel.h5ad")
    scmf.tl.baselines(norman, n_comps=20, seed=0)
    scmf.bm.perturbation(norman, context_key="cell_type", use_rep=reps, n_splits=2)
    out["norman"] = norman
    response = norman.copy()
    del response.uns["scmf_bench"]
    targets = {g for p in response.obs["perturbation"].astype(str) if p != "control" for g in p.split("+")}
    genes = sorted(set(response.var_names) | targets)  # a gene table covering the unmeasured targets
    table = pd.DataFrame(np.random.default_rng(0).normal(size=(len(genes), 16)), index=genes)
    with pytest.warns(scmf.ScmfWarning, match="not in var_names"):
        scmf.bm.perturbation_response(
            response, context_key="cell_type", use_rep=reps, gene_rep={"genes_random": table}
        )
    out["norman_response"] = response
    kang = ad.read_h5ad(data_dir / "kang2018_ifnb_scgen_valid.h5ad")
    scmf.tl.baselines(kang, n_comps=20, seed=0)
    scmf.bm.grn_inference(kang, data_dir / "dorothea_hs.tsv.gz", use_rep=reps)
    out["kang"] = kang
    scib = kang[::2].copy()
    del scib.uns["scmf_bench"]
    scmf.bm.scib(scib, "cell_type", "condition", use_rep=[*reps, "X_pca"], progress=False)
    out["scib"] = scib
    folder = tmp_path_factory.mktemp("h5")
    back = {}
    for name, a in out.items():
        a.write_h5ad(folder / f"{name}.h5ad")
        back[name] = ad.read_h5ad(folder / f"{name}.h5ad")
    return back


HISTORY = pd.DataFrame(
    {
        "epoch": [0, 1, 2, 0, 1, 2],
        "step": [10, 20, 30, 10, 20, 30],
        "benchmark": ["linear_probe"] * 3 + ["embedding_quality"] * 3,
        "dataset": ["val_data"] * 6,
        "metric": ["accuracy"] * 3 + ["overall"] * 3,
        "value": [0.4, 0.6, 0.7, 0.3, 0.45, 0.5],
    }
)

CASES = {
    "results_table": lambda e: scmf.pl.results_table(e["pbmc"], return_fig=True),
    "results_table_collect": lambda e: scmf.pl.results_table(
        scmf.bm.collect({k: v for k, v in e.items() if k not in ("scib", "norman_response")}), return_fig=True
    ),
    "results_table_min_max": lambda e: scmf.pl.results_table(e["pbmc"], min_max_scale=True, return_fig=True),
    "results_table_scib": lambda e: scmf.pl.results_table(e["scib"], return_fig=True),
    "benchmark_comparison": lambda e: scmf.pl.benchmark_comparison(
        e["pbmc"], "linear_probe", return_fig=True
    ),
    "benchmark_comparison_datasets": lambda e: scmf.pl.benchmark_comparison(
        e["two"], "linear_probe", baseline="X_random_baseline", return_fig=True
    ),
    "rank_summary": lambda e: scmf.pl.rank_summary(e["two"], return_fig=True),
    "confusion_matrix": lambda e: scmf.pl.confusion_matrix(e["pbmc"], rep="X_pca_baseline", return_fig=True),
    "f1_per_class": lambda e: scmf.pl.f1_per_class(e["pbmc"], rep="X_pca_baseline", return_fig=True),
    "embedding_quality": lambda e: scmf.pl.embedding_quality(e["pbmc"], return_fig=True),
    "embedding": lambda e: scmf.pl.embedding(
        e["pbmc"], ["bulk_labels", "phase"], basis="X_pca_baseline", return_fig=True
    ),
    "perturbation": lambda e: scmf.pl.perturbation(
        e["norman"], rep="X_pca_baseline", max_panels=3, return_fig=True
    ),
    "perturbation_vs_baseline": lambda e: scmf.pl.perturbation_vs_baseline(
        e["norman"], rep="X_pca_baseline", return_fig=True
    ),
    "perturbation_response": lambda e: scmf.pl.perturbation_response(
        e["norman_response"], rep="genes_random", return_fig=True
    ),
    "grn_curves": lambda e: scmf.pl.grn_curves(e["kang"], return_fig=True),
    "training_history": lambda e: scmf.pl.training_history(HISTORY, return_fig=True),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.slow
def test_image(name, evaluated, tmp_path):
    fig = CASES[name](evaluated)
    assert isinstance(fig, plt.Figure)
    actual = tmp_path / f"{name}.png"
    fig.savefig(actual, dpi=DPI)
    plt.close(fig)
    expected = BASELINE / f"{name}.png"
    if os.environ.get("SCMF_UPDATE_BASELINES"):
        expected.write_bytes(actual.read_bytes())
        (BASELINE / "MATPLOTLIB_VERSION").write_text(matplotlib.__version__ + "\n")
    assert expected.exists(), f"no baseline image {expected}; run with SCMF_UPDATE_BASELINES=1"
    made_with = (BASELINE / "MATPLOTLIB_VERSION").read_text().strip()
    if made_with.split(".")[:2] != matplotlib.__version__.split(".")[:2]:
        pytest.skip(
            f"baselines drawn with matplotlib {made_with}, this is {matplotlib.__version__}: text rendering differs"
        )
    err = compare_images(str(expected), str(actual), tol=TOL)
    assert err is None, err


@pytest.mark.slow
def test_return_types_and_ax(evaluated):
    _, axs = plt.subplots(1, 2)
    out = scmf.pl.grn_curves(evaluated["kang"], ax=list(axs), show=False)
    assert list(out) == list(axs)
    _, ax = plt.subplots()
    assert scmf.pl.confusion_matrix(evaluated["pbmc"], rep="X_pca_baseline", ax=ax, show=False) is ax
    assert scmf.pl.f1_per_class(evaluated["pbmc"], rep="X_random_baseline", show=False) is not None
    plt.close("all")


@pytest.mark.slow
def test_history_from_anndata(evaluated):
    adata = evaluated["pbmc"].copy()
    with pytest.raises(KeyError, match="write_history"):
        scmf.pl.training_history(adata)
    adata.uns["scmf"] = {"history": {c: HISTORY[c].to_numpy() for c in HISTORY.columns}}
    assert isinstance(scmf.pl.training_history(adata, metrics=["accuracy"], return_fig=True), plt.Figure)
    plt.close("all")


def test_clear_errors_without_results(pbmc):
    with pytest.raises(KeyError, match=r"run scmf.bm.linear_probe first"):
        scmf.pl.confusion_matrix(pbmc)
    with pytest.raises(KeyError, match=r"run scmf.bm.grn_inference first"):
        scmf.pl.grn_curves(pbmc)
    with pytest.raises(KeyError, match=r"run scmf.bm.perturbation first"):
        scmf.pl.perturbation(pbmc)
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"])
    with pytest.raises(ValueError, match="pass rep="):
        scmf.pl.confusion_matrix(pbmc)
    with pytest.raises(KeyError, match="no linear_probe result for rep='X_other'"):
        scmf.pl.confusion_matrix(pbmc, rep="X_other")
    assert np.isfinite(pbmc.obsm["X_pca_baseline"]).all()


def test_plots_emit_no_deprecation_warnings(pbmc):
    import warnings

    import matplotlib.pyplot as plt

    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PendingDeprecationWarning)
        warnings.simplefilter("error", DeprecationWarning)
        scmf.pl.embedding(pbmc, ["bulk_labels", "n_genes"], basis="X_pca_baseline", show=False)
        scmf.pl.results_table(pbmc, show=False)
        scmf.pl.benchmark_comparison(pbmc, "linear_probe", show=False)
        scmf.pl.confusion_matrix(pbmc, rep="X_pca_baseline", show=False)
    plt.close("all")


def test_training_history_ticks_whole_epochs():
    history = pd.DataFrame({"epoch": [0, 1, 2], "step": [10, 20, 30], "benchmark": "linear_probe",
                            "dataset": "val", "metric": "accuracy", "value": [0.5, 0.6, 0.7]})  # fmt: skip
    ax = scmf.pl.training_history(history, show=False)
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    plt.close(ax.figure)


def test_table_title_never_names_the_default_dataset(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=2)  # default name "dataset"
    ax = scmf.pl.results_table(pbmc, show=False)
    assert "dataset: dataset" not in ax.get_title()
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=2, dataset_name="pbmc")
    ax = scmf.pl.results_table(scmf.bm.results(pbmc).query("dataset == 'pbmc'"), show=False)
    assert ax.get_title() == "dataset: pbmc"
    plt.close("all")


def test_legends_never_cover_the_data(pbmc):
    """Bar plots put their legend beside the axes (the last panel only), not over the bars."""
    for name, key in (("types", "bulk_labels"), ("phase", "phase")):
        scmf.bm.linear_probe(
            pbmc, key, use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=2, dataset_name=name
        )
    fig = scmf.pl.benchmark_comparison(pbmc, "linear_probe", return_fig=True)
    axs = fig.axes
    assert len(axs) == 2 and axs[0].get_legend() is None and axs[1].get_legend() is not None
    fig.canvas.draw()
    for ax in (axs[1], scmf.pl.rank_summary(pbmc, show=False)):
        ax.figure.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        assert legend.x0 >= ax.get_window_extent().x1 - 1, "the legend overlaps the axes"
    plt.close("all")


@pytest.mark.slow
def test_embedding_umap_of_the_representation(pbmc):
    before = (set(pbmc.obsm), set(pbmc.uns), set(pbmc.obsp))
    axs = scmf.pl.embedding(pbmc, ["bulk_labels", "phase"], basis="X_pca_baseline", umap=True, show=False)
    assert [a.get_xlabel() for a in axs] == ["UMAP 1 (X_pca_baseline)"] * 2
    assert axs[0].get_ylabel() == "UMAP 2 (X_pca_baseline)"
    assert (set(pbmc.obsm), set(pbmc.uns), set(pbmc.obsp)) == before  # computed on a copy
    # the drawn points are scanpy's UMAP of that representation with the same settings
    import scanpy as sc

    ref = sc.AnnData(obs=pbmc.obs.copy(), obsm={"rep": pbmc.obsm["X_pca_baseline"]})
    sc.pp.neighbors(ref, n_neighbors=15, use_rep="rep", random_state=0)
    sc.tl.umap(ref, random_state=0)
    drawn = axs[0].collections[0].get_offsets()
    np.testing.assert_allclose(np.sort(np.asarray(drawn)[:, 0]), np.sort(ref.obsm["X_umap"][:, 0]), atol=1e-4)
    ax = scmf.pl.embedding(pbmc, "bulk_labels", basis="X_pca_baseline", show=False)
    assert ax.get_xlabel() == "X_pca_baseline 1"
    plt.close("all")
