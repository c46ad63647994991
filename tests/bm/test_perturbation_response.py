"""perturbation_response: cell-eval's metrics, pdex's DE, the references, the ceiling and the shift splits."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

import scmf
from scmf import _store
from scmf._kernels import benjamini_hochberg, rank_sum_vs_reference
from scmf.bm._metrics._profiles import PROFILE_METRICS, predicted_fdr, profile_scores

#: Norman's targets are mostly not among its 500 measured genes (said once per call; asserted below)
pytestmark = pytest.mark.filterwarnings("ignore:perturbation_response.*not in var_names")


@pytest.fixture
def k562(norman):
    """Norman 2019's K562 CRISPRa screen: 33 perturbations, 5 of them doubles, 100 controls."""
    return norman[norman.obs["dataset"] == "norman19"].copy()


def test_rank_sum_kernel_equals_scipy():
    from scipy.stats import false_discovery_control, mannwhitneyu

    rng = np.random.default_rng(0)
    X = rng.poisson(0.5, (600, 40)).astype(float)
    X[:, :5] = np.round(rng.normal(0, 1, (600, 5)), 1)  # negative values and many ties
    group = rng.integers(-1, 4, 600)
    group[:10] = -2  # left out
    Xc = sparse.csc_matrix(X)
    U, P = rank_sum_vs_reference(
        Xc.indptr,
        Xc.indices,
        Xc.data,
        group,
        4,
        np.bincount(group[group >= 0], minlength=4),
        int((group == -1).sum()),
    )
    for k in range(4):
        for j in range(40):
            r = mannwhitneyu(X[group == k, j], X[group == -1, j], method="asymptotic")
            assert U[k, j] == pytest.approx(r.statistic, abs=1e-9)
            assert P[k, j] == pytest.approx(r.pvalue, rel=1e-10)
    np.testing.assert_allclose(benjamini_hochberg(P), false_discovery_control(P, axis=-1), rtol=1e-12)


def _run(adata, **kw):
    scmf.bm.perturbation_response(adata, use_rep=["X_pca_baseline", "X_random_baseline"], **kw)
    return {
        rep: _store.get(adata, "perturbation_response", rep=rep)
        for rep in ("X_pca_baseline", "X_random_baseline")
    }


def _per(r, split="random", predictor="model"):
    t = pd.DataFrame(r.artifacts["per_perturbation"])
    return t[(t["split"] == split) & (t["predictor"] == predictor)].set_index("perturbation")


@pytest.mark.slow
def test_equals_cell_eval_and_pdex(k562):
    """Every stored per-perturbation value equals cell-eval's on the same profiles, DE from pdex itself."""
    import anndata as ad
    import pdex
    import polars as pl
    from cell_eval import metrics as ce
    from cell_eval._types import PerturbationAnndataPair, initialize_de_comparison

    r = _run(k562, splits=("random",))["X_pca_baseline"]
    mine = _per(r, predictor="mean_shift")  # covers every held-out perturbation
    test = list(mine.index)
    # measured profiles, independently: pandas group means and pdex's DE
    obs = k562.obs["perturbation"].astype(str).to_numpy()
    X = k562.X.toarray()
    means = pd.DataFrame(X).groupby(obs).mean()
    perts = [p for p in means.index if p != "control"]
    train = [p for p in perts if p not in test]
    ctrl = means.loc["control"].to_numpy()
    pred = np.broadcast_to((means.loc[train] - ctrl).mean(axis=0).to_numpy(), (len(test), ctrl.size))
    stored = pd.DataFrame(r.artifacts["predictions"]["delta"]).assign(
        predictor=r.artifacts["predictions"]["predictor"],
        perturbation=r.artifacts["predictions"]["perturbation"],
    )
    stored = stored[stored["predictor"] == "mean_shift"].set_index("perturbation").loc[test]
    np.testing.assert_allclose(stored.drop(columns="predictor").to_numpy(), pred, rtol=1e-5, atol=1e-7)
    de = pdex.pdex(
        k562, "perturbation", mode="ref", reference="control", is_log1p=True, as_pandas=True, threads=1
    )
    de = de[de["target"].isin(test)]
    # the predicted DE table: every gene, scmf's documented call (a z-test against each gene's spread
    # over the cells known before the prediction: the controls and the training perturbations' cells)
    spread = X[np.isin(obs, [*train, "control"])].var(axis=0, ddof=1)
    n_cells = pd.Series(obs).value_counts()
    pfdr = predicted_fdr(pred, spread, int(n_cells["control"]), n_cells[test].to_numpy())
    genes = np.asarray(k562.var_names)
    from scmf.bm._metrics._profiles import log2_fold_change

    plfc = log2_fold_change(ctrl[None, :] + pred, ctrl[None, :])
    pred_de = pl.DataFrame(
        {
            "target": np.repeat(test, genes.size),
            "feature": np.tile(genes, len(test)),
            "log2_fold_change": plfc.ravel(),
            "p_value": pfdr.ravel(),
            "fdr": pfdr.ravel(),
        }
    )
    real_de = pl.from_pandas(de[["target", "feature", "log2_fold_change", "p_value", "fdr"]])
    cmp = initialize_de_comparison(real_de, pred_de)
    # cell-eval's profiles: the real cells, and one predicted "cell" per perturbation plus the control mean
    keep = np.isin(obs, [*test, "control"])
    real = ad.AnnData(X[keep], obs=pd.DataFrame({"p": obs[keep]}), var=pd.DataFrame(index=genes))
    pred_ad = ad.AnnData(
        np.vstack([ctrl[None, :], ctrl[None, :] + pred]),
        obs=pd.DataFrame({"p": ["control", *test]}),
        var=pd.DataFrame(index=genes),
    )
    pair = PerturbationAnndataPair(real=real, pred=pred_ad, pert_col="p", control_pert="control")
    ref = {
        "pearson_delta": ce.pearson_delta(pair),
        "mae": ce.mae(pair),
        "mse": ce.mse(pair),
        "discrimination_score": ce.discrimination_score(pair, metric="l1"),
        "direction_match": ce.DEDirectionMatch()(cmp),
        "de_recall": ce.DESigGenesRecall()(cmp),
        **{
            f"{kind}_at_{k or 'N'}": ce.de_overlap_metric(cmp, k=k, metric=kind)
            for kind in ("overlap", "precision")
            for k in (50, 100, 200, None)
            if not (kind == "precision" and k is None)
        },
    }
    for metric, values in ref.items():
        for p in test:
            want = values.get(p, np.nan)
            assert mine.loc[p, metric] == pytest.approx(want, abs=1e-9, nan_ok=True), (metric, p)
    assert r.metrics["mean_shift_pearson_delta"] == pytest.approx(mine["pearson_delta"].mean())


