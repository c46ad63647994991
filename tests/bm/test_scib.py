"""scmf.bm.scib against scib-metrics: each function called directly, and the Benchmarker's table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import scmf
from scmf import _store
from scmf.bm._metrics import knn

scib_metrics = pytest.importorskip("scib_metrics")


def _reference(X, labels, batches, X_pre):
    """Every metric by scib-metrics' own function on the exact 90-neighbour graph (subset as the
    Benchmarker subsets its graph)."""
    g90 = knn(X, 90)
    g50, g15 = g90.subset_neighbors(50), g90.subset_neighbors(15)
    km = scib_metrics.nmi_ari_cluster_labels_kmeans(X, labels)
    ld = scib_metrics.nmi_ari_cluster_labels_leiden(g15, labels, optimize_resolution=True)
    return {
        "isolated_labels": scib_metrics.isolated_labels(X, labels, batches),
        "leiden_nmi": ld["nmi"],
        "leiden_ari": ld["ari"],
        "kmeans_nmi": km["nmi"],
        "kmeans_ari": km["ari"],
        "silhouette_label": scib_metrics.silhouette_label(X, labels),
        "clisi": scib_metrics.clisi_knn(g90, labels),
        "silhouette_batch": scib_metrics.silhouette_batch(X, labels, batches),
        "bras": scib_metrics.bras(X, labels, batches),
        "ilisi": scib_metrics.ilisi_knn(g90, batches),
        "kbet": scib_metrics.kbet_per_label(g50, batches, labels),
        "graph_connectivity": scib_metrics.graph_connectivity(g15, labels),
        "pcr_comparison": scib_metrics.pcr_comparison(X_pre, X, batches, categorical=True),
    }


def _check(adata, label_key, batch_key, rep):
    X = np.asarray(adata.obsm[rep], dtype=np.float32)
    adata.obsm[rep] = X
    labels = adata.obs[label_key].astype(str).to_numpy()
    batches = adata.obs[batch_key].astype(str).to_numpy()
    X_pre = scmf.bm.pre_integration_pca(adata)
    adata.obsm["X_pre"] = X_pre
    scmf.bm.scib(
        adata, label_key, batch_key, use_rep=rep, metrics="all", pre_integrated="X_pre", progress=False
    )
    got = _store.get(adata, "scib", rep=rep).metrics
    ref = _reference(X, labels, batches, X_pre)
    for m, v in ref.items():
        assert got[m] == pytest.approx(float(v), abs=1e-6, nan_ok=True), (m, got[m], float(v))
    bio = np.nanmean([got[m] for m in scmf.bm._scib.BIO])
    batch = np.nanmean([got[m] for m in scmf.bm._scib.BATCH])
    assert got["bio"] == pytest.approx(bio) and got["batch"] == pytest.approx(batch)
    assert got["total"] == pytest.approx(0.6 * bio + 0.4 * batch)
    return got


@pytest.mark.slow
def test_equals_scib_metrics_on_kang(kang):
    a = kang[::2].copy()
    got = _check(a, "cell_type", "condition", "X_pca")
    assert 0 < got["kbet"] < 1 and 0 < got["ilisi"] < 1  # informative values, not degenerate ones


@pytest.mark.slow
def test_equals_scib_metrics_on_norman(norman):
    # perturbations as labels: McFaline's are spread over three cell lines, Norman's in K562 only
    got = _check(norman[::2].copy(), "perturbation", "cell_type", "X_pca_baseline")
    assert np.isfinite(got["kbet"]) and np.isfinite(got["bras"])
    _check(norman[::2].copy(), "perturbation", "dataset", "X_pca_baseline")  # only controls in both


@pytest.mark.slow
def test_equals_scib_metrics_on_synthetic():
    toy = scmf.datasets.toy(
        1500, 16, n_labels=5, n_batches=3, label_sep=0.6, batch_shift=0.8, n_genes=200, seed=3
    )
    _check(toy, "cell_type", "batch", "X_scmf")


def test_default_pre_integration_is_the_benchmarkers_pca(kang):
    import scanpy as sc

    a = kang[::3].copy()
    b = a.copy()
    before = (set(a.obsm), set(a.uns), set(a.varm))
    mine = scmf.bm.pre_integration_pca(a)
    assert (set(a.obsm), set(a.uns), set(a.varm)) == before  # nothing written to the user's object
    sc.tl.pca(b, svd_solver="arpack", use_highly_variable=False)  # what Benchmarker.prepare runs
    np.testing.assert_allclose(np.abs(mine), np.abs(b.obsm["X_pca"]), rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_reproduces_the_benchmarker_table(kang):
    from scib_metrics.benchmark import Benchmarker

    a = kang[::2].copy()
    scmf.tl.baselines(a, n_comps=20, seed=0)
    reps = ["X_pca_baseline", "X_random_baseline", "X_pca"]
    for r in reps:
        a.obsm[r] = np.asarray(a.obsm[r], dtype=np.float32)
    a.obsm["X_pre"] = scmf.bm.pre_integration_pca(a)
    bm = Benchmarker(
        a.copy(),
        batch_key="condition",
        label_key="cell_type",
        embedding_obsm_keys=reps,
        pre_integrated_embedding_obsm_key="X_pre",
        progress_bar=False,
    )
    bm.prepare(neighbor_computer=lambda X, k: knn(np.asarray(X), k))
    bm.benchmark()
    scmf.bm.scib(a, "cell_type", "condition", use_rep=reps, pre_integrated="X_pre", progress=False)
    raw = bm.get_results(min_max_scale=False)
    for scaled in (False, True):
        want = bm.get_results(min_max_scale=scaled)
        got = scmf.bm.scib_table(a, min_max_scale=scaled)
        assert list(got.columns) == list(want.columns)
        assert got.loc["Metric Type"].tolist() == want.loc["Metric Type"].tolist()
        for col in want.columns:
            w = pd.to_numeric(want.loc[reps, col]).to_numpy(float)
            g = pd.to_numeric(got.loc[reps, col]).to_numpy(float)
            span = np.ptp(pd.to_numeric(raw.loc[reps, col]).to_numpy(float)) if scaled else 1.0
            # min-max scaling divides the metrics' float32 rounding (< 1e-6) by the column's span
            np.testing.assert_allclose(g, w, atol=1e-6 / min(span, 1.0), err_msg=f"{col} scaled={scaled}")


def test_bad_input(pbmc):
    pbmc.obs["one"] = "b"
    with pytest.raises(ValueError, match="at least 2 batches"):
        scmf.bm.scib(pbmc, "bulk_labels", "one", use_rep="X_pca_baseline")
    with pytest.raises(ValueError, match="unknown scIB metric"):
        scmf.bm.scib(pbmc, "bulk_labels", "phase", use_rep="X_pca_baseline", metrics=["asw"])
    scmf.bm.scib(pbmc, "bulk_labels", "phase", use_rep="X_pca_baseline", metrics=["bras"], dataset_name="x")
    scmf.bm.scib(
        pbmc, "bulk_labels", "phase", use_rep="X_random_baseline", metrics=["ilisi"], dataset_name="x"
    )
    with pytest.raises(ValueError, match="different settings"):
        scmf.bm.scib_table(pbmc)

    import anndata as ad

    only = ad.AnnData(
        obs=pbmc.obs, obsm={"X_emb": pbmc.obsm["X_pca_baseline"], "X_unint": pbmc.obsm["X_pca"]}
    )
    with pytest.raises(ValueError, match="Pass pre_integrated='<obsm key>'"):
        scmf.bm.scib(only, "bulk_labels", "phase", use_rep="X_emb", metrics=["pcr_comparison"])
    scmf.bm.scib(
        only, "bulk_labels", "phase", use_rep="X_emb", metrics=["pcr_comparison"], pre_integrated="X_unint"
    )
    assert 0 <= scmf.bm.results(only)["value"].iloc[0] <= 1


def test_table_keeps_files_and_datasets_apart(pbmc):
    kw = {
        "use_rep": ["X_pca_baseline", "X_random_baseline"],
        "metrics": ["silhouette_label", "bras"],
        "progress": False,
    }
    a, b = pbmc.copy(), pbmc.copy()
    scmf.bm.scib(a, "bulk_labels", "phase", dataset_name="pbmc", **kw)
    scmf.bm.scib(b, "louvain", "phase", dataset_name="pbmc", **kw)  # same dataset name, another file
    table = scmf.bm.collect({"one": a, "two": b})
    with pytest.raises(ValueError, match=r"several datasets/sources \(\['one · pbmc', 'two · pbmc'\]\)"):
        scmf.bm.scib_table(table)
    one = scmf.bm.scib_table(table, source="one")
    assert one.loc["X_pca_baseline", "Silhouette label"] == pytest.approx(
        _store.get(a, "scib", rep="X_pca_baseline").metrics["silhouette_label"]
    )


def _exact_and_approximate(adata, label_key, batch_key, reps, **kw):
    out = {}
    for approximate in (False, True):
        scmf.bm.scib(
            adata, label_key, batch_key, use_rep=reps, approximate=approximate, progress=False,
            pre_integrated="X_pre", dataset_name=f"approximate_{approximate}", **kw,
        )  # fmt: skip
        out[approximate] = {
            r: _store.get(adata, "scib", rep=r, dataset=f"approximate_{approximate}") for r in reps
        }
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", ["kang", "norman", "synthetic"])
def test_approximate_path_is_explicit_stored_and_close(case, kang, norman):
    if case == "kang":
        adata, lab, bat = kang.copy(), "cell_type", "condition"
        adata.obsm["X_pre"] = adata.obsm["X_pca"]
        reps = ["X_pca"]
    elif case == "norman":
        adata, lab, bat = norman.copy(), "perturbation", "cell_type"  # McFaline's perturbations span 3 lines
        adata.obsm["X_pre"] = adata.obsm["X_pca_baseline"]
        reps = ["X_pca_baseline", "X_random_baseline"]
    else:
        adata = scmf.datasets.toy(6000, 16, n_labels=6, n_batches=3, label_sep=0.8, batch_shift=0.8, seed=4)
        lab, bat = "cell_type", "batch"
        adata.obsm["X_pre"] = adata.obsm["X_scmf"]
        reps = ["X_scmf"]
    # samples smaller than the data, so the approximations are exercised
    got = _exact_and_approximate(adata, lab, bat, reps, silhouette_sample=1000, kbet_sample=300)
    for rep in reps:
        e, a = got[False][rep], got[True][rep]
        assert e.params["approximate"] is False and a.params["approximate"] is True
        assert a.params["silhouette_sample"] == 1000 and a.params["kbet_sample"] == 300
        assert "pynndescent" in a.metadata["neighbors"]
        for m in ("silhouette_label", "isolated_labels"):
            se = a.metadata[f"{m}_se"]
            assert 0 <= se < 0.02  # 0 where every cell of the labels concerned is sampled
            assert abs(a.metrics[m] - e.metrics[m]) < max(4 * se, 2e-3), (rep, m)
        # the graph metrics on an approximate graph with high recall, and the untouched ones
        for m in ("clisi", "ilisi", "graph_connectivity"):
            assert a.metrics[m] == pytest.approx(e.metrics[m], abs=0.01), (rep, m)
        for m in ("bras", "pcr_comparison"):
            assert a.metrics[m] == pytest.approx(e.metrics[m], abs=1e-6), (rep, m)
        # KMeans: scikit-learn's Lloyd with scib-metrics' settings, seeded with seed=0
        from sklearn.cluster import KMeans
        from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

        y = adata.obs[lab].astype(str).to_numpy()
        pred = KMeans(np.unique(y).size, n_init=1, max_iter=300, tol=1e-4, random_state=0).fit_predict(
            adata.obsm[rep]
        )
        assert a.metrics["kmeans_nmi"] == pytest.approx(normalized_mutual_info_score(y, pred), abs=1e-12)
        assert a.metrics["kmeans_ari"] == pytest.approx(adjusted_rand_score(y, pred), abs=1e-12)
        assert abs(a.metrics["kmeans_nmi"] - e.metrics["kmeans_nmi"]) < 0.1  # another seed's clusters
        # kBET: every label's own diffusion map, a sample of its cells tested (0.0016 at most here)
        assert a.metrics["kbet"] == pytest.approx(e.metrics["kbet"], abs=0.01), rep


@pytest.mark.slow
def test_auto_switch_and_table_refuses_to_mix(pbmc):
    adata = pbmc.copy()
    adata.obsm["X_pre"] = adata.obsm["X_pca"]
    kw = {"metrics": ["silhouette_label", "graph_connectivity"], "pre_integrated": "X_pre", "progress": False}
    scmf.bm.scib(adata, "bulk_labels", "phase", use_rep="X_pca", **kw)
    assert _store.get(adata, "scib").params["approximate"] is False  # "auto" at 700 cells: exact
    scmf.bm.scib(
        adata, "bulk_labels", "phase", use_rep="X_umap", approximate=True, silhouette_sample=200, **kw
    )
    with pytest.raises(ValueError, match="computed exactly and approximately"):
        scmf.bm.scib_table(adata)
    with pytest.raises(ValueError, match="silhouette_sample must be an integer >= 100"):
        scmf.bm.scib(
            adata, "bulk_labels", "phase", use_rep="X_pca", approximate=True, silhouette_sample=10, **kw
        )
    with pytest.raises(ValueError, match="approximate must be True, False or 'auto'"):
        scmf.bm.scib(adata, "bulk_labels", "phase", use_rep="X_pca", approximate="yes", **kw)


def test_kbet_sample_tests_cells_against_the_whole_label():
    """The approximate path's kBET tests a sample of a label's cells, but each against the
    diffusion map and neighbours of all its cells: a tested cell's verdict is the one it gets
    when every cell is tested, and the score is the sample's share of those verdicts."""
    from scmf.bm._metrics import kbet_per_label
    from scmf.bm._metrics._kbet import diffusion_map, kbet_accepted

    toy = scmf.datasets.toy(
        3000, 16, n_labels=3, n_batches=3, label_sep=1.0, batch_shift=0.2, n_genes=0, seed=5
    )
    X = np.asarray(toy.obsm["X_scmf"], dtype=np.float32)
    labels = toy.obs["cell_type"].astype(str).to_numpy()
    batches = toy.obs["batch"].astype(str).to_numpy()
    g50 = knn(X, 50)
    mask = labels == labels[0]
    sub = g50.knn_graph_connectivities[mask][:, mask]
    sub.sort_indices()
    b = pd.Categorical(batches[mask]).codes
    emb, _ = diffusion_map(sub, 100)
    every = kbet_accepted(emb, b, 70, 0.05)
    assert 0.2 < every.mean() < 0.8  # a label whose verdicts are mixed
    rows = np.sort(np.random.default_rng(0).choice(mask.sum(), 300, replace=False))
    np.testing.assert_array_equal(kbet_accepted(emb, b, 70, 0.05, test=rows), every[rows])

    exact = kbet_per_label(g50, batches, labels)
    assert kbet_per_label(g50, batches, labels, max_cells=mask.sum() + 100) == exact  # no label sampled
    sampled = [kbet_per_label(g50, batches, labels, max_cells=300, seed=s) for s in range(3)]
    assert len(set(sampled)) > 1  # the seed draws the samples
    # a mean over three labels of sample shares: within four standard errors of the exact score
    assert all(abs(v - exact) < 4 * 0.5 / np.sqrt(3 * 300) for v in sampled), (sampled, exact)


