from __future__ import annotations

import inspect
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy.stats import pearsonr
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

import scmf
from scmf import ScmfWarning, _store

# most tests here score Norman + McFaline with one global control on purpose (the reference
# recipe); the warning that suggests context_key is tested on its own below
pytestmark = pytest.mark.filterwarnings(
    "ignore:perturbation. the control cells span:scmf._warnings.ScmfWarning"
)


def _reference(adata, rep, key="perturbation", control="control", test_size=0.3, k=50, seed=42):
    """The guide's recipe written plainly: pandas group means, one split over perturbations."""
    X = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    labels = adata.obs[key].astype(str).to_numpy()
    expr = pd.DataFrame(X).groupby(labels).mean()
    emb = pd.DataFrame(adata.obsm[rep].astype(np.float64)).groupby(labels).mean()
    perts = np.array(sorted(p for p in expr.index if p != control))
    delta = expr.loc[perts].to_numpy() - expr.loc[control].to_numpy()
    feats = emb.loc[perts].to_numpy()
    idx = np.arange(perts.size)
    train, test = train_test_split(idx, test_size=int(np.ceil(test_size * perts.size)), random_state=seed)
    pred = Ridge(alpha=1.0).fit(feats[train], delta[train]).predict(feats[test])
    base = delta[train].mean(axis=0)
    out = {"pearson": [], "mse": [], "direction_accuracy": [], "baseline_pearson": [], "above": []}
    for j, t in enumerate(test):
        top = np.argsort(-np.abs(delta[t]), kind="stable")[:k]
        tr, pr, br = delta[t, top], pred[j, top], base[top]
        out["pearson"].append(pearsonr(tr, pr)[0])
        out["mse"].append(np.mean((pr - tr) ** 2))
        out["direction_accuracy"].append(np.mean(np.sign(pr) == np.sign(tr)))
        out["baseline_pearson"].append(pearsonr(tr, br)[0])
        out["above"].append(out["pearson"][-1] > out["baseline_pearson"][-1])
    return {m: float(np.mean(v)) for m, v in out.items()}


def test_equals_plain_recipe_on_norman(norman):
    scmf.bm.perturbation(norman, use_rep="X_pca_baseline")
    got = _store.get(norman, "perturbation").metrics
    ref = _reference(norman, "X_pca_baseline")
    for m in ("pearson", "mse", "direction_accuracy", "baseline_pearson"):
        assert got[m] == pytest.approx(ref[m], rel=1e-9, abs=1e-12), m
    assert got["fraction_above_baseline"] == pytest.approx(ref["above"])


def test_pca_beats_random_on_norman(norman):
    scmf.bm.perturbation(norman, use_rep=["X_pca_baseline", "X_random_baseline"], n_splits=5)
    res = scmf.bm.results(norman).query("metric == 'pearson'").set_index("rep")["value"]
    meta = _store.get(norman, "perturbation", rep="X_pca_baseline").metadata
    assert meta["n_perturbations"] == norman.obs["perturbation"].nunique() - 1
    assert res["X_pca_baseline"] > res["X_random_baseline"] + 0.05, (
        "PCA of the expression should predict perturbation deltas better than a random embedding; "
        f"got {res.to_dict()}"
    )
    # random features carry no information: the probe falls back to the mean shift
    rnd = _store.get(norman, "perturbation", rep="X_random_baseline").metrics
    assert rnd["pearson"] == pytest.approx(rnd["baseline_pearson"], abs=0.02)