@pytest.mark.slow
def test_de_equals_pdex(k562):
    """The measured DE inside the benchmark is pdex's: same p-values, FDRs and log2 fold changes."""
    import pdex

    from scmf._expression import get_expression

    de = pdex.pdex(
        k562, "perturbation", mode="ref", reference="control", is_log1p=True, as_pandas=True, threads=1
    )
    obs = k562.obs["perturbation"].astype(str).to_numpy()
    names = sorted(set(obs) - {"control"})
    code = {p: i for i, p in enumerate(names)}
    group = np.array([-1 if o == "control" else code[o] for o in obs])
    Xc = sparse.csc_matrix(get_expression(k562, None))
    _, P = rank_sum_vs_reference(
        Xc.indptr,
        Xc.indices,
        Xc.data,
        group,
        len(names),
        np.bincount(group[group >= 0]),
        int((group == -1).sum()),
    )
    fdr = benjamini_hochberg(P)
    want = (
        de.pivot(index="target", columns="feature", values="fdr").loc[names, list(k562.var_names)].to_numpy()
    )
    np.testing.assert_allclose(fdr, want, rtol=1e-9, atol=1e-300)
    pv = (
        de.pivot(index="target", columns="feature", values="p_value")
        .loc[names, list(k562.var_names)]
        .to_numpy()
    )
    np.testing.assert_allclose(P, pv, rtol=1e-9, atol=1e-300)


