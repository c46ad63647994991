from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scib_metrics
from scib_metrics.nearest_neighbors import NeighborsResults
from sklearn.neighbors import NearestNeighbors

import scmf
from scmf import ScmfWarning, _store


def _reference(X, labels, batch, k=15, seed=42):
    """scib-metrics' functions called directly, on sklearn's exact kNN."""
    dist, idx = NearestNeighbors(n_neighbors=k).fit(X).kneighbors(X)
    nn = NeighborsResults(indices=idx, distances=dist.astype(np.float32))
    ref = scib_metrics.nmi_ari_cluster_labels_leiden(nn, labels, optimize_resolution=True, seed=seed)
    out = {
        "nmi": ref["nmi"],
        "ari": ref["ari"],
        "asw_cell_type": scib_metrics.silhouette_label(X, labels),
    }
    if batch is not None:
        out["asw_batch"] = scib_metrics.silhouette_batch(X, labels, batch)
        out["graph_connectivity"] = scib_metrics.graph_connectivity(nn, labels)
    return out


@pytest.mark.parametrize("with_batch", [True, False])
@pytest.mark.slow
def test_equals_scib_metrics(toy, with_batch):
    batch_key = "batch" if with_batch else None
    scmf.bm.embedding_quality(toy, batch_key=batch_key)
    got = _store.get(toy, "embedding_quality").metrics
    X = toy.obsm["X_scmf"]
    labels = toy.obs["cell_type"].astype(str).to_numpy()
    batch = toy.obs["batch"].astype(str).to_numpy() if with_batch else None
    ref = _reference(X, labels, batch)
    for m, v in ref.items():
        assert got[m] == pytest.approx(float(v), abs=1e-6), m
    bio = np.mean([got["nmi"], got["ari"], got["asw_cell_type"]])
    if with_batch:
        batch_mean = np.mean([got["asw_batch"], got["graph_connectivity"]])
        assert got["overall"] == pytest.approx(0.6 * bio + 0.4 * batch_mean)
    else:
        assert got["overall"] == pytest.approx(bio)
        assert "asw_batch" not in got


@pytest.mark.slow
def test_pbmc_equals_scib_metrics(pbmc):
    """Real data, overlapping classes: nmi/ari/asw against scib-metrics."""
    scmf.bm.embedding_quality(pbmc, "bulk_labels", batch_key="phase", use_rep="X_pca_baseline")
    got = _store.get(pbmc, "embedding_quality").metrics
    ref = _reference(
        pbmc.obsm["X_pca_baseline"],
        pbmc.obs["bulk_labels"].astype(str).to_numpy(),
        pbmc.obs["phase"].astype(str).to_numpy(),
    )
    for m, v in ref.items():
        assert got[m] == pytest.approx(float(v), abs=1e-6), m


@pytest.mark.slow
def test_kang_real_data(kang):
    """Kang PBMC, stimulated vs control as batches: PCA beats random on every bio metric."""
    adata = kang.copy()
    scmf.tl.baselines(adata, n_comps=30)
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.embedding_quality(adata, "cell_type", batch_key="condition", use_rep=reps, dataset_name="kang")
    pca = _store.get(adata, "embedding_quality", rep="X_pca_baseline").metrics
    rnd = _store.get(adata, "embedding_quality", rep="X_random_baseline").metrics
    for m in ("nmi", "ari", "bio"):
        assert pca[m] > rnd[m] + 0.1, m
    assert pca["asw_cell_type"] > rnd["asw_cell_type"] + 0.03
    assert rnd["nmi"] < 0.1 and rnd["ari"] < 0.05
    ref = scib_metrics.silhouette_batch(
        adata.obsm["X_pca_baseline"],
        adata.obs["cell_type"].to_numpy().astype(str),
        adata.obs["condition"].to_numpy().astype(str),
    )
    assert pca["asw_batch"] == pytest.approx(float(ref), abs=1e-6)