@pytest.mark.parametrize(("hint", "solves"), [(None, ["T"]), (0.3, ["p(T)"]), (0.9999, ["p(T)", "T"])])
def test_diffusion_eigenpairs_through_the_polynomial_are_arpacks(hint, solves, monkeypatch):
    """A label large enough for the Chebyshev-filtered solve gets ARPACK's own eigenpairs of
    largest magnitude (the same eigenvalues, the same subspace), with or without a cut-off
    hint, and a hint above the true cut-off (checked after the solve) falls back to a bound
    that holds."""
    import scipy.sparse.linalg as sla
    from scipy.sparse.linalg import eigsh

    from scmf.bm._metrics import _kbet

    toy = scmf.datasets.toy(
        6000, 16, n_labels=1, n_batches=3, label_sep=1.0, batch_shift=0.2, n_genes=0, seed=3
    )
    conn = knn(np.asarray(toy.obsm["X_scmf"], dtype=np.float32), 50).knn_graph_connectivities
    T = _kbet.transition_matrix(conn)
    monkeypatch.setattr(_kbet, "POLYNOMIAL_FROM", 5000)  # from 20,000 cells by default
    want, V = eigsh(T, k=100, which="LM")
    seen = []

    def spy(A, *args, **kwargs):
        seen.append("p(T)" if isinstance(A, sla.LinearOperator) else "T")
        return eigsh(A, *args, **kwargs)

    monkeypatch.setattr(sla, "eigsh", spy)
    got, W, cutoff = _kbet.leading_eigenpairs(T, 100, cutoff_hint=hint)
    assert seen == solves  # no hint: ARPACK on T; a hint too high: p(T) checked, then T
    np.testing.assert_allclose(np.sort(got), np.sort(want), atol=1e-9)
    assert cutoff == pytest.approx(np.abs(want).min(), abs=1e-9)
    # the same invariant subspace: every principal angle ~0
    np.testing.assert_allclose(np.linalg.svd(V.T @ W, compute_uv=False), 1.0, atol=1e-7)
    # and the eigenvectors themselves, each up to its sign
    np.testing.assert_allclose(np.abs(np.sum(V[:, np.argsort(want)] * W, axis=0)), 1.0, atol=1e-6)
    # diffusion components: scib-metrics' scaling of the same eigenpairs
    monkeypatch.setattr(sla, "eigsh", eigsh)
    emb, c2 = _kbet.diffusion_map(conn, 100, cutoff_hint=hint)
    assert c2 == pytest.approx(cutoff) and emb.shape == (6000, 100) and emb.dtype == np.float32
