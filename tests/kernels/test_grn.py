from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics.pairwise import cosine_similarity

from scmf._kernels._grn import block_cosine, edge_cosine, expressing_sums, unit_rows


@pytest.fixture
def data():
    rng = np.random.default_rng(11)
    X = sparse.random(500, 80, density=0.15, format="csr", random_state=3, dtype=np.float32)
    X.data -= 0.3  # some stored entries <= 0: not "expressing"
    E = rng.normal(size=(500, 16)).astype(np.float32)
    return X, E


@pytest.mark.parametrize("n_parts", [1, 2, 7, None])
@pytest.mark.parametrize(("dtype", "tol"), [(np.float64, 1e-12), (np.float32, 2e-6)])
def test_expressing_sums_equal_scipy(data, n_parts, dtype, tol):
    X, E = data
    E = E.astype(dtype)
    B = (X > 0).astype(np.float64)
    sums, counts = expressing_sums(X, E, n_parts=n_parts)
    assert sums.dtype == np.float64
    # float64 embeddings: float64 sums; float32 ones: float32 partial sums within a block
    np.testing.assert_allclose(sums, B.T @ E.astype(np.float64), rtol=tol, atol=tol)
    np.testing.assert_array_equal(counts, np.asarray(B.sum(axis=0)).ravel())


def test_expressing_sums_dense_input(data):
    X, E = data
    s1, c1 = expressing_sums(X, E)
    s2, c2 = expressing_sums(X.toarray(), E)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_allclose(s1, s2)


def test_cosines_equal_sklearn(data):
    _, E = data
    R = E[:40].astype(np.float64)
    R[3] = 0  # a zero vector scores 0, not NaN
    U = unit_rows(R)
    ref = cosine_similarity(R)
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, 40, 300), rng.integers(0, 40, 300)
    np.testing.assert_allclose(edge_cosine(U, src, dst), ref[src, dst], atol=1e-12)
    rows = np.array([5, 0, 3, 17, 39])
    got = np.concatenate([b for _, b in block_cosine(U, rows, block=2)])
    np.testing.assert_allclose(got, ref[rows], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_expressing_sums_of_row_blocks_equal_the_whole(dtype):
    """Row blocks (a backed file's) give the whole matrix's sums (float32 partial sums grouped by
    block: ~1e-7 relative); the counts are computed in the same pass."""
    from scmf._expression import row_blocks
    from scmf._kernels._grn import expressing_counts

    X = sparse.random(20_000, 80, density=0.15, format="csr", random_state=4, dtype=np.float32)
    X.data -= 0.3
    E = np.random.default_rng(5).normal(size=(20_000, 16)).astype(dtype)
    whole, counts = expressing_sums(X, E)
    blocks = list(row_blocks(X, multiple=16, target_bytes=X.nnz))  # about 8 blocks
    assert len(blocks) > 3 and all(b.shape[0] % 16 == 0 for _, b in blocks[:-1])
    s2, c2 = expressing_sums(blocks, E)  # a list of blocks, or any iterable of them
    np.testing.assert_array_equal(c2, counts)
    np.testing.assert_array_equal(expressing_counts(iter(blocks)), counts)
    # float32 partial sums: an error of float32 rounding relative to the sum of the terms' sizes
    B = (X > 0).astype(np.float64)
    bound = (1e-6 if dtype == np.float32 else 1e-14) * (B.T @ np.abs(E.astype(np.float64)))
    assert np.all(np.abs(s2 - whole) <= bound)
    assert np.all(np.abs(s2 - B.T @ E.astype(np.float64)) <= bound)
