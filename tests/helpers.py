from __future__ import annotations

import numpy as np


def assert_same(a, b, path="uns", *, ordered=False):
    """Strict equality of nested uns values: same types, same dtypes, same values (NaN == NaN).

    Dict keys are compared as sets (h5ad and zarr give them back sorted), or in order with
    ``ordered=True``.
    """
    assert type(a) is type(b), f"{path}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        if ordered:
            assert list(a.keys()) == list(b.keys()), f"{path}: keys differ or are in another order"
        else:
            assert set(a) == set(b), f"{path}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{path}[{k!r}]", ordered=ordered)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, f"{path}: dtype {a.dtype} != {b.dtype}"
        assert a.shape == b.shape, f"{path}: shape"
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b)
        else:
            assert (a == b).all(), f"{path}: values"
    elif isinstance(a, float):
        assert (a == b) or (np.isnan(a) and np.isnan(b)), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def counts_of(adata):
    """The integer counts behind log-normalised cells: expm1 divided by each cell's smallest value."""
    X = adata.X.tocsr().copy()
    X.data = np.expm1(X.data.astype(np.float64))
    low = np.minimum.reduceat(X.data, X.indptr[:-1])
    X.data /= np.repeat(low, np.diff(X.indptr))
    assert np.abs(X.data - np.round(X.data)).max() < 0.02  # they are counts
    X.data = np.round(X.data).astype(np.float32)
    out = adata.copy()
    out.X = X
    return out
