"""Embedding a store with the reference model: a 2-worker local Dask cluster vs in process.

The model is a small reference transformer (d_model 32, 1 layer, 32 tokens per cell) so that
a million cells embed in minutes on 2 CPU cores; what is measured is the block machinery
around it (reading, matching, tokenising, scheduling, writing), not the model.

    python benchmarks/dask_embed.py                      # 1,000,000 cells, blocks of 20,000
    python benchmarks/dask_embed.py --n-cells 100000 --block 10000
    python benchmarks/dask_embed.py --workers 1 2 4  # scaling: 1, 2 and 4 single-threaded workers

Writes a zarr store of Poisson counts over 1,000 genes of the real Geneformer vocabulary
(needs ``SCMF_DATA_DIR``), then embeds it (a) in process from the lazily read store, block by
block, with torch's threads (one per core), and (b) on a ``LocalCluster`` of single-threaded
worker processes (2, or each of ``--workers``), writing the embedding to a zarr store. Reports cells/s, each worker's peak memory, and the scheduling
overhead per block (wall time x workers minus the time the workers spent in blocks, per block).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def make_store(path: Path, n: int, chunk: int, vocab) -> None:
    import anndata as ad
    import pandas as pd
    import zarr
    from scipy import sparse

    genes = np.asarray(vocab.ensembl[4:1004])  # real Ensembl ids of the vocabulary
    rng = np.random.default_rng(0)
    rates = rng.gamma(0.3, 2.0, (10, genes.size)).astype(np.float32)
    head = ad.AnnData(
        X=sparse.csr_matrix((0, genes.size), dtype=np.float32),
        obs=pd.DataFrame(index=pd.Index([], dtype=str)),
        var=pd.DataFrame(index=genes),
    )
    parts = []
    for s in range(0, n, chunk):  # written piece by piece: the full matrix is never in memory
        m = min(chunk, n - s)
        X = sparse.csr_matrix(rng.poisson(rates[rng.integers(0, 10, m)]).astype(np.float32))
        part = ad.AnnData(X=X, obs=pd.DataFrame(index=[f"c{s + i}" for i in range(m)]), var=head.var)
        p = path.parent / f"part_{s}.zarr"
        part.write_zarr(p)
        parts.append(p)
    ad.experimental.concat_on_disk(parts, path)
    zarr.consolidate_metadata(str(path))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n-cells", type=int, default=1_000_000)
    p.add_argument("--block", type=int, default=20_000)
    p.add_argument("--workers", type=int, nargs="+", default=[2], help="cluster sizes to run, e.g. 1 2")
    a = p.parse_args()

    import torch

    import scmf
    from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, save_reference

    data_dir = Path(os.environ["SCMF_DATA_DIR"])
    vocab = GeneVocab.from_geneformer(data_dir / "geneformer_gc95M_vocab.tsv.gz")
    tmp = Path(tempfile.mkdtemp(prefix="scmf_dask_"))
    torch.manual_seed(0)
    ckpt = save_reference(
        ReferenceModel(
            ReferenceConfig(vocab_size=len(vocab), d_model=32, n_layers=1, n_heads=2, d_ff=64, max_len=32)
        ),
        vocab,
        tmp / "reference",
    )
    t0 = time.perf_counter()
    make_store(tmp / "cells.zarr", a.n_cells, a.block, vocab)
    print(f"store: {a.n_cells:,} cells x 1,000 genes written in {time.perf_counter() - t0:.0f} s")

    lazy = scmf.datasets.read_lazy(tmp / "cells.zarr", chunk_size=a.block)
    t0 = time.perf_counter()
    scmf.tl.embed(lazy, ckpt, progress=False)
    t_local = time.perf_counter() - t0
    local = np.asarray(lazy.obsm["X_scmf"])
    peak_local = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(
        f"in process (2 torch threads): {t_local:.1f} s, {a.n_cells / t_local:,.0f} cells/s, peak RSS {peak_local:.2f} GB"
    )

    for n_workers in a.workers:
        t_cluster, busy, n_blocks, peaks, emb = on_cluster(tmp, ckpt, a.block, n_workers)
        print(
            f"{n_workers}-worker LocalCluster (1 thread each): {t_cluster:.1f} s, {a.n_cells / t_cluster:,.0f} cells/s "
            f"({t_local / t_cluster:.2f}x in process); worker peak RSS "
            + ", ".join(f"{v:.2f} GB" for v in peaks.values())
        )
        overhead = (t_cluster * n_workers - busy) / n_blocks
        print(
            f"  {n_blocks} blocks of {a.block:,} cells: workers busy {busy:.1f} s of {n_workers * t_cluster:.1f} "
            f"worker-s; scheduling/IO overhead {overhead:.2f} s per block "
            f"({overhead / (busy / n_blocks):.1%} of a block's compute)"
        )
        print(f"  max |cluster - in process| = {np.abs(emb - local).max():.2e}")


def on_cluster(tmp: Path, ckpt, block: int, n_workers: int):
    """Embed the store on a fresh LocalCluster of ``n_workers`` single-threaded workers (zarr output)."""
    import shutil

    from distributed import Client, LocalCluster, get_task_stream

    import scmf

    shutil.rmtree(tmp / "emb.zarr", ignore_errors=True)
    with (
        LocalCluster(
            n_workers=n_workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        lazy = scmf.datasets.read_lazy(tmp / "cells.zarr", chunk_size=block)
        t0 = time.perf_counter()
        with get_task_stream(client) as ts:
            scmf.tl.embed(lazy, ckpt, zarr_store=tmp / "emb.zarr", progress=False)
        t_cluster = time.perf_counter() - t0
        busy = sum(
            s["stop"] - s["start"]
            for task in ts.data
            if "embed" in task["key"]
            for s in task["startstops"]
            if s["action"] == "compute"
        )
        n_blocks = lazy.uns["scmf"]["params"]["X_scmf"]["n_blocks"]
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
        emb = lazy.obsm["X_scmf"].compute()
    return t_cluster, busy, n_blocks, peaks, emb


if __name__ == "__main__":
    main()
