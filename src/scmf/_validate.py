"""Input checks that fail early with a message that says what to do."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from ._warnings import warn

if TYPE_CHECKING:
    from anndata import AnnData


def check_anndata(adata: object, func: str) -> None:
    from anndata import AnnData

    if not isinstance(adata, AnnData):
        msg = f"{func} expects an AnnData as first argument, got {type(adata).__name__}."
        raise TypeError(msg)
    if adata.n_obs == 0:
        msg = f"{func}: adata has no cells."
        raise ValueError(msg)


def as_rep_list(use_rep: str | Sequence[str]) -> list[str]:
    if hasattr(use_rep, "shape") or hasattr(use_rep, "__array__"):
        msg = (
            f"use_rep must be an obsm key or a list of obsm keys, got an array of shape {getattr(use_rep, 'shape', '?')}; "
            "store it first (adata.obsm['X_mine'] = array; use_rep='X_mine') or use "
            "scmf.bm.get_benchmark(name, ...).run(array, adata)."
        )
        raise TypeError(msg)
    reps = [use_rep] if isinstance(use_rep, str) else list(use_rep)
    if not reps or not all(isinstance(r, str) for r in reps):
        shown = [r if isinstance(r, str) else f"<{type(r).__name__}>" for r in reps]
        msg = f"use_rep must be an obsm key or a list of obsm keys, got {shown}."
        raise TypeError(msg)
    if len(set(reps)) != len(reps):
        msg = f"use_rep lists a key twice: {reps}."
        raise ValueError(msg)
    return reps


def get_rep(adata: AnnData, use_rep: str, *, dtype: type | None = np.float64) -> np.ndarray:
    """``adata.obsm[use_rep]`` as a finite, dense, 2-D array of ``dtype`` (a view where possible).

    ``dtype=None`` keeps float32/float64 embeddings as they are (no copy) and turns other
    numeric types into float64.
    """
    if use_rep not in adata.obsm:
        have = list(adata.obsm.keys())
        hint = (
            "run scmf.tl.embed(adata, model) (or scmf.tl.baselines(adata)) first"
            if use_rep.startswith("X_scmf") or use_rep.endswith("_baseline")
            else "compute it first or pass use_rep= one of the available keys"
        )
        msg = f"adata.obsm has no {use_rep!r} (available: {have}); {hint}."
        raise KeyError(msg)
    X = adata.obsm[use_rep]
    if isinstance(X, pd.DataFrame):
        X = X.to_numpy()
    if sparse.issparse(X):
        X = X.toarray()
    X = np.asarray(X)
    if X.ndim != 2:
        msg = f"adata.obsm[{use_rep!r}] must be 2-D (cells x dims), got shape {X.shape}."
        raise ValueError(msg)
    if X.shape[0] != adata.n_obs:
        msg = f"adata.obsm[{use_rep!r}] has {X.shape[0]} rows but adata has {adata.n_obs} cells."
        raise ValueError(msg)
    if X.shape[1] == 0:
        msg = f"adata.obsm[{use_rep!r}] has zero columns."
        raise ValueError(msg)
    if X.dtype.kind not in "biuf":
        msg = f"adata.obsm[{use_rep!r}] must be numeric, got dtype {X.dtype}."
        raise TypeError(msg)
    if dtype is None:
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    X = np.asarray(X, dtype=dtype)
    if not _all_finite(X):
        bad = np.flatnonzero(~np.isfinite(X).all(axis=1))
        msg = (
            f"adata.obsm[{use_rep!r}] has NaN or inf in {bad.size} cells (first: "
            f"{list(adata.obs_names[bad[:5]])}). Fix or drop those cells (e.g. adata = "
            f"adata[np.isfinite(adata.obsm[{use_rep!r}]).all(1)].copy()) before benchmarking."
        )
        raise ValueError(msg)
    return X


def well_scaled(X: np.ndarray) -> np.ndarray:
    """``X`` times a power of two that brings its largest magnitude near 1, when it is far from it.

    Squared distances of float32 values above ~1e19 overflow and below ~1e-19 underflow, so an
    embedding scaled by 1e35 or 1e-30 would give wrong neighbours and silhouettes. The metrics
    that read distances (kNN graphs, silhouettes, LISI, clustering, PCR) do not depend on a
    global scale, so rescaling by a power of two (exact in binary) changes nothing else.
    """
    top = float(np.max(np.abs(X))) if X.size else 0.0
    if top == 0.0 or 1e-8 <= top <= 1e8:
        return X
    return (X * np.float64(2.0) ** -np.round(np.log2(top))).astype(X.dtype, copy=False)


def _all_finite(X: np.ndarray, block: int = 8192) -> bool:
    """``np.isfinite(X).all()`` in row blocks, without a full-size temporary."""
    return all(np.isfinite(X[i : i + block]).all() for i in range(0, X.shape[0], block))


def warn_duplicate_rows(X: np.ndarray, use_rep: str) -> int:
    """Warn when many cells share one embedding (often failed tokenisation); error when all do."""
    if X.shape[0] < 2:
        return 0
    rows = np.ascontiguousarray(X).view(np.dtype((np.void, X.dtype.itemsize * X.shape[1]))).ravel()
    n_unique = np.unique(rows).size
    if n_unique == 1:
        msg = f"All {X.shape[0]} cells have the same embedding in obsm[{use_rep!r}]; nothing can be measured."
        raise ValueError(msg)
    n_dup = X.shape[0] - n_unique
    if n_dup > 0.01 * X.shape[0]:
        warn(
            f"{n_dup} of {X.shape[0]} cells duplicate another cell's embedding in obsm[{use_rep!r}] "
            "(e.g. cells whose genes did not match the model's vocabulary); metrics treat them as identical."
        )
    return n_dup


@dataclass
class Labels:
    """Integer-coded labels of the cells that have one."""

    codes: np.ndarray  # int64 codes of the kept cells
    categories: np.ndarray  # object array of str, sorted, only the ones present
    mask: np.ndarray  # bool, which cells of adata are kept

    @property
    def n_classes(self) -> int:
        return len(self.categories)

    def full_codes(self) -> np.ndarray:
        """The code of every cell of adata, -1 for the cells without a label."""
        out = np.full(self.mask.size, -1, dtype=np.int64)
        out[self.mask] = self.codes
        return out


def drop_small_classes(labels: Labels, min_cells: int, func: str) -> tuple[np.ndarray, np.ndarray]:
    """Cells to keep (of adata) and the per-category ``small`` mask, leaving out classes with fewer
    than ``min_cells`` cells with one warning that names them and their counts."""
    counts = np.bincount(labels.codes, minlength=labels.n_classes)
    small = counts < int(min_cells)
    if small.any():
        dropped = [f"{c} ({n})" for c, n in zip(labels.categories[small], counts[small], strict=True)]
        warn(
            f"{func}: dropping {small.sum()} classes with fewer than {min_cells} cells: {name_list(dropped)}."
        )
    keep = labels.mask.copy()
    keep[np.flatnonzero(keep)[small[labels.codes]]] = False
    return keep, small


def name_list(items, limit: int = 8) -> str:
    """``a, b, c`` or ``a, b, ... and 12 more``: lists in messages stay one short line."""
    from ._warnings import printable

    items = [printable(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return f"{', '.join(items[:limit])}, ... and {len(items) - limit} more"


def get_labels(adata: AnnData, key: str, *, param: str, func: str) -> Labels:
    """Labels from ``adata.obs[key]`` of any dtype; cells with a missing label are dropped with a warning."""
    if not isinstance(key, str):
        msg = f"{param} must be the name of an adata.obs column, got {key!r}."
        raise TypeError(msg)
    if key not in adata.obs.columns:
        msg = f"{param}={key!r} is not a column of adata.obs (columns: {list(adata.obs.columns)})."
        raise KeyError(msg)
    col = adata.obs[key]
    missing = col.isna().to_numpy()
    if missing.all():
        msg = f"adata.obs[{key!r}] has no non-missing values."
        raise ValueError(msg)
    if missing.any():
        warn(f"{func}: {missing.sum()} cells have no {key!r} label (NaN) and are left out.")
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        n_distinct = int(col[~missing].nunique())
        if n_distinct > 100 or n_distinct > 0.5 * int((~missing).sum()):
            msg = (
                f"{func}: adata.obs[{key!r}] is numeric with {n_distinct} distinct values in {int((~missing).sum())} "
                f"cells: a measurement, not labels. Pass {param}= naming a column of categories (cell types, "
                "batches)."
            )
            raise ValueError(msg)
    if isinstance(col.dtype, pd.CategoricalDtype):
        raw_codes = col.cat.codes.to_numpy()[~missing]
        uniq = np.asarray(col.cat.categories, dtype=object)
    else:
        raw_codes, uniq = pd.factorize(col[~missing], sort=False)
        uniq = np.asarray(uniq, dtype=object)
    # str() of the few distinct values: categorical, object, int, bool and mixed columns all
    # work alike, sorted by name, unused categories gone
    categories, remap = np.unique(np.asarray([str(v) for v in uniq], dtype=str), return_inverse=True)
    codes = remap.ravel()[raw_codes]
    present, codes = np.unique(codes, return_inverse=True)
    categories = categories[present]
    return Labels(codes=codes.astype(np.int64), categories=categories.astype(object), mask=~missing)