def test_splits_aliases_and_artifacts(norman, tmp_path):
    scmf.bm.perturbation(norman, use_rep="X_pca_baseline", test_fraction=0.2, n_splits=3, n_top_genes=20)
    r = _store.get(norman, "perturbation")
    assert r.params["test_size"] == 0.2 and r.metadata["n_top_genes"] == 20
    assert set(r.metrics_std) == set(r.metrics) and all(np.isfinite(list(r.metrics_std.values())))
    per = r.artifacts["per_perturbation"]
    n_test = r.metadata["n_test"]
    assert len(per["perturbation"]) == 3 * n_test and per["pearson"].shape == (3 * n_test,)
    split_means = [np.nanmean(per["pearson"][per["split"] == s]) for s in range(3)]
    assert r.metrics["pearson"] == pytest.approx(np.mean(split_means))
    assert r.metrics_std["pearson"] == pytest.approx(np.std(split_means, ddof=1))
    ex = r.artifacts["examples"]
    assert ex["true"].shape == ex["predicted"].shape == ex["genes"].shape == (min(12, n_test), 20)
    assert set(ex["genes"].ravel()) <= set(norman.var_names)
    norman.write_h5ad(tmp_path / "p.h5ad")
    back = _store.get(ad.read_h5ad(tmp_path / "p.h5ad"), "perturbation")
    np.testing.assert_array_equal(back.artifacts["examples"]["genes"], ex["genes"])
    assert back.metrics == r.metrics
    with pytest.raises(ValueError, match="not both"):
        scmf.bm.perturbation(norman, use_rep="X_pca_baseline", test_size=0.4, test_fraction=0.2)
    # an explicit test_size equal to its default is still a choice: never overridden by the alias
    with pytest.raises(ValueError, match="not both"):
        scmf.bm.perturbation(norman, use_rep="X_pca_baseline", test_size=0.3, test_fraction=0.2)
    spec = scmf.bm.benchmarks()["perturbation"]
    assert spec.resolve({"test_fraction": 0.25}) == {"test_size": 0.25}
    assert (
        "test_fraction" not in inspect.signature(scmf.bm.perturbation).parameters
    )  # one name in the signature
    assert "test_fraction\n    Another name of ``test_size``" in scmf.bm.perturbation.__doc__


def test_bad_input(norman):
    with pytest.raises(
        ValueError, match=r"control_label='ctrl' is not a value.*likely controls: \['control'\]"
    ):
        scmf.bm.perturbation(norman, use_rep="X_pca_baseline", control_label="ctrl")
    one = norman[
        norman.obs["perturbation"].isin(["control", norman.obs["perturbation"].cat.categories[1]])
    ].copy()
    with pytest.raises(ValueError, match="at least 4 perturbations"):
        scmf.bm.perturbation(one, use_rep="X_pca_baseline")
    three = norman[
        norman.obs["perturbation"].isin(["control", *norman.obs["perturbation"].cat.categories[1:4]])
    ].copy()
    with pytest.raises(ValueError, match=r"at least 4 perturbations .*found 3"):  # 2 train + 1 test: refused
        scmf.bm.perturbation(three, use_rep="X_pca_baseline")
    with pytest.raises(KeyError, match="not a column"):
        scmf.bm.perturbation(norman, "guide", use_rep="X_pca_baseline")


def test_small_perturbations_dropped_and_combinations_kept():
    adata = scmf.datasets.toy_perturbation(n_perturbations=10, seed=1)
    labels = adata.obs["perturbation"].astype(str).to_numpy()
    labels[np.flatnonzero(labels == "P0")[:20]] = "P1+P2"  # a combination, 20 cells
    labels[np.flatnonzero(labels == "P3")[:37]] = "P9"  # P3 keeps 3 cells
    adata.obs["perturbation"] = pd.Categorical(labels)
    scmf.tl.embed(adata, "pca", n_comps=8)
    with pytest.warns(ScmfWarning, match=r"dropping 1 perturbations.*P3 \(3\)"):
        scmf.bm.perturbation(adata)
    r = _store.get(adata, "perturbation")
    assert r.metadata["dropped_perturbations"] == ["P3"]
    assert r.metadata["n_perturbations"] == 10  # P0..P9 without P3, plus P1+P2 as its own


