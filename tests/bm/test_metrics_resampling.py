"""The resampling-ready metric forms equal their references (scikit-learn, scib-metrics)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_bras_equals_scib_metrics(pbmc):
    import scib_metrics

    from scmf.bm._metrics import bras

    X = pbmc.obsm["X_pca"]
    labels, batch = pbmc.obs["bulk_labels"].to_numpy(), pbmc.obs["phase"].to_numpy()
    for metric in ("cosine", "euclidean"):
        ref = scib_metrics.bras(X, labels, batch, metric=metric)
        assert bras(X, labels, batch, metric=metric) == pytest.approx(float(ref), abs=1e-6)


@pytest.mark.slow
def test_bras_in_embedding_quality_on_kang(kang):
    import scib_metrics

    import scmf

    a = kang[::2].copy()
    scmf.tl.baselines(a, n_comps=20, seed=0)
    scmf.bm.embedding_quality(a, "cell_type", batch_key="condition", use_rep="X_pca_baseline", n_bootstrap=0)
    got = scmf.bm.results(a).set_index("metric")["value"]["bras"]
    X = a.obsm["X_pca_baseline"].astype(np.float32)
    ref = scib_metrics.bras(X, a.obs["cell_type"].to_numpy(), a.obs["condition"].to_numpy())
    assert got == pytest.approx(float(ref), abs=1e-6)


@pytest.mark.slow
def test_silhouette_batch_equals_scib(pbmc):
    import scib_metrics

    from scmf.bm._metrics import silhouette_batch

    X = pbmc.obsm["X_pca"]
    labels, batch = pbmc.obs["bulk_labels"].to_numpy(), pbmc.obs["phase"].to_numpy()
    ref = scib_metrics.silhouette_batch(X, labels, batch)
    assert silhouette_batch(X, labels, batch) == pytest.approx(float(ref), abs=1e-6)


def test_weighted_nmi_ari_equal_sklearn_on_repeated_rows():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from scmf.bm._metrics._clustering import contingency, nmi_ari

    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 5, 300)
        c = (y + (rng.random(300) < 0.4) * rng.integers(0, 7, 300)) % 7
        w = np.bincount(rng.integers(0, 300, 300), minlength=300)
        yy, cc = np.repeat(y, w), np.repeat(c, w)
        got = nmi_ari(contingency(y, c, w))
        assert got == pytest.approx(
            (normalized_mutual_info_score(yy, cc), adjusted_rand_score(yy, cc)), abs=1e-12
        )


def test_weighted_ranking_equals_sklearn_with_sample_weight():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from scmf.bm._metrics._ranking import WeightedRanking, ranking_scores

    rng = np.random.default_rng(1)
    y = rng.random(2000) < 0.1
    s = np.round(rng.normal(size=2000) + y, 2)  # ties included
    wr = WeightedRanking(y, s)
    unit = wr(np.ones(y.size))
    ref = ranking_scores(y, s)
    assert unit == pytest.approx(ref, abs=1e-12)
    w = np.bincount(rng.integers(0, y.size, y.size), minlength=y.size).astype(float)
    got = wr(w)
    assert got["auroc"] == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
    assert got["auprc"] == pytest.approx(average_precision_score(y, s, sample_weight=w), abs=1e-12)


def test_graph_connectivity_per_label_mean_is_scib(pbmc):
    import scib_metrics
    from scib_metrics.nearest_neighbors import NeighborsResults
    from sklearn.neighbors import NearestNeighbors

    from scmf.bm._metrics._clustering import graph_connectivity_per_label

    X = pbmc.obsm["X_pca"]
    dist, idx = NearestNeighbors(n_neighbors=15).fit(X).kneighbors(X)
    nn = NeighborsResults(indices=idx, distances=dist)
    labels = pbmc.obs["bulk_labels"].to_numpy()
    got = graph_connectivity_per_label(nn.knn_graph_distances, labels).mean()
    assert got == pytest.approx(float(scib_metrics.graph_connectivity(nn, labels)), abs=1e-12)


def test_bootstrap_is_paired_and_seeded(toy):
    import scmf

    scmf.bm.embedding_quality(toy, "cell_type", batch_key="batch", n_bootstrap=20, seed=3)
    first = scmf.bm.results(toy, replicates=True)
    scmf.bm.embedding_quality(toy, "cell_type", batch_key="batch", n_bootstrap=20, seed=3)
    again = scmf.bm.results(toy, replicates=True)
    for a, b in zip(first["replicates"], again["replicates"], strict=True):
        np.testing.assert_array_equal(a, b)
    row = first.set_index("metric").loc["asw_cell_type"]
    assert row["ci_low"] <= row["value"] <= row["ci_high"]


def test_bras_rejects_unknown_metric(pbmc):
    from scmf.bm._metrics import bras

    with pytest.raises(ValueError, match="cosine"):
        bras(
            pbmc.obsm["X_pca"],
            pbmc.obs["bulk_labels"].to_numpy(),
            pbmc.obs["phase"].to_numpy(),
            metric="manhattan",
        )


def test_weighted_ranking_curves_and_many_equal_sklearn():
    from sklearn.metrics import precision_recall_curve, roc_curve

    from scmf.bm._metrics._ranking import WeightedRanking

    rng = np.random.default_rng(4)
    y = rng.random(3000) < 0.2
    s = np.round(rng.normal(size=3000) + y, 1)  # many ties
    wr = WeightedRanking(y, s)
    c = wr.curves()
    fpr, tpr, _ = roc_curve(y, s)
    np.testing.assert_allclose(c["roc"]["fpr"], fpr, atol=1e-15)
    np.testing.assert_allclose(c["roc"]["tpr"], tpr, atol=1e-15)
    prec, rec, _ = precision_recall_curve(y, s)
    np.testing.assert_allclose(c["pr"]["precision"], prec, atol=1e-15)
    np.testing.assert_allclose(c["pr"]["recall"], rec, atol=1e-15)
    ws = [np.bincount(rng.integers(0, y.size, y.size), minlength=y.size) for _ in range(40)]
    many = wr.many(ws, chunk_bytes=8 * y.size * 7)  # several chunks
    for i in (0, 13, 39):
        one = wr(ws[i])
        for k, v in one.items():
            assert many[k][i] == v


def test_ranking_bootstrap_is_the_weighted_metrics_of_its_counts():
    from scmf._kernels._ranking import bootstrap_counts, bootstrap_seeds
    from scmf.bm._metrics._ranking import WeightedRanking

    rng = np.random.default_rng(5)
    y = rng.random(1500) < 0.15
    s = np.round(rng.normal(size=1500) + y, 2)
    wr = WeightedRanking(y, s)
    boot = wr.bootstrap(30, seed=7)
    seeds = bootstrap_seeds(30, 7)
    for b in (0, 11, 29):
        w = bootstrap_counts(y.size, seeds[b])  # each pair's own count
        one = wr(w)
        for k, v in one.items():
            assert boot[k][b] == v
    again = wr.bootstrap(30, seed=7)
    for k in boot:
        np.testing.assert_array_equal(boot[k], again[k])
    # Poisson(1) counts: mean 1, variance 1, P(0) = 1/e
    c = np.concatenate([bootstrap_counts(100_000, s) for s in seeds[:3]])
    assert c.mean() == pytest.approx(1.0, abs=0.01) and c.var() == pytest.approx(1.0, abs=0.02)
    assert (c == 0).mean() == pytest.approx(np.exp(-1), abs=0.005)
    assert np.array_equal(np.unique(c), np.arange(c.max() + 1))  # integer counts, no gaps
    # another representation's scores of the same pairs: the same resamples (pair by pair)
    other = WeightedRanking(y, rng.normal(size=y.size))
    w = bootstrap_counts(y.size, seeds[4])
    assert other.bootstrap(30, seed=7)["auroc"][4] == other(w)["auroc"]
    # resamples vary around the full-data value
    full = wr()
    assert boot["auroc"].std() > 0 and abs(boot["auroc"].mean() - full["auroc"]) < 3 * boot["auroc"].std()