def test_known_answers_oracle_and_shuffled(k562):
    """The truth scores perfectly and at least the ceiling; a shuffled truth scores like the cell-mean baseline."""
    r = _run(k562, splits=("random",))["X_random_baseline"]
    obs = k562.obs["perturbation"].astype(str).to_numpy()
    X = k562.X.toarray()
    means = pd.DataFrame(X).groupby(obs).mean()
    perts = sorted(set(obs) - {"control"})
    ctrl = means.loc["control"].to_numpy()
    true = means.loc[perts].to_numpy() - ctrl
    fdr = np.full(true.shape, 0.01)
    lfc = np.log2((np.expm1(ctrl + true) + 1e-9) / (np.expm1(ctrl) + 1e-9))
    cols = np.array([list(k562.var_names).index(p) if p in k562.var_names else -1 for p in perts])
    oracle = profile_scores(true, true, ctrl, fdr, lfc, cols, fdr)
    assert np.allclose(oracle["pearson_delta"], 1.0) and np.allclose(oracle["mae"], 0.0)
    assert np.allclose(oracle["discrimination_score"], 1.0)
    for m in ("overlap_at_50", "overlap_at_N", "direction_match", "de_recall", "de_precision"):
        assert np.allclose(oracle[m], 1.0), m
    # the stored ceiling is below the oracle on every metric where higher is better
    for m in ("pearson_delta", "discrimination_score"):
        assert r.metrics[f"ceiling_{m}"] <= 1.0
        # the data agree with themselves better than any embedding-free reference does
        assert (
            r.metrics[f"ceiling_{m}"] > max(r.metrics[f"mean_shift_{m}"], r.metrics[f"cell_mean_{m}"]) + 0.1
        )
    shuffled = profile_scores(np.roll(true, 1, axis=0), true, ctrl, fdr, lfc, cols, fdr)
    cell_mean = np.broadcast_to(true.mean(axis=0), true.shape)
    base = profile_scores(cell_mean, true, ctrl, fdr, lfc, cols, fdr)
    assert abs(np.nanmean(shuffled["pearson_delta"]) - np.nanmean(base["pearson_delta"])) < 0.15
    assert (
        np.mean(shuffled["discrimination_score"]) < 0.9
    )  # far below the truth's 1: another profile is not this one


def _synthetic_doubles(seed=0, n_genes=60, cells=60):
    """Singles with random effects; each double's effect is exactly the sum of its singles'."""
    import anndata as ad

    rng = np.random.default_rng(seed)
    singles = [f"G{i}" for i in range(8)]
    effect = {s: rng.normal(0, 0.6, n_genes) * (rng.random(n_genes) < 0.3) for s in singles}
    doubles = [f"G{i}+G{i + 1}" for i in range(0, 8, 2)] + ["G1+G4", "G3+G6"]
    for d in doubles:
        a, b = d.split("+")
        effect[d] = effect[a] + effect[b]
    effect["control"] = np.zeros(n_genes)
    base = rng.uniform(1.0, 2.0, n_genes)
    names, rows = [], []
    for p, e in effect.items():
        n = cells * 3 if p == "control" else cells
        rows.append(np.maximum(base + e + rng.normal(0, 0.3, (n, n_genes)), 0.0))
        names += [p] * n
    adata = ad.AnnData(sparse.csr_matrix(np.vstack(rows)), obs=pd.DataFrame({"perturbation": names}))
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    adata.var_names = [f"g{i}" for i in range(n_genes)]
    adata.obsm["X_random_baseline"] = rng.normal(size=(adata.n_obs, 8))
    adata.obsm["X_pca_baseline"] = rng.normal(size=(adata.n_obs, 8))
    return adata


def test_additive_baseline_on_synthetic_doubles():
    adata = _synthetic_doubles()
    r = _run(adata, normalize="none", splits=("doubles",))["X_random_baseline"]
    assert r.metrics["doubles_additive_pearson_delta"] > 0.97  # the sum is the truth, up to noise
    assert r.metrics["doubles_additive_mae"] < r.metrics["doubles_mean_shift_mae"]
    assert r.metrics["doubles_additive_pearson_delta"] >= r.metrics["doubles_ceiling_pearson_delta"] - 0.02
    per = _per(r, "doubles", "additive")
    assert sorted(per.index) == sorted(p for p in adata.obs["perturbation"].unique() if "+" in p)
    # the additive prediction is exactly the sum of the measured single deltas
    obs = adata.obs["perturbation"].astype(str).to_numpy()
    means = pd.DataFrame(adata.X.toarray()).groupby(obs).mean()
    d = means - means.loc["control"]
    for double in per.index:
        a, b = double.split("+")
        want = np.abs(d.loc[a] + d.loc[b] - d.loc[double]).mean()
        assert per.loc[double, "mae"] == pytest.approx(want, rel=1e-9)
    assert list(r.metadata["splits"]) == ["doubles"]


def test_shift_levels_move_away_and_are_stored(k562):
    r = _run(k562)["X_pca_baseline"]
    dis = r.metadata["shift_dissimilarity"]
    levels = ["random", "shift0.25", "shift0.5", "shift0.75"]
    x = [dis[s] for s in levels]
    assert all(b > a for a, b in itertools.pairwise(x))  # each level is farther from training
    for s in levels[1:]:
        assert f"pearson_delta_{s}" in r.metrics and f"mean_shift_pearson_delta_{s}" in r.metrics
    curve = r.artifacts["curve"]
    assert list(curve["split"])[: len(levels)] == levels
    ys = [r.metrics["mean_shift_pearson_delta"]] + [
        r.metrics[f"mean_shift_pearson_delta_{s}"] for s in levels[1:]
    ]
    auc = np.trapezoid(ys, x) / (x[-1] - x[0])
    assert r.metrics["mean_shift_pearson_delta_shift_auc"] == pytest.approx(auc)
    assert {"doubles_additive_pearson_delta", "doubles_pearson_delta"} <= set(r.metrics)
    per = pd.DataFrame(r.artifacts["per_perturbation"])
    assert set(per["split"]) == {"random", *levels[1:], "doubles"}
    doubles = set(per.loc[per["split"] == "doubles", "perturbation"])
    assert len(doubles) == r.metadata["n_doubles"] >= 3 and all("+" in p for p in doubles)
    singles = {p for p in k562.obs["perturbation"].astype(str) if "+" not in p}
    assert all(set(p.split("+")) <= singles for p in doubles)  # both halves of each double were trained on


