"""Reading the expression matrix the way a user means it."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import sparse

from ._warnings import warn

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")

Scale = Literal["counts", "log1p", "scaled", "unlogged"]

#: log1p of counts normalised to 1e4 is at most 9.2, of CPM 13.8, log2(TPM + 1) about 20
LOG_SCALE_MAX = 50.0


def expression_source(adata: AnnData, layer: str | None):
    """``X`` or ``layers[layer]`` as stored: row-sliceable, a backed file is not loaded."""
    if layer is None:
        if adata.X is None:
            msg = "adata.X is empty; pass layer= naming the expression layer to use."
            raise ValueError(msg)
        return adata.X
    if layer not in adata.layers:
        msg = f"layer={layer!r} is not in adata.layers (available: {list(adata.layers.keys())})."
        raise KeyError(msg)
    return adata.layers[layer]


def with_raw(adata: AnnData, layer: str | None, use_raw: bool) -> tuple[AnnData, str | None]:
    """The AnnData to read expression and genes from, and its layer: ``adata`` or its ``.raw``.

    With ``use_raw`` (scanpy's meaning) the expression and gene names of ``adata.raw`` are
    read, sharing its matrix (no copy); cells and their annotations are ``adata``'s.
    """
    if not use_raw:
        return adata, layer
    if layer is not None:
        msg = f"give layer={layer!r} or use_raw=True, not both."
        raise ValueError(msg)
    if adata.raw is None:
        msg = "use_raw=True but adata.raw is empty; read X (use_raw=False) or a layer (layer=...)."
        raise ValueError(msg)
    from anndata import AnnData

    raw = adata.raw
    return AnnData(X=raw.X, obs=adata.obs, var=raw.var), None


def is_dask(X) -> bool:
    """Whether ``X`` is a Dask array (checked without importing dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "chunks")


def rows_csr(X, start: int, stop: int) -> sparse.csr_matrix:
    """Rows ``start:stop`` of an expression source as CSR (reads only those rows of a backed file or Dask array)."""
    block = X[start:stop]
    if is_dask(block):
        block = block.compute(scheduler="synchronous")
    return sparse.csr_matrix(block) if sparse.issparse(block) else sparse.csr_matrix(np.asarray(block))


#: bytes of CSR data and indices per block of rows read by :func:`row_blocks`
ROW_BLOCK_BYTES = 2**28


def row_blocks(X, *, multiple: int = 1, target_bytes: int | None = None):
    """Consecutive row blocks of an expression source as ``(start, CSR block)`` pairs.

    Only one block is read at a time (from a backed file or a Dask array: :func:`rows_csr`).
    Blocks hold about ``target_bytes`` (default :data:`ROW_BLOCK_BYTES`) of CSR data and
    indices each, judged from the block before, and a multiple of ``multiple`` rows (but the last).
    """
    target_bytes = ROW_BLOCK_BYTES if target_bytes is None else target_bytes
    n = X.shape[0]
    rows = multiple * max(1, 1024 // multiple)  # a first, small block measures the density
    start = 0
    while start < n:
        stop = min(n, start + rows)
        block = rows_csr(X, start, stop)
        yield start, block
        per_row = max(block.nnz * (block.data.itemsize + block.indices.itemsize) / block.shape[0], 1.0)
        rows = max(multiple, int(target_bytes / per_row) // multiple * multiple)
        start = stop


def in_memory(X) -> bool:
    """Whether an expression source is an in-memory matrix (not a backed file or a Dask array)."""
    return sparse.issparse(X) or isinstance(X, np.ndarray)


def get_expression(adata: AnnData, layer: str | None):
    """The whole expression matrix in memory (sparse or dense)."""
    X = expression_source(adata, layer)
    if not in_memory(X):
        X = X[...] if hasattr(X, "__getitem__") else np.asarray(X)  # backed dataset
    return X


def _values_sample(X, n: int = 200_000, seed: int = 0) -> np.ndarray:
    data = X.data if sparse.issparse(X) else np.asarray(X).ravel()
    if data.size > n:
        data = data[np.random.default_rng(seed).choice(data.size, n, replace=False)]
    return np.asarray(data, dtype=np.float64)


def detect_scale(X) -> Scale:
    """Guess what an expression matrix holds.

    - ``"scaled"``: it has negative values (centred/scaled data): used as is.
    - ``"counts"``: all sampled values are non-negative integers: raw counts.
    - ``"unlogged"``: non-negative, non-integer, with values above :data:`LOG_SCALE_MAX`
      (50): normalised but not log-transformed (TPM, FPKM, CPM). Readers treat it like
      counts (normalised per cell and log1p'd) and warn.
    - ``"log1p"``: otherwise (non-negative, non-integer, small): log-normalised.
    """
    v = _values_sample(X)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "log1p"
    if (v < 0).any():
        return "scaled"
    if np.all(v == np.round(v)):
        return "counts"
    if v.max() > LOG_SCALE_MAX:
        return "unlogged"
    return "log1p"


def warn_unlogged(X, who: str) -> None:
    """The warning for :func:`detect_scale`'s ``"unlogged"``: what was seen and what is done."""

    top = float(X.max()) if X.size else 0.0
    warn(
        f"{who}: the expression is not integer counts and not log-scale (values up to {top:,.0f}: TPM/FPKM/CPM?); "
        "normalising each cell to 10,000 and applying log1p as for counts. Pass log-normalised data (or a layer "
        "holding it) to silence this."
    )


def normalise_log1p(X, target_sum: float = 1e4):
    """Per-cell normalisation to ``target_sum`` then log1p, on a new matrix (the input is not modified)."""
    if sparse.issparse(X):
        X = sparse.csr_matrix(X, dtype=np.float32, copy=True)
        totals = np.asarray(X.sum(axis=1)).ravel()
        scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
        X.data *= np.repeat(scale, np.diff(X.indptr)).astype(np.float32)
        np.log1p(X.data, out=X.data)
        return X
    X = np.array(X, dtype=np.float32, copy=True)
    totals = X.sum(axis=1)
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    X *= scale[:, None]
    np.log1p(X, out=X)
    return X


def log_normalised(X, normalize: str, who: str):
    """``(matrix, detected scale, action)``: ``X`` log-normalised as a benchmark reading expression needs it.

    ``normalize``: ``"auto"`` normalises (per cell to 1e4) and log1p's raw counts and unlogged
    values (a copy; the user's matrix is left as it is) and uses log-normalised data as it is;
    ``"log1p"`` always; ``"none"`` never (a warning for counts). ``action`` (``"log1p"`` or
    ``"none"``) is what benchmarks record as ``params["normalize"]``.
    """
    if normalize not in ("auto", "log1p", "none"):
        msg = f"normalize must be 'auto', 'log1p' or 'none', got {normalize!r}."
        raise ValueError(msg)
    scale = detect_scale(X)
    raw = scale in ("counts", "unlogged")
    action = "log1p" if normalize == "log1p" or (normalize == "auto" and raw) else "none"
    if action == "log1p":
        X = normalise_log1p(X)
    elif raw:
        warn(
            f"{who}: the expression looks like raw counts or unlogged values (TPM/FPKM) and normalize='none'; "
            f"it is meant for log-normalised values (normalize='auto' normalises + log1p's them)."
        )
    return X, scale, action


def check_finite(X, who: str) -> None:
    """Refuse an in-memory expression matrix with NaN or infinite values (checked in row blocks)."""
    if sparse.issparse(X):
        bad = not np.isfinite(X.data).all()
    elif isinstance(X, np.ndarray):
        bad = not all(np.isfinite(X[i : i + 8192]).all() for i in range(0, X.shape[0], 8192))
    else:  # backed or lazy: read block by block where it is used
        return
    if bad:
        msg = (
            f"{who}: the expression matrix has NaN or infinite values; fix or drop those cells/genes first "
            "(e.g. adata.X.data[~np.isfinite(adata.X.data)] = 0 for a sparse X, or select finite rows)."
        )
        raise ValueError(msg)