def test_counts_are_normalised_as_the_baselines_are():
    """Raw counts: deltas on normalised + log1p'd values (as tl.baselines does for PCA), recorded;
    the same numbers as passing the log-normalised layer; normalize='none' keeps the counts, warned."""
    from scmf._expression import normalise_log1p

    adata = scmf.datasets.toy_perturbation(n_perturbations=8, seed=2)
    adata.layers["counts"] = np.round(np.expm1(adata.X) * 3)
    adata.layers["lognorm"] = normalise_log1p(adata.layers["counts"])
    before = adata.layers["counts"].copy()
    scmf.tl.baselines(adata, n_comps=6)
    kw = {"use_rep": "X_pca_baseline", "n_top_genes": 10, "inplace": False}
    auto = scmf.bm.perturbation(adata, layer="counts", **kw)
    ref = scmf.bm.perturbation(adata, layer="lognorm", **kw)
    forced = scmf.bm.perturbation(adata, layer="counts", normalize="log1p", **kw)
    pd.testing.assert_series_equal(auto["value"], ref["value"])
    pd.testing.assert_series_equal(forced["value"], ref["value"])
    assert json.loads(auto["params"].iloc[0])["normalize"] == "log1p"
    assert json.loads(ref["params"].iloc[0])["normalize"] == "none"
    np.testing.assert_array_equal(adata.layers["counts"], before)  # the user's matrix is untouched
    with pytest.warns(ScmfWarning, match="raw counts"):
        kept = scmf.bm.perturbation(adata, layer="counts", normalize="none", **kw)
    assert not np.allclose(kept["value"], auto["value"])
    with pytest.raises(ValueError, match="normalize must be"):
        scmf.bm.perturbation(adata, normalize="yes", **kw)


def test_context_key_uses_each_contexts_own_controls(norman):
    scmf.bm.perturbation(
        norman, context_key="cell_type", use_rep=["X_pca_baseline", "X_random_baseline"], n_examples=50
    )
    r = _store.get(norman, "perturbation", rep="X_pca_baseline")
    units = norman.obs.groupby(["cell_type", "perturbation"], observed=True).size()
    n_units = int((units.index.get_level_values("perturbation") != "control").sum())
    assert r.metadata["n_perturbations"] == n_units and r.metadata["n_contexts"] == 4
    X = norman.X.toarray()
    for name, genes, true in zip(
        r.artifacts["examples"]["perturbation"],
        r.artifacts["examples"]["genes"],
        r.artifacts["examples"]["true"],
        strict=True,
    ):
        pert, ctx = name[:-1].split(" (")
        cols = norman.var_names.get_indexer(genes)
        sel = (norman.obs["cell_type"] == ctx).to_numpy()
        is_p = (norman.obs["perturbation"] == pert).to_numpy()
        is_c = (norman.obs["perturbation"] == "control").to_numpy()
        expected = X[sel & is_p][:, cols].mean(0) - X[sel & is_c][:, cols].mean(0)
        np.testing.assert_allclose(true, expected, rtol=1e-9, atol=1e-12)
    res = scmf.bm.results(norman).query("metric == 'pearson'").set_index("rep")["value"]
    assert res["X_pca_baseline"] > res["X_random_baseline"]


def test_context_without_controls_is_dropped(norman):
    adata = norman[~((norman.obs["cell_type"] == "A172") & (norman.obs["perturbation"] == "control"))].copy()
    with pytest.warns(ScmfWarning, match=r"contexts with fewer than 5 control cells: MAP2K3 \(A172\)"):
        scmf.bm.perturbation(adata, context_key="cell_type", use_rep="X_pca_baseline")
    assert _store.get(adata, "perturbation").metadata["n_contexts"] == 3


@pytest.mark.parametrize(
    ("kw", "match"), [({"test_size": 1.0}, "fraction in"), ({"n_splits": 0}, "positive integer")]
)
def test_split_settings_are_checked(norman, kw, match):
    with pytest.raises(ValueError, match=match):
        scmf.bm.perturbation(norman, use_rep="X_pca_baseline", **kw)
    with pytest.raises(ValueError, match=match):
        scmf.bm.linear_probe(norman, "cell_type", use_rep="X_pca_baseline", **kw)


def test_controls_of_several_contexts_are_pointed_out(norman):
    kw = {"perturbation_key": "perturbation", "control_label": "control", "use_rep": "X_pca_baseline"}
    with pytest.warns(
        ScmfWarning, match=r"several values of obs\['cell_type'\] \(4 values\).*context_key='cell_type'"
    ):
        scmf.bm.perturbation(norman, **kw)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", ScmfWarning)
        scmf.bm.perturbation(norman, context_key="cell_type", dataset_name="ctx", **kw)
        # a column that cuts across perturbations and controls alike is not a context
        only = norman[norman.obs["cell_type"] == "k562"].copy()
        only.obs["phase"] = np.random.default_rng(0).choice(["G1", "S", "G2M"], only.n_obs)
        scmf.bm.perturbation(only, dataset_name="k562", **kw)