def test_compare_is_paired_over_perturbations():
    adata = scmf.datasets.toy_perturbation(n_perturbations=20, target_genes=True, seed=3)
    scmf.tl.baselines(adata, n_comps=10)
    _run(adata, splits=("random",))
    c = scmf.bm.compare(adata, baseline="X_random_baseline", benchmark="perturbation_response").set_index(
        ["rep", "metric"]
    )
    assert np.isfinite(c.loc[("X_pca_baseline", "pearson_delta"), "p_value"])
    assert np.isfinite(c.loc[("linear", "pearson_delta"), "p_value"])
    r = _store.get(adata, "perturbation_response", rep="X_pca_baseline")
    assert r.replicates["pearson_delta"].size == r.metadata["n_test"]


def test_bad_input(k562):
    run = scmf.bm.perturbation_response
    with pytest.raises(ValueError, match="control_label='ctrl' is not a value"):
        run(k562, use_rep="X_pca_baseline", control_label="ctrl")
    with pytest.raises(ValueError, match="splits must be"):
        run(k562, use_rep="X_pca_baseline", splits=("leave_one_out",))
    singles = k562[~k562.obs["perturbation"].astype(str).str.contains(r"\+")].copy()
    with pytest.raises(ValueError, match="includes 'doubles'"):
        run(singles, use_rep="X_pca_baseline", splits=("doubles",))
    run(singles, use_rep="X_pca_baseline")  # "auto" leaves the doubles split out
    assert "doubles" not in list(
        _store.get(singles, "perturbation_response", rep="linear").metadata["splits"]
    )
    few = k562[k562.obs["perturbation"].isin(["control", "KLF1", "FOXO4"])].copy()
    with pytest.raises(ValueError, match="at least 5 perturbations"):
        run(few, use_rep="X_pca_baseline")


def test_every_stored_metric_is_declared(k562):
    _run(k562)
    spec = scmf.bm.declaration("perturbation_response")
    declared = {m.name for m in spec.metrics}
    stored = set(_store.get(k562, "perturbation_response", rep="X_pca_baseline").metrics)
    assert stored <= declared and len(stored) < 70  # an overview, the details in the artifacts
    for m in PROFILE_METRICS:
        assert spec.metric(m).group == "perturbation"
    for ref in ("cell_mean", "mean_shift", "ceiling"):
        assert spec.metric(f"{ref}_pearson_delta").group == "baseline"
    assert spec.metric("mae").higher_is_better is False


def test_contexts_use_their_own_controls(norman):
    """With context_key each (perturbation, cell line) is compared with the controls of its line."""
    scmf.bm.perturbation_response(
        norman, context_key="cell_type", use_rep="X_pca_baseline", splits=("random",)
    )
    r = _store.get(norman, "perturbation_response", rep="X_pca_baseline")
    assert r.metadata["n_contexts"] == 4
    obs = norman.obs[["perturbation", "cell_type"]].astype(str)
    means = (
        pd.DataFrame(norman.X.toarray())
        .groupby([obs["perturbation"].to_numpy(), obs["cell_type"].to_numpy()])
        .mean()
    )
    delta = {
        f"{p} ({c})": means.loc[(p, c)].to_numpy() - means.loc[("control", c)].to_numpy()
        for p, c in means.index
        if p != "control"
    }
    ms = _per(r, predictor="mean_shift")
    test = list(ms.index)
    train = [u for u in delta if u not in test]
    assert len(train) == r.metadata["n_perturbations"] - r.metadata["n_test"]
    line = {u: u.rsplit(" (", 1)[1] for u in delta}
    for (
        u
    ) in test:  # the mean-shift baseline: line-specific deltas of the training perturbations of its own line
        pred = np.mean([delta[t] for t in train if line[t] == line[u]], axis=0)
        assert ms.loc[u, "mae"] == pytest.approx(np.abs(pred - delta[u]).mean(), rel=1e-9)
