"""Embedding of a Dask-backed expression matrix, block by block, in process or on a cluster.

Each row block of the expression becomes a small in-memory AnnData and goes through the same
in-memory compute step as a whole-data call (``tl/_compute.py``). What a run decides once
(gene matching, a recipe's whole-data gene filter, the input scale: a
:class:`~scmf.models.TokenPlan`) is decided here, before the first block, and handed to every
block, so a cell's embedding is the same whichever block it is in.

On a ``dask.distributed`` cluster the model is broadcast to every worker once, each block is
read and embedded where the scheduler places it, and only the embeddings (cells x dims) travel
back, or nothing at all when they are written to a zarr store by the workers. A recipe that
draws random numbers from cell to cell (scGPT, UCE) runs its blocks one after the other, each
handing its random state to the next, so its embedding equals the in-memory one; a recipe
that groups consecutive cells into batches (UCE) gets blocks that are whole multiples of its
batch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._expression import is_dask
from .._io import staged_folder
from ._compute import compute

logger = logging.getLogger("scmf")


def active_client(client: Any = None) -> Any:
    """``client``, else the ``dask.distributed`` client active in this process, else ``None``."""
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client
        return None


def _need_dask() -> None:
    try:
        import dask.array  # noqa: F401
    except ImportError:
        msg = "this needs dask: pip install 'scmf[dask]' (dask[array] and distributed)."
        raise ImportError(msg) from None


def embed_blocks(
    target,
    model,
    *,
    X,
    compute_kw: dict[str, Any],
    client: Any = None,
    zarr_store: str | Path | None = None,
    block_size: int | None = None,
    progress: bool | None = None,
):
    """Embed the expression ``X`` (rows = cells of ``target``) block by block with a resolved ``model``.

    ``X`` is a Dask array, or an in-memory matrix sent to ``client`` in blocks. ``client``:
    the one given, else the active ``dask.distributed`` client, else the blocks run in this
    process. Returns ``(embedding, params)``; the embedding is a NumPy array, or a Dask array
    reading ``zarr_store`` when one is given.
    """
    _need_dask()
    import dask.array as da

    from ..models import TokenizedModel, plan_tokens

    client = active_client(client)
    if isinstance(model, str) and model != "random":
        msg = (
            f"the {model} baseline is fitted on all cells at once, which a block-by-block pass over a Dask array "
            f"cannot do; load the expression (adata.to_memory()) or embed a subset in memory for it."
        )
        raise ValueError(msg)
    in_memory = not is_dask(X)
    if in_memory:
        X = da.from_array(X, chunks=(block_size or 10_000, -1), asarray=False)
    if X.ndim != 2 or X.shape[0] != target.n_obs:
        msg = f"the Dask expression has shape {X.shape}; expected (n_obs={target.n_obs}, n_vars)."
        raise ValueError(msg)
    if getattr(model, "context_key", None) is not None:
        msg = (
            "context_key groups all cells before they are cut into contexts, which a block-by-block pass cannot do; "
            "order the cells by that column first (adata[np.argsort(adata.obs[key], kind='stable')]) and embed "
            "without context_key, or embed in memory."
        )
        raise ValueError(msg)
    tokenised = isinstance(model, TokenizedModel)
    group = model.recipe.batch_group if tokenised else getattr(model, "batch_group", None)
    size = int(block_size) if block_size is not None else None
    if group and (size or max(X.chunks[0])) % group:  # whole batches per block
        size = -(-(size or max(X.chunks[0])) // group) * group
    if size is not None:
        X = X.rechunk({0: size, 1: -1})
    elif X.numblocks[1] > 1:
        X = X.rechunk({1: -1})  # whole cells per block
    if zarr_store is not None and len(set(X.chunks[0][:-1])) > 1:
        X = X.rechunk({0: max(X.chunks[0])})  # one zarr chunk per block: no two workers share one
    var = pd.DataFrame(index=pd.Index(np.asarray(target.var_names), dtype=object))
    gene_key = compute_kw.get("gene_key")
    if gene_key is not None:
        if gene_key not in target.var.columns:
            msg = f"gene_key={gene_key!r} is not a column of adata.var (columns: {list(target.var.columns)})."
            raise KeyError(msg)
        var[gene_key] = np.asarray(target.var[gene_key])
    kw = {**compute_kw, "layer": None, "progress": False}
    cols = [
        c for c in getattr(model, "obs_columns", ()) if c in target.obs.columns
    ]  # what the model reads of obs
    obs = target.obs[cols].set_axis(np.arange(target.n_obs).astype(str)) if cols else None
    plan = state = None
    if tokenised:  # decided once for the run, on the whole data
        plan = plan_tokens(
            target, model, X, gene_key=gene_key, id_type=kw["id_type"], input_scale=kw["input_scale"]
        )
        state = model.recipe.get_state()
    kw["plan"] = plan
    stops = np.cumsum(X.chunks[0])
    starts = stops - np.asarray(X.chunks[0])
    blocks = X.to_delayed()[:, 0]
    staging = staged_folder(zarr_store) if zarr_store is not None else contextlib.nullcontext()
    with staging as tmp:  # workers write into a temporary store, renamed into place when all are done
        store = _create_store(tmp, model, target.n_obs, var, X, kw, obs) if tmp is not None else None
        per_block = None if obs is None else [obs.iloc[a:b] for a, b in zip(starts, stops, strict=True)]
        results, where, elapsed = _run_blocks(
            blocks, starts, model, var, kw, store, state, client, progress, per_block, in_memory=in_memory
        )
    params = dict(results[0][1])
    for key in ("n_empty_cells",):
        if key in params:
            params[key] = int(sum(r[1].get(key, 0) for r in results))
    params.update({"execution": where, "n_blocks": len(blocks), "block_seconds": round(elapsed, 3)})
    if store is not None:
        params["zarr_store"] = str(zarr_store)
        return da.from_zarr(str(zarr_store)), params
    return np.concatenate([r[0] for r in results], axis=0), params


def _run_blocks(blocks, starts, model, var, kw, store, state, client, progress, obs=None, *, in_memory=False):
    """Embed each block (in order here, or on the client's workers): (results, where, seconds).

    ``in_memory``: the blocks slice an in-memory matrix, so each is cut here and sent (a block's
    delayed read would carry the whole matrix); otherwise each worker reads its own block.
    """
    from .._progress import bar

    results: list[Any] = [None] * len(blocks)
    t0 = time.perf_counter()
    with bar(len(blocks), "embed (blocks)", progress=progress) as pb:
        if client is None:  # in order, in this process: a random stream simply continues
            for i, blk in enumerate(blocks):
                results[i] = _embed_block(
                    blk.compute(scheduler="synchronous"),
                    model,
                    var,
                    kw,
                    starts[i],
                    store,
                    None,
                    None if obs is None else obs[i],
                )
                pb.update(1)
            where = "in process"
        else:
            from distributed import as_completed

            model_f = client.scatter(model, broadcast=True, hash=False)  # shipped once per worker
            var_f, kw_f = client.scatter([var, kw], broadcast=True, hash=False)
            futures = []
            for i, blk in enumerate(blocks):
                # one task per block reads it (a delayed read of the store, computed on the worker)
                # and embeds it: the expression never moves between workers or to the client
                fut = client.submit(
                    _embed_block if in_memory else _read_and_embed,
                    blk.compute(scheduler="synchronous") if in_memory else blk,
                    model_f,
                    var_f,
                    kw_f,
                    int(starts[i]),
                    store,
                    state,
                    None if obs is None else obs[i],
                    pure=False,
                )
                futures.append(fut)
                if state is not None:  # the next block continues this block's random stream
                    state = client.submit(_state_of, fut, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in as_completed(futures):
                results[index[fut.key]] = fut.result()
                fut.release()  # the block's embedding leaves the cluster's memory once it is here
                pb.update(1)
            where = f"dask.distributed scheduler {client.scheduler.address}"
    return results, where, time.perf_counter() - t0


def _read_and_embed(delayed_block, *args):
    """Read a block (a Delayed of the lazy expression) here, on the worker, and embed it."""
    return _embed_block(delayed_block.compute(scheduler="synchronous"), *args)


def _embed_block(
    block, model, var: pd.DataFrame, kw: dict[str, Any], start: int, store: str | None, state, obs=None
):
    """One block of cells -> (its embedding, or its shape when written to ``store``; params; random state)."""
    from anndata import AnnData
    from scipy import sparse

    _limit_threads()
    if sparse.issparse(block):
        block = sparse.csr_matrix(block)
    else:
        block = np.asarray(block)
    recipe = model.recipe if kw.get("plan") is not None else None
    if state is not None:
        recipe.set_state(state)
    emb, params = compute(AnnData(X=block, var=var, obs=obs), model, **kw)
    after = recipe.get_state() if recipe is not None else None
    if store is not None:
        import zarr

        arr = zarr.open_array(store, mode="r+")
        arr[start : start + emb.shape[0]] = emb
        return emb.shape, params, after
    return emb, params, after


def _state_of(result):
    return result[2]


def write_zarr(emb: np.ndarray, path: str | Path):
    """Write an in-memory embedding to a zarr array at ``path``; a Dask array reading it."""
    _need_dask()
    import dask.array as da
    import zarr

    with staged_folder(path) as tmp:
        arr = zarr.open_array(
            str(tmp), mode="w", shape=emb.shape, chunks=(min(emb.shape[0], 10_000), emb.shape[1]), dtype="f4"
        )
        arr[:] = emb
    return da.from_zarr(str(path))


def _limit_threads() -> None:
    """In a worker, let torch and numba use the worker's threads, not every core of the machine.

    Two single-threaded workers on two cores whose numba kernels each start a thread per core
    would run four threads on two cores.
    """
    try:
        from distributed import get_worker

        n = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        return
    import numba
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if numba.get_num_threads() != min(n, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _create_store(path, model, n_obs: int, var, X, kw, obs=None) -> str:
    """Create the zarr array the workers write into (its width from one embedded cell)."""
    import zarr
    from anndata import AnnData
    from scipy import sparse

    first = X[:1].compute(scheduler="synchronous")
    first = sparse.csr_matrix(first) if sparse.issparse(first) else np.asarray(first)
    recipe = model.recipe if kw.get("plan") is not None else None
    state = recipe.get_state() if recipe is not None else None
    emb, _ = compute(AnnData(X=first, var=var, obs=None if obs is None else obs.iloc[:1]), model, **kw)
    if state is not None:
        recipe.set_state(state)  # the width was measured; the run's random stream starts unchanged
    chunk = int(max(X.chunks[0]))
    zarr.open_array(
        str(path), mode="w", shape=(n_obs, emb.shape[1]), chunks=(chunk, emb.shape[1]), dtype="f4"
    )
    return str(path)
