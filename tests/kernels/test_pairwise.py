from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.metrics import silhouette_samples

from scmf._kernels import exact_knn, label_distance_sums
from scmf.bm._metrics import silhouette_label
from scmf.bm._metrics._silhouette import silhouette_from_sums


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    X = (rng.normal(size=(700, 12)) + 30.0).astype(np.float32)  # offset: tests cancellation handling
    labels = rng.integers(0, 4, 700)
    return X, labels


@pytest.mark.parametrize(("gram_dtype", "rtol"), [(np.float64, 1e-12), (np.float32, 1e-7)])
def test_label_sums_equal_scipy(data, monkeypatch, gram_dtype, rtol):
    import scmf._kernels._pairwise as pw

    monkeypatch.setattr(pw, "_BLOCK_BYTES", 8 * 700 * 64)  # force several blocks
    X, labels = data
    D = cdist(X.astype(np.float64), X.astype(np.float64))
    ref = np.stack([D[:, labels == lab].sum(axis=1) for lab in range(4)], axis=1)
    sums = label_distance_sums(X, labels, 4, gram_dtype=gram_dtype)
    np.testing.assert_allclose(sums, ref, rtol=rtol, atol=0)


def test_label_sums_unsorted_labels_and_empty_label():
    # cells are processed sorted by label internally; results must come back in input order
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 5))
    labels = rng.choice([0, 2, 3], size=300)  # label 1 has no cells
    D = cdist(X, X)
    ref = np.stack([D[:, labels == lab].sum(axis=1) for lab in range(4)], axis=1)
    sums, idx, _ = label_distance_sums(X, labels, 4, k=5, gram_dtype=np.float64)
    np.testing.assert_allclose(sums, ref, rtol=1e-12)
    assert (sums[:, 1] == 0).all()
    np.fill_diagonal(D, -1)
    assert (idx == np.argsort(D, axis=1, kind="stable")[:, :5]).all()


def test_knn_equals_brute_force(data):
    X, _ = data
    D = cdist(X.astype(np.float64), X.astype(np.float64))
    np.fill_diagonal(D, -1)
    ref = np.argsort(D, axis=1, kind="stable")[:, :10]
    idx, dist = exact_knn(X, 10)
    assert (idx[:, 0] == np.arange(700)).all()
    assert (idx == ref).mean() > 0.999  # ties aside
    np.fill_diagonal(D, 0)
    np.testing.assert_allclose(dist, np.take_along_axis(D, idx, axis=1), rtol=1e-6, atol=1e-6)


def test_silhouette_equals_sklearn(data):
    X, labels = data
    s = silhouette_from_sums(label_distance_sums(X, labels, 4, gram_dtype=np.float64), labels)
    np.testing.assert_allclose(s, silhouette_samples(X.astype(np.float64), labels), atol=1e-10)
    s32 = silhouette_from_sums(label_distance_sums(X, labels, 4), labels)
    np.testing.assert_allclose(s32, s, atol=1e-6)
    assert silhouette_label(X, labels) == pytest.approx(
        (silhouette_samples(X, labels).mean() + 1) / 2, abs=1e-7
    )


def test_silhouette_singletons_are_zero():
    X = np.array([[0.0], [0.1], [5.0]])
    labels = np.array([0, 0, 1])
    s = silhouette_from_sums(label_distance_sums(X, labels, 2), labels)
    np.testing.assert_allclose(s, silhouette_samples(X, labels))
    assert s[2] == 0.0


def test_label_sums_for_query_rows_equal_full_rows(data, monkeypatch):
    import scmf._kernels._pairwise as pw

    monkeypatch.setattr(pw, "_BLOCK_BYTES", 8 * 700 * 16)  # several blocks of query rows
    X, labels = data
    rows = np.random.default_rng(1).choice(700, 90, replace=False)
    full, idx, dist = label_distance_sums(X, labels, 4, k=6, gram_dtype=np.float64)
    part, pidx, pdist = label_distance_sums(X, labels, 4, k=6, rows=rows, gram_dtype=np.float64)
    np.testing.assert_allclose(part, full[rows], rtol=1e-12)
    assert (pidx == idx[rows]).all()
    assert (pidx[:, 0] == rows).all()
    np.testing.assert_array_equal(pdist, dist[rows])