def test_clustering_choices(toy):
    scmf.bm.embedding_quality(toy, batch_key=None, clustering="kmeans", dataset_name="km")
    scmf.bm.embedding_quality(toy, batch_key=None, clustering="leiden", resolution=0.5, dataset_name="l")
    km = _store.get(toy, "embedding_quality", dataset="km")
    labels = toy.obs["cell_type"].astype(str).to_numpy()
    ref = scib_metrics.nmi_ari_cluster_labels_kmeans(toy.obsm["X_scmf"], labels)
    assert km.metrics["nmi"] == pytest.approx(float(ref["nmi"]), abs=1e-6)
    X = toy.obsm["X_scmf"]
    dist, idx = NearestNeighbors(n_neighbors=15).fit(X).kneighbors(X)
    nn = NeighborsResults(indices=idx, distances=dist.astype(np.float32))
    ref = scib_metrics.nmi_ari_cluster_labels_leiden(nn, labels, optimize_resolution=False, resolution=0.5)
    assert _store.get(toy, "embedding_quality", dataset="l").metrics["ari"] == pytest.approx(
        float(ref["ari"]), abs=1e-6
    )
    with pytest.raises(ValueError, match="clustering must be"):
        scmf.bm.embedding_quality(toy, clustering="louvain")


def test_single_batch_and_missing_batch_key(toy):
    toy.obs["one"] = "b"
    with pytest.warns(ScmfWarning, match="single batch"):
        scmf.bm.embedding_quality(toy, batch_key="one")
    r = _store.get(toy, "embedding_quality")
    assert r.metadata["batch_metrics"] == "skipped: single batch"
    assert "asw_batch" not in r.metrics and r.metrics["overall"] == r.metrics["bio"]
    with pytest.raises(KeyError, match="batch_key=None"):
        scmf.bm.embedding_quality(toy, batch_key="donor")


def test_duplicate_embeddings(toy):
    toy.obsm["X_dup"] = toy.obsm["X_scmf"].copy()
    toy.obsm["X_dup"][:100] = 0.0
    with pytest.warns(ScmfWarning, match="99 of 600 cells duplicate"):
        scmf.bm.embedding_quality(toy, use_rep="X_dup")
    toy.obsm["X_const"] = np.ones_like(toy.obsm["X_scmf"])
    with pytest.raises(ValueError, match="same embedding"):
        scmf.bm.embedding_quality(toy, use_rep="X_const")


def test_does_not_copy_expression(toy):
    from anndata import AnnData

    big = AnnData(np.ones((toy.n_obs, 20_000), dtype=np.float32), obs=toy.obs)  # 48 MB of X
    big.obsm["X_scmf"] = toy.obsm["X_scmf"]
    tracemalloc.start()
    scmf.bm.embedding_quality(big, batch_key="batch")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 2**20


