"""Keeping results apart, flagging mixed settings, and the paired comparisons."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import scanpy as sc

import scmf
from scmf import ScmfWarning, _store

REPS = ["X_pca_baseline", "X_random_baseline"]


def test_every_builtin_goes_through_the_runner():
    import inspect

    for name, spec in scmf.bm.benchmarks().items():
        if name.startswith(
            ("linear_probe", "embedding_quality", "perturbation", "grn_inference", "cz_", "scib")
        ):
            assert spec.func.spec is spec, name  # one object: the runner's declaration is the registry's
            assert {m.name for m in spec.metrics}, name
            sig = inspect.signature(spec.func)
            # the runner adds the shared parameters, keyword-only, to every benchmark's signature and docs
            for p in ("use_rep", "dataset_name", "inplace", "key_added", "progress"):
                assert sig.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY, (name, p)
                assert f"\n{p}\n" in spec.func.__doc__, (name, p)
            assert sig.return_annotation == "pd.DataFrame | None", name


def test_params_recorded_from_the_call(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=2, C=0.5, max_iter=300)
    from scmf._store import get

    r = get(pbmc, "linear_probe")
    assert r.params["C"] == 0.5 and r.params["max_iter"] == 300 and r.params["n_splits"] == 2
    assert r.params["use_rep"] == "X_pca_baseline" and "inplace" not in r.params


def test_two_datasets_and_two_files_stay_apart(pbmc, tmp_path):
    a = pbmc
    scmf.bm.linear_probe(a, "bulk_labels", use_rep=REPS, dataset_name="types")
    scmf.bm.linear_probe(a, "phase", use_rep=REPS, dataset_name="phase")
    t = scmf.bm.results(a)
    acc = t[(t.metric == "accuracy") & (t.rep == "X_pca_baseline")]
    assert sorted(acc["dataset"]) == ["phase", "types"]  # two rows, not one mean
    ax = scmf.pl.results_table(a, show=False)
    labels = [x.get_text() for x in ax.get_yticklabels()]
    assert len(labels) == 4 and {"phase · X_pca_baseline", "types · X_pca_baseline"} <= set(labels)
    axs = scmf.pl.benchmark_comparison(a, "linear_probe", show=False)
    assert len(axs) == 2  # one panel per dataset, no pandas error
    import matplotlib.pyplot as plt

    one_ax = plt.subplots()[1]
    with pytest.raises(ValueError, match="2 datasets"):
        scmf.pl.benchmark_comparison(a, "linear_probe", ax=one_ax)

    # two files, same (default) dataset name, different models
    for name, seed in (("model_a", 0), ("model_b", 1)):
        b = pbmc.copy()
        b.uns.pop("scmf_bench", None)
        scmf.tl.embed(b, "random", seed=seed)
        scmf.bm.linear_probe(b, "bulk_labels")
        (tmp_path / name).mkdir()
        b.write_h5ad(tmp_path / name / "eval.h5ad")
    table = scmf.bm.collect([tmp_path / "model_a" / "eval.h5ad", tmp_path / "model_b" / "eval.h5ad"])
    assert sorted(set(table["source"])) == ["model_a/eval", "model_b/eval"]
    wide = scmf.bm.summary(table)
    blocks = wide.index.get_level_values("dataset")
    assert sorted(set(blocks)) == ["model_a/eval · dataset", "model_b/eval · dataset"]  # nothing merged
    assert not wide.xs("model_a/eval · dataset").equals(wide.xs("model_b/eval · dataset"))
    ax = scmf.pl.results_table(table, show=False)
    assert len(ax.get_yticklabels()) == 2


def test_mixed_parameters_are_flagged(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_pca_baseline", n_splits=2)
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep="X_random_baseline", n_splits=3)
    with pytest.warns(ScmfWarning, match=r"different parameters \(n_splits\)"):
        ax = scmf.pl.results_table(pbmc, show=False)
    labels = [x.get_text() for x in ax.get_yticklabels()]
    assert labels == ["X_pca_baseline [n_splits=2]", "X_random_baseline [n_splits=3]"]
    with pytest.raises(ValueError, match="different parameters"):
        scmf.bm.compare(pbmc, baseline="X_random_baseline")


def test_fixed_scale_colour_is_the_value(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=REPS)
    ax = scmf.pl.results_table(pbmc, show=False)
    colours = ax.get_images()[0].get_array()
    t = scmf.bm.results(pbmc).set_index(["rep", "metric"])["value"]
    # accuracy column (first): colour = the accuracy itself on [0, 1], not min-max across two rows
    assert colours[0, 0] == pytest.approx(t[("X_pca_baseline", "accuracy")])
    assert colours[1, 0] == pytest.approx(t[("X_random_baseline", "accuracy")])
    assert len(ax.figure.axes) == 2  # the colour bar


def test_compare_split_test_matches_formula(pbmc):
    from scipy import stats

    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=REPS, n_splits=5)
    c = scmf.bm.compare(pbmc, baseline="X_random_baseline").set_index("metric")
    from scmf._store import get

    a, b = get(pbmc, "linear_probe", rep=REPS[0]), get(pbmc, "linear_probe", rep=REPS[1])
    d = a.replicates["accuracy"] - b.replicates["accuracy"]
    ratio = a.metadata["n_test"] / a.metadata["n_train"]
    t = d.mean() / np.sqrt((1 / d.size + ratio) * d.var(ddof=1))
    assert c.loc["accuracy", "p_value"] == pytest.approx(2 * stats.t.sf(abs(t), d.size - 1))
    assert c.loc["accuracy", "difference"] == pytest.approx(d.mean())
    assert c["better"].all()


def _synthetic(seed, gap, n=400):
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    centres = rng.normal(size=(4, 6))
    a = ad.AnnData(
        np.zeros((n, 1), dtype=np.float32),
        obs=pd.DataFrame({"t": y.astype(str)}, index=[f"c{i}" for i in range(n)]),
    )
    a.obsm["X_a"] = centres[y] * gap + rng.normal(size=(n, 6))
    a.obsm["X_b"] = centres[y] * 0.0 + rng.normal(size=(n, 6))
    a.obsm["X_c"] = rng.normal(size=(n, 6))
    return a


@pytest.mark.slow
def test_compare_finds_a_real_gap_and_keeps_the_null_rate():
    hits_gap, hits_null = 0, 0
    n_rep = 30
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(n_rep):
            a = _synthetic(seed, gap=0.6)
            scmf.bm.linear_probe(a, "t", use_rep=["X_a", "X_b", "X_c"], n_splits=5, seed=seed)
            c = scmf.bm.compare(a, baseline="X_b", benchmark="linear_probe").set_index(["rep", "metric"])
            hits_gap += c.loc[("X_a", "accuracy"), "p_value"] < 0.05
            hits_null += c.loc[("X_c", "accuracy"), "p_value"] < 0.05  # both embeddings are noise
    assert hits_gap >= 0.9 * n_rep
    assert hits_null <= 0.15 * n_rep  # nominal 5%; 4/30 would already be unusual


@pytest.mark.slow
def test_compare_bootstrap_embedding_quality(toy):
    toy.obsm["X_noise"] = np.random.default_rng(0).normal(size=toy.obsm["X_scmf"].shape)
    scmf.bm.embedding_quality(
        toy, "cell_type", batch_key="batch", use_rep=["X_scmf", "X_noise"], n_bootstrap=50
    )
    c = scmf.bm.compare(toy, baseline="X_noise").set_index("metric")
    assert set(c["test"]) == {"paired bootstrap"}
    assert c.loc["asw_cell_type", "better"] and c.loc["nmi", "better"]
    assert (c["ci_low"] <= c["ci_high"]).all()


def test_compare_from_collected_files(pbmc, tmp_path):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=REPS, n_splits=3)
    pbmc.write_h5ad(tmp_path / "x.h5ad")
    scmf.bm.to_json(pbmc, tmp_path / "x.json")
    direct = scmf.bm.compare(pbmc, baseline=REPS[1])
    for data in (tmp_path / "x.h5ad", scmf.bm.collect([tmp_path / "x.json"], replicates=True)):
        got = scmf.bm.compare(data, baseline=REPS[1])
        np.testing.assert_allclose(got["p_value"], direct["p_value"])
    with pytest.raises(ValueError, match="replicates=True"):
        scmf.bm.compare(scmf.bm.collect([tmp_path / "x.h5ad"]), baseline=REPS[1])


def test_rank_summary_orders_by_direction(pbmc):
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=REPS, dataset_name="types")
    scmf.bm.linear_probe(pbmc, "phase", use_rep=REPS, dataset_name="phase")
    r = scmf.bm.rank_summary(pbmc)
    assert list(r.index) == REPS
    assert r.loc["X_pca_baseline", "n_datasets"] == 2


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from scmf.bm._compare import holm

    rng = np.random.default_rng(0)
    p = rng.random(40) ** 3
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1])
    with_nan = np.array([0.01, 0.04, 0.03, np.nan, 0.2])
    np.testing.assert_allclose(holm(with_nan), [0.04, 0.09, 0.09, np.nan, 0.2])


@pytest.mark.slow
def test_summary_fits_80_columns(pbmc):
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.tl.embed(pbmc, "pca")
    scmf.bm.linear_probe(pbmc, "bulk_labels", use_rep=["X_scmf", *reps])
    scmf.bm.embedding_quality(
        pbmc, "bulk_labels", batch_key="phase", use_rep=["X_scmf", *reps], n_bootstrap=0
    )
    text = str(scmf.bm.summary(pbmc))
    assert max(len(line) for line in text.splitlines()) <= 80, text


def test_reference_metrics_are_never_tested():
    """The perturbation benchmark's baseline_* metrics are the same beside every representation:
    testing them would only inflate the Holm correction of the real comparisons."""
    adata = scmf.datasets.toy_perturbation(n_perturbations=12, seed=0)
    scmf.tl.baselines(adata, n_comps=10)
    scmf.bm.perturbation(adata, use_rep=REPS, n_top_genes=20, n_splits=3)
    t = scmf.bm.results(adata)
    refs = sorted(
        m for m in set(t["metric"]) if scmf.bm.declaration("perturbation").metric(m).group == "baseline"
    )
    assert refs and all(m.startswith("baseline_") for m in refs)
    c = scmf.bm.compare(adata, baseline="X_random_baseline")
    assert not set(c["metric"]) & set(refs)
    tested = set(t["metric"]) - set(refs)
    assert set(c["metric"]) == tested  # every other metric is tested, and the correction counts only those
    from scmf.bm._compare import holm

    np.testing.assert_allclose(c["p_holm"], holm(c["p_value"].to_numpy(dtype=float)))


def _table(rows):
    return pd.DataFrame(rows, columns=["benchmark", "dataset", "rep", "metric", "value"])


def test_aggregates_combine_only_comparable_metrics():
    """GRN: AUROC (~0.5) and raw AUPRC (~0.001 at a 0.09% positive rate) are not on one scale;
    averaged, every representation would look alike. No aggregate of them is shown."""
    rows = []
    for rep, auroc, auprc, ratio in (
        ("A", 0.62, 0.0014, 1.55),
        ("B", 0.58, 0.0012, 1.31),
        ("C", 0.51, 0.0009, 1.06),
    ):
        rows += [("grn_inference", "kang", rep, "auroc", auroc), ("grn_inference", "kang", rep, "auprc", auprc),
                 ("grn_inference", "kang", rep, "auprc_ratio", ratio)]  # fmt: skip
    agg = scmf.bm.aggregate_table(_table(rows))
    cols = [c[1] for c in agg.shown.columns]
    assert cols == ["auroc", "auprc", "auprc_ratio"] and agg.scores == []
    assert not scmf.bm.declaration("grn_inference").metric("auprc").aggregated
    # linear probe metrics share one scale: their aggregate is their mean
    lp = [("linear_probe", "d", "A", m, v) for m, v in (("accuracy", 0.8), ("f1_macro", 0.6))]
    agg = scmf.bm.aggregate_table(_table(lp))
    assert agg.scores == [("linear_probe", "aggregate")]
    assert agg.shown[("linear_probe", "aggregate")].iloc[0] == pytest.approx(0.7)


def test_min_max_scaling_stays_within_each_dataset():
    """Two datasets whose values differ in level: each is scaled on its own (as scib_table does)."""
    rows = []
    for ds, base in (("hsmm", 0.2), ("kang", 0.7)):
        for rep, bump in (("A", 0.0), ("B", 0.1), ("C", 0.05)):
            rows += [
                ("linear_probe", ds, rep, "accuracy", base + bump),
                ("linear_probe", ds, rep, "f1_macro", base + 2 * bump),
            ]
    agg = scmf.bm.aggregate_table(_table(rows), min_max_scale=True)
    acc = agg.shown[("linear_probe", "accuracy")]
    for ds in ("hsmm", "kang"):
        part = acc[[i for i in acc.index if i.startswith(ds)]]
        assert part.min() == pytest.approx(0.0) and part.max() == pytest.approx(1.0)
        assert part[f"{ds} · B"] == pytest.approx(1.0) and part[f"{ds} · A"] == pytest.approx(0.0)


@pytest.mark.slow
def test_two_models_in_two_files_are_ranked_against_each_other(tmp_path):
    """Two CLI runs (one model each, the same two datasets) saved as two files: the models are
    ranked against each other per dataset, over 2 datasets, never merged into one row."""
    files = {}
    for model, (a, b) in {"pca": ("pca", "pca"), "rnd": ("random", "random")}.items():
        adatas = []
        for name, key in (("types", "bulk_labels"), ("phase", "phase")):
            ad = sc.datasets.pbmc68k_reduced()
            scmf.tl.embed(ad, a if name == "types" else b, n_comps=20)  # stored under X_scmf in both files
            scmf.bm.linear_probe(ad, key, n_splits=2, dataset_name=name)
            adatas.append(ad)
        path = tmp_path / f"{model}.json"
        scmf.bm.to_json(adatas, path)
        files[model] = path
    with pytest.raises(ValueError, match="across_sources=True"):
        scmf.bm.rank_summary(files)  # ambiguous: say which argument decides
    r = scmf.bm.rank_summary(files, across_sources=True)
    assert list(r.index) == ["pca · X_scmf", "rnd · X_scmf"]
    assert (r["n_datasets"] == 2).all() and r.loc["pca · X_scmf", "mean_rank"] == 1.0
    pooled = scmf.bm.rank_summary(files, across_sources=False)  # the same model twice: one row
    assert list(pooled.index) == ["X_scmf"] and pooled["n_datasets"].iloc[0] == 2
    ax = scmf.pl.rank_summary(files, across_sources=True, show=False)
    assert ax.get_title() == "mean rank over 2 datasets"

    # compare, the table and the bars read the two files the same way
    with pytest.raises(ValueError, match="across_sources"):
        scmf.bm.compare(files, baseline="X_scmf")
    with pytest.raises(KeyError, match="several sources"):
        scmf.bm.compare(files, baseline="X_scmf", across_sources=True)
    c = scmf.bm.compare(files, baseline="rnd · X_scmf", across_sources=True)
    assert set(c["rep"]) == {"pca · X_scmf"} and set(c["dataset"]) == {"types", "phase"}
    acc = c.set_index(["dataset", "metric"]).loc[("types", "accuracy")]
    one = scmf.bm.collect(files, replicates=True)
    sel = one[(one.dataset == "types") & (one.metric == "accuracy")].set_index("source")["value"]
    assert acc["difference"] == pytest.approx(sel["pca"] - sel["rnd"])
    assert acc["difference"] > 0 and acc["n"] == 2
    t = scmf.bm.aggregate_table(files, min_max_scale=True, across_sources=True)
    col = t.shown[("linear_probe", "accuracy")]
    assert col["types · pca · X_scmf"] == 1.0 and col["types · rnd · X_scmf"] == 0.0  # scaled together
    apart = scmf.bm.aggregate_table(files, min_max_scale=True).shown[("linear_probe", "accuracy")]
    assert (apart == 1.0).all()  # one row per (source, dataset): nothing to scale against
    axs = scmf.pl.benchmark_comparison(
        files, "linear_probe", across_sources=True, baseline="rnd · X_scmf", show=False
    )
    assert len(axs) == 2  # one panel per dataset, both models in each
    assert [x.get_text() for x in axs[-1].get_legend().get_texts()] == ["pca · X_scmf", "rnd · X_scmf"]
    assert len(scmf.pl.benchmark_comparison(files, "linear_probe", show=False)) == 4


def test_pairing_across_files_needs_the_same_cells(tmp_path, pbmc):
    """Two files of one dataset scored on different cells are never paired in a test."""
    files = {}
    for name, ad in (("all", pbmc.copy()), ("half", pbmc[: pbmc.n_obs // 2].copy())):
        ad.uns.pop("scmf_bench", None)
        scmf.bm.linear_probe(ad, "bulk_labels", use_rep="X_pca_baseline", n_splits=2)
        files[name] = ad
    with pytest.raises(ValueError, match="same cells"):
        scmf.bm.compare(files, baseline="all · X_pca_baseline", across_sources=True)


@pytest.mark.slow
def test_summary_of_several_datasets_fits_80_columns():
    """Three datasets x three representations: one block per dataset, not nine columns."""
    a = sc.datasets.pbmc68k_reduced()
    scmf.tl.baselines(a, n_comps=20)
    scmf.tl.embed(a, "pca", n_comps=10)
    reps = ["X_scmf", *REPS]
    for name, key in (
        ("bulk_types", "bulk_labels"),
        ("cell_cycle_phase", "phase"),
        ("louvain_clusters", "louvain"),
    ):
        scmf.bm.linear_probe(a, key, use_rep=reps, n_splits=2, dataset_name=name)
    wide = scmf.bm.summary(a)
    text = str(wide)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert sorted(wide.columns) == sorted(reps)
    assert wide.loc[("cell_cycle_phase", "linear_probe", "accuracy"), "X_scmf"] == pytest.approx(
        scmf.bm.results(a)
        .query("dataset == 'cell_cycle_phase' and rep == 'X_scmf' and metric == 'accuracy'")["value"]
        .item(),
        abs=1e-3,
    )


@pytest.mark.slow
def test_clustering_seed_variation_reaches_the_test(pbmc):
    """NMI/ARI depend on Leiden's seed: with one clustering run compare does not test them; with
    several, the replicates carry the seed-to-seed variation (wider than one seed's)."""
    scmf.tl.embed(pbmc, "pca", n_comps=10, key_added="X_pca10")
    reps = ["X_pca_baseline", "X_pca10"]
    kw = {"batch_key": "phase", "use_rep": reps, "n_bootstrap": 60, "clustering": "leiden"}
    one = pbmc.copy()
    scmf.bm.embedding_quality(one, "bulk_labels", cluster_seeds=1, **kw)
    c1 = scmf.bm.compare(one, baseline="X_pca10").set_index("metric")
    for m in ("nmi", "ari", "bio", "overall"):
        assert np.isnan(c1.loc[m, "p_value"]) and "clustering seed" in c1.loc[m, "test"], m
    assert np.isfinite(c1.loc["asw_cell_type", "p_value"])  # no clustering in it: tested as before
    many = pbmc.copy()
    scmf.bm.embedding_quality(many, "bulk_labels", cluster_seeds=4, **kw)
    c4 = scmf.bm.compare(many, baseline="X_pca10").set_index("metric")
    assert np.isfinite(c4.loc["ari", "p_value"]) and c4.loc["ari", "test"] == "paired bootstrap"
    # the stored values are the first run's, as with one seed; the replicates spread more
    r1, r4 = (
        scmf.bm.results(a, replicates=True).query("metric == 'ari'").set_index("rep") for a in (one, many)
    )
    assert r4.loc["X_pca10", "value"] == r1.loc["X_pca10", "value"]
    d1 = np.asarray(r1.loc["X_pca_baseline", "replicates"]) - np.asarray(r1.loc["X_pca10", "replicates"])
    d4 = np.asarray(r4.loc["X_pca_baseline", "replicates"]) - np.asarray(r4.loc["X_pca10", "replicates"])
    assert d4.std() > d1.std()
    assert json.loads(r4.loc["X_pca10", "params"])["cluster_seeds"] == 4
    km = pbmc.copy()
    scmf.bm.embedding_quality(
        km, "bulk_labels", cluster_seeds=4, **{**kw, "clustering": "kmeans", "n_bootstrap": 5}
    )
    params = json.loads(scmf.bm.results(km)["params"].iloc[0])
    assert params["cluster_seeds"] == 1  # what was run: KMeans clusters once


def test_pairing_across_files_needs_the_same_cells_in_the_same_order(pbmc):
    """The same number of cells is not enough: other cells, or the same cells shuffled, give
    other splits, so results of two such files are never paired; the same cells pair."""
    half = pbmc.n_obs // 2
    shuffle = np.random.default_rng(0).permutation(half)
    cases = {
        "first": pbmc[:half].copy(),
        "last": pbmc[pbmc.n_obs - half :].copy(),
        "shuffled": pbmc[:half][shuffle].copy(),
        "same": pbmc[:half].copy(),
    }
    for ad in cases.values():
        ad.uns.pop("scmf_bench", None)
        scmf.bm.linear_probe(ad, "bulk_labels", use_rep="X_pca_baseline", n_splits=2)
    stored = {k: _store.get(ad, "linear_probe").metadata["cells"] for k, ad in cases.items()}
    assert stored["first"] == stored["same"] == _store.cells_fingerprint(pbmc.obs_names[:half])
    assert len(set(stored.values())) == 3
    for other in ("last", "shuffled"):
        files = {"first": cases["first"], other: cases[other]}
        with pytest.raises(ValueError, match="different cells"):
            scmf.bm.compare(files, baseline="first · X_pca_baseline", across_sources=True)
    c = scmf.bm.compare(
        {"first": cases["first"], "same": cases["same"]},
        baseline="first · X_pca_baseline",
        across_sources=True,
    )
    assert set(c["rep"]) == {"same · X_pca_baseline"}
    assert np.allclose(c["difference"], 0.0)  # the same cells, splits and model: identical