def test_bad_inputs(toy):
    with pytest.raises(ValueError, match="n_neighbors"):
        scmf.bm.embedding_quality(toy, n_neighbors=1)
    toy.obs["one"] = "a"
    with pytest.raises(ValueError, match="at least 2 cell types"):
        scmf.bm.embedding_quality(toy, "one")
    toy.obsm["X_inf"] = toy.obsm["X_scmf"].copy()
    toy.obsm["X_inf"][0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or inf"):
        scmf.bm.embedding_quality(toy, use_rep="X_inf")
    assert "scmf_bench" not in toy.uns


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_leiden_nmi_ari_equals_scib_per_resolution_grid(pbmc, n_jobs):
    """One graph per worker, resolutions shared between processes: same as scib-metrics."""
    from scmf.bm._metrics._leiden import leiden_nmi_ari

    dist, idx = NearestNeighbors(n_neighbors=15).fit(pbmc.obsm["X_pca"]).kneighbors(pbmc.obsm["X_pca"])
    nn = NeighborsResults(indices=idx, distances=dist.astype(np.float32))
    labels = pbmc.obs["bulk_labels"].cat.codes.to_numpy()
    got = leiden_nmi_ari(nn.knn_graph_connectivities, labels, seed=7, n_jobs=n_jobs)
    ref = scib_metrics.nmi_ari_cluster_labels_leiden(nn, labels, optimize_resolution=True, seed=7)
    got = {k: got[k] for k in ("nmi", "ari")}
    assert got == {
        "nmi": pytest.approx(float(ref["nmi"]), abs=1e-12),
        "ari": pytest.approx(float(ref["ari"]), abs=1e-12),
    }
    one = leiden_nmi_ari(
        nn.knn_graph_connectivities, labels, optimize_resolution=False, resolution=0.4, seed=7
    )
    ref1 = scib_metrics.nmi_ari_cluster_labels_leiden(
        nn, labels, optimize_resolution=False, resolution=0.4, seed=7
    )
    assert one["nmi"] == pytest.approx(float(ref1["nmi"]), abs=1e-12)
    assert one["nmi"] <= got["nmi"]  # 0.4 is on the grid: the optimum is at least as good


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_coarse_to_fine_runs_the_rule_on_scibs_per_resolution_scores(pbmc, n_jobs):
    """0.4, 1.0, 1.6, 2.0, then the grid neighbours of the best: each run equal to scib-metrics'
    run at that resolution, the kept one the best of those run, whatever the processes."""
    from scmf.bm._metrics._leiden import RESOLUTIONS, leiden_nmi_ari

    dist, idx = NearestNeighbors(n_neighbors=15).fit(pbmc.obsm["X_pca"]).kneighbors(pbmc.obsm["X_pca"])
    nn = NeighborsResults(indices=idx, distances=dist.astype(np.float32))
    labels = pbmc.obs["bulk_labels"].cat.codes.to_numpy()
    ref = {
        r: scib_metrics.nmi_ari_cluster_labels_leiden(
            nn, labels, optimize_resolution=False, resolution=r, seed=3
        )
        for r in RESOLUTIONS
    }
    coarse = [0.4, 1.0, 1.6, 2.0]
    top = max(coarse, key=lambda r: (float(ref[r]["nmi"]), -r))
    i = RESOLUTIONS.index(top)
    expected_runs = sorted({*coarse, *(RESOLUTIONS[j] for j in (i - 1, i + 1) if 0 <= j < len(RESOLUTIONS))})
    best = max(expected_runs, key=lambda r: (float(ref[r]["nmi"]), -r))

    got = leiden_nmi_ari(nn.knn_graph_connectivities, labels, search="coarse_to_fine", seed=3, n_jobs=n_jobs)
    assert sorted(got["seconds"]) == pytest.approx(expected_runs)
    assert got["resolution"] == pytest.approx(best)
    assert got["nmi"] == pytest.approx(float(ref[best]["nmi"]), abs=1e-12)
    assert got["ari"] == pytest.approx(float(ref[best]["ari"]), abs=1e-12)
    grid = leiden_nmi_ari(nn.knn_graph_connectivities, labels, seed=3, n_jobs=n_jobs)
    assert len(grid["seconds"]) == len(RESOLUTIONS)
    assert got["nmi"] <= grid["nmi"]
    with pytest.raises(ValueError, match="search must be one of"):
        leiden_nmi_ari(nn.knn_graph_connectivities, labels, search="bisect")


@pytest.mark.slow  # the approximate path compiles pynndescent (~30 s in a fresh process)
def test_resolution_search_is_stored_and_resolved_from_the_path(pbmc):
    scmf.bm.embedding_quality(
        pbmc, "bulk_labels", n_bootstrap=0, use_rep="X_pca_baseline", dataset_name="grid"
    )
    scmf.bm.embedding_quality(
        pbmc,
        "bulk_labels",
        n_bootstrap=0,
        use_rep="X_pca_baseline",
        approximate=True,
        silhouette_sample=200,
        dataset_name="approx",
    )
    grid = _store.get(pbmc, "embedding_quality", dataset="grid")
    approx = _store.get(pbmc, "embedding_quality", dataset="approx")
    assert grid.params["resolution_search"] == "grid"
    assert approx.params["resolution_search"] == "coarse_to_fine"
    runs = [k for k in approx.artifacts["timings_s"] if k.startswith("leiden_resolution_")]
    assert 5 <= len(runs) <= 6
    assert len([k for k in grid.artifacts["timings_s"] if k.startswith("leiden_resolution_")]) == 10
    assert f"leiden_resolution_{grid.metadata['leiden_resolution']:g}" in grid.artifacts["timings_s"]
    scmf.bm.embedding_quality(
        pbmc, "bulk_labels", n_bootstrap=0, use_rep="X_pca_baseline", clustering="leiden", dataset_name="one"
    )
    assert _store.get(pbmc, "embedding_quality", dataset="one").params["resolution_search"] is None
    with pytest.raises(ValueError, match="resolution_search must be"):
        scmf.bm.embedding_quality(pbmc, "bulk_labels", use_rep="X_pca_baseline", resolution_search="fine")


# ---------------------------------------------------------------- approximate path (large data)


@pytest.mark.slow
def test_approximate_path_is_explicit_and_close(toy):
    scmf.bm.embedding_quality(toy, "cell_type", batch_key="batch", approximate=False, dataset_name="exact")
    scmf.bm.embedding_quality(
        toy, "cell_type", batch_key="batch", approximate=True, silhouette_sample=240, dataset_name="approx"
    )
    exact = _store.get(toy, "embedding_quality", dataset="exact")
    approx = _store.get(toy, "embedding_quality", dataset="approx")
    assert exact.params["approximate"] is False and exact.params["silhouette_sample"] is None
    assert approx.params["approximate"] is True and approx.params["silhouette_sample"] == 240
    assert approx.metadata["neighbors"].startswith("pynndescent") and exact.metadata["neighbors"] == "exact"
    for m, se_key in (("asw_cell_type", "asw_cell_type_se"), ("asw_batch", "asw_batch_se")):
        se = approx.metadata[se_key]
        assert 0 < se < 0.02
        assert abs(approx.metrics[m] - exact.metrics[m]) < 5 * se  # the estimate is within its error
    for m in ("nmi", "ari", "graph_connectivity", "bras"):
        assert approx.metrics[m] == pytest.approx(exact.metrics[m], abs=0.02)
    assert approx.metrics["bras"] == exact.metrics["bras"]  # exact either way
    # two settings, never one row: the tidy table keeps them apart by their params
    table = scmf.bm.results(toy)
    assert set(table["dataset"]) == {"exact", "approx"}


@pytest.mark.slow
def test_auto_switches_above_the_documented_size(toy, monkeypatch):
    import scmf.bm._embedding_quality as eq

    scmf.bm.embedding_quality(toy, "cell_type", n_bootstrap=0)
    assert _store.get(toy, "embedding_quality").params["approximate"] is False
    monkeypatch.setattr(eq, "APPROXIMATE_ABOVE", 500)  # toy has 600 cells
    scmf.bm.embedding_quality(toy, "cell_type", n_bootstrap=0, dataset_name="big")
    assert _store.get(toy, "embedding_quality", dataset="big").params["approximate"] is True
    with pytest.raises(ValueError, match="approximate must be"):
        scmf.bm.embedding_quality(toy, "cell_type", approximate="yes")
    with pytest.raises(ValueError, match="silhouette_sample"):
        scmf.bm.embedding_quality(toy, "cell_type", approximate=True, silhouette_sample=1)


@pytest.mark.slow
def test_sample_covering_every_cell_gives_exact_silhouettes(toy):
    scmf.bm.embedding_quality(toy, "cell_type", batch_key="batch", approximate=False, dataset_name="e")
    scmf.bm.embedding_quality(
        toy, "cell_type", batch_key="batch", approximate=True, silhouette_sample=10_000, dataset_name="a"
    )
    e, a = (
        _store.get(toy, "embedding_quality", dataset="e"),
        _store.get(toy, "embedding_quality", dataset="a"),
    )
    for m in ("asw_cell_type", "asw_batch"):
        assert a.metrics[m] == pytest.approx(e.metrics[m], abs=1e-12)
    assert a.metadata["asw_cell_type_se"] == 0.0


def test_sampled_silhouette_standard_error_matches_its_spread():
    """Over many samples, the estimates scatter around the exact value as their stated SE says."""
    from sklearn.metrics import silhouette_samples

    from scmf._kernels import label_distance_sums
    from scmf.bm._metrics._silhouette import silhouette_from_sums, stratified_mean_se, stratified_sample

    rng = np.random.default_rng(0)
    sizes = np.array([900, 500, 80, 20])  # a rare type gets its minimum share
    y = np.repeat(np.arange(4), sizes)
    X = rng.normal(size=(y.size, 6)) + np.repeat(rng.normal(size=(4, 6)) * 1.2, sizes, axis=0)
    truth = silhouette_samples(X, y).mean()
    estimates, ses = [], []
    for seed in range(40):
        rows = stratified_sample(y, 300, seed, min_per_group=30)
        assert np.all(np.bincount(y[rows], minlength=4) >= np.minimum(30, sizes))
        s = silhouette_from_sums(
            label_distance_sums(X, y, 4, rows=rows, gram_dtype=np.float64), y[rows], counts=sizes
        )
        np.testing.assert_allclose(
            s, silhouette_samples(X, y)[rows], atol=1e-10
        )  # each sampled cell is exact
        w = (sizes / np.bincount(y[rows], minlength=4))[y[rows]]
        estimates.append(np.average(s, weights=w))
        ses.append(stratified_mean_se(s, y[rows], sizes, per_group=False))
    estimates = np.asarray(estimates)
    assert abs(estimates.mean() - truth) < 3 * np.mean(ses) / np.sqrt(40)  # unbiased
    assert 0.6 < estimates.std(ddof=1) / np.mean(ses) < 1.5  # the SE describes the spread


def test_leiden_graph_is_scanpys_edge_for_edge(pbmc, monkeypatch):
    """The graph is built from pieces of the edge list, undirected in one call, weights kept
    aside: the same edges, order and weights as scanpy's directed graph made undirected."""
    import igraph

    import scmf.bm._metrics._leiden as leiden

    dist, idx = NearestNeighbors(n_neighbors=15).fit(pbmc.obsm["X_pca"]).kneighbors(pbmc.obsm["X_pca"])
    conn = NeighborsResults(indices=idx, distances=dist.astype(np.float32)).knn_graph_connectivities
    ref = igraph.Graph.Weighted_Adjacency(conn, mode="directed")
    ref.to_undirected(mode="each")
    monkeypatch.setattr(leiden, "_EDGE_CHUNK", 1000)  # several pieces
    g, w = leiden._graph(conn)
    assert g.get_edgelist() == ref.get_edgelist()
    np.testing.assert_array_equal(w, np.asarray(ref.es["weight"]))


def test_leiden_spawned_workers_give_the_same_clusters(pbmc, monkeypatch):
    """Where processes cannot be forked (macOS, Windows) each worker builds the graph: same numbers."""
    import sys

    from scmf.bm._metrics._leiden import leiden_nmi_ari

    dist, idx = NearestNeighbors(n_neighbors=15).fit(pbmc.obsm["X_pca"]).kneighbors(pbmc.obsm["X_pca"])
    conn = NeighborsResults(indices=idx, distances=dist.astype(np.float32)).knn_graph_connectivities
    labels = pbmc.obs["bulk_labels"].cat.codes.to_numpy()
    forked = leiden_nmi_ari(conn, labels, seed=3, n_jobs=2)
    monkeypatch.setattr(sys, "platform", "darwin")
    spawned = leiden_nmi_ari(conn, labels, seed=3, n_jobs=2)
    assert (forked["nmi"], forked["ari"]) == (spawned["nmi"], spawned["ari"])
    np.testing.assert_array_equal(forked["clusters"], spawned["clusters"])


@pytest.mark.slow
def test_confounded_batches_give_no_batch_score(toy):
    """Every cell type in its own batch: asw_batch cannot be computed, and graph connectivity
    alone (it never reads the batch labels) must not be reported as batch correction."""
    toy.obs["confounded"] = toy.obs["cell_type"].astype(str)
    with pytest.warns(
        ScmfWarning, match="no metric that reads the batch labels could be computed: no batch score"
    ):
        scmf.bm.embedding_quality(toy, batch_key="confounded")
    m = _store.get(toy, "embedding_quality").metrics
    assert not np.isfinite(m.get("asw_batch", np.nan))
    assert "batch" not in m and m["overall"] == m["bio"]
    assert np.isfinite(m["graph_connectivity"])  # still reported, as what it is


@pytest.mark.parametrize("factor", [1e35, 1e-30])
def test_a_global_scale_changes_nothing(pbmc, factor):
    """float32 embeddings of extreme magnitude give the same scores as at unit scale (their squared
    distances would overflow or underflow)."""
    a = pbmc.copy()
    a.obsm["X_big"] = (a.obsm["X_pca_baseline"] * np.float32(factor)).astype(np.float32)
    kw = {"batch_key": "phase", "n_bootstrap": 0, "clustering": "kmeans"}
    scmf.bm.embedding_quality(a, "bulk_labels", use_rep=["X_pca_baseline", "X_big"], **kw)
    t = scmf.bm.results(a).pivot_table(index="metric", columns="rep", values="value")
    np.testing.assert_allclose(t["X_big"], t["X_pca_baseline"], rtol=1e-4, atol=1e-4)
