"""tl.embed performance: tokenisation speed, overhead over the bare forward pass, padding,
and peak memory on a large backed .h5ad.

    python benchmarks/embed.py tokenize   # rank_value cells/s (target >= 20,000)
    python benchmarks/embed.py overhead   # tl.embed / bare forward (target <= 1.15)
    python benchmarks/embed.py padding    # pad-to-longest-in-batch vs pad-to-max_len
    python benchmarks/embed.py backed [--gb 2.0]   # peak RSS embedding a backed file (target < 1.5 GB)

Data: cells x 2,000 genes named by Geneformer's Ensembl ids (the real vocabulary, read from
SCMF_DATA_DIR), integer counts, ~200 expressed genes per cell unless stated.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import sparse


def vocab():
    from scmf.models import GeneVocab

    d = os.environ.get("SCMF_DATA_DIR")
    if not d:
        sys.exit("set SCMF_DATA_DIR to the folder with geneformer_gc95M_vocab.tsv.gz")
    return GeneVocab.from_geneformer(Path(d) / "geneformer_gc95M_vocab.tsv.gz")


def counts(n_cells, n_genes=2000, per_cell=200, seed=0, vary=False):
    rng = np.random.default_rng(seed)
    if vary:  # expressed genes per cell from ~20 to n_genes (log-uniform)
        nnz = np.exp(rng.uniform(np.log(20), np.log(n_genes), n_cells)).astype(np.int64)
    else:
        nnz = rng.poisson(per_cell, n_cells).clip(1, n_genes)
    indptr = np.concatenate([[0], np.cumsum(nnz)])
    indices = np.concatenate([np.sort(rng.choice(n_genes, k, replace=False)) for k in nnz]).astype(np.int32)
    data = rng.geometric(0.3, indptr[-1]).astype(np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(n_cells, n_genes))


def adata_for(v, X):
    import anndata as ad
    import pandas as pd

    genes = v.ensembl[v.is_gene][: X.shape[1]]
    return ad.AnnData(X, var=pd.DataFrame(index=pd.Index(genes, dtype=str)))


def reference(v, d_model=128, n_layers=2, max_len=256):
    import torch

    from scmf.models import ReferenceConfig, ReferenceModel, TokenizedModel, Tokenizer

    torch.manual_seed(0)
    cfg = ReferenceConfig(
        vocab_size=len(v), d_model=d_model, n_layers=n_layers, n_heads=4, d_ff=4 * d_model, max_len=max_len
    )
    m = ReferenceModel(cfg).eval()
    return TokenizedModel(m, Tokenizer(v, "rank_value", max_len=max_len), name="reference")


def cmd_tokenize(a):
    v = vocab()
    X = counts(a.n_cells)
    ad = adata_for(v, X)
    tk = reference(v).tokenizer
    match, scale = tk.match(ad.var, ad.var_names)
    tk.encode(X[:100], match.token_ids, scale)  # compile (cached on disk after the first run)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        tk.encode(X, match.token_ids, scale, input_scale="counts")
        ts.append(time.perf_counter() - t0)
    print(
        f"rank_value, {a.n_cells} cells x 2000 genes, ~200 expressed, max_len 256: "
        f"{a.n_cells / min(ts):,.0f} cells/s (target >= 20,000)"
    )


def _forward_batches(model, batches):
    import torch

    with torch.inference_mode():
        for ids, vals, mask in batches:
            model.module.encode(torch.from_numpy(ids), torch.from_numpy(vals), torch.from_numpy(mask))


def _bucketed(t, batch_size):
    order = np.argsort(t.lengths, kind="stable")
    mask = t.attention_mask
    out = []
    for b in range(0, order.size, batch_size):
        idx = order[b : b + batch_size]
        w = int(t.lengths[idx].max())
        out.append((t.ids[idx, :w], t.values[idx, :w], mask[idx, :w]))
    return out


def cmd_overhead(a):
    import scmf

    v = vocab()
    X = counts(a.n_cells)
    ad = adata_for(v, X)
    model = reference(v)
    tk = model.tokenizer
    match, scale = tk.match(ad.var, ad.var_names)
    t = tk.encode(X, match.token_ids, scale, input_scale="counts")
    batches = _bucketed(t, 256)  # exactly the batches tl.embed forms
    scmf.tl.embed(ad[:512].copy(), model, input_scale="counts", progress=False)  # warm up
    bare, ours = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        _forward_batches(model, batches)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        scmf.tl.embed(ad, model, input_scale="counts", progress=False)
        ours.append(time.perf_counter() - t0)
    print(f"{a.n_cells} cells, reference model (hidden 128, 2 layers), batch 256, cpu")
    print(f"  bare forward on pre-tokenised batches: {min(bare):.2f} s")
    print(f"  scmf.tl.embed end to end:              {min(ours):.2f} s")
    print(f"  ratio {min(ours) / min(bare):.3f} (target <= 1.15)")


def cmd_padding(a):
    v = vocab()
    X = counts(a.n_cells, vary=True)
    ad = adata_for(v, X)
    model = reference(v, max_len=1024)
    tk = model.tokenizer
    match, scale = tk.match(ad.var, ad.var_names)
    t = tk.encode(X, match.token_ids, scale, input_scale="counts")
    width = tk.max_len + 1
    ids = np.full((t.ids.shape[0], width), v.pad_id, dtype=np.int64)
    ids[:, : t.ids.shape[1]] = t.ids
    vals = np.zeros((t.ids.shape[0], width), dtype=np.float32)
    mask = np.arange(width)[None, :] < t.lengths[:, None]
    naive = [(ids[b : b + 64], vals[b : b + 64], mask[b : b + 64]) for b in range(0, ids.shape[0], 64)]
    bucketed = _bucketed(t, 64)
    _forward_batches(model, bucketed[:2])
    t0 = time.perf_counter()
    _forward_batches(model, naive)
    t_naive = time.perf_counter() - t0
    t0 = time.perf_counter()
    _forward_batches(model, bucketed)
    t_b = time.perf_counter() - t0
    print(
        f"{a.n_cells} cells with 20..2000 expressed genes (median {int(np.median(np.diff(X.indptr)))}), max_len 1024, batch 64"
    )
    print(
        f"  padded to max_len: {t_naive:.2f} s; padded to the longest in batch, length-sorted: {t_b:.2f} s; "
        f"speed-up {t_naive / t_b:.1f}x"
    )


def _write_big(path: Path, gb: float, v):
    import h5py
    import pandas as pd
    from anndata.io import sparse_dataset, write_elem

    per_cell, n_genes = 1000, 2000
    n_cells = int(gb * 2**30 / (per_cell * 8))
    chunk = 20_000
    genes = v.ensembl[v.is_gene][:n_genes]
    with h5py.File(path, "w") as f:
        write_elem(f, "obs", pd.DataFrame(index=pd.Index([f"c{i}" for i in range(n_cells)], dtype=str)))
        write_elem(f, "var", pd.DataFrame(index=pd.Index(genes, dtype=str)))
        for s in range(0, n_cells, chunk):
            X = counts(min(chunk, n_cells - s), n_genes, per_cell, seed=s)
            if s == 0:
                write_elem(f, "X", X)
                ds = sparse_dataset(f["X"])
            else:
                ds.append(X)
    return n_cells


def cmd_backed(a):
    v = vocab()
    with tempfile.TemporaryDirectory(dir=a.tmp) as tmp:
        path = Path(tmp) / "big.h5ad"
        t0 = time.perf_counter()
        n = _write_big(path, a.gb, v)
        print(
            f"wrote {path.stat().st_size / 2**30:.2f} GiB, {n:,} cells x 2000 genes in {time.perf_counter() - t0:.0f} s"
        )
        code = (
            "import resource, time, anndata as ad, scmf, sys\n"
            "sys.path.insert(0, 'benchmarks'); import embed as b\n"
            f"a = ad.read_h5ad({str(path)!r}, backed='r')\n"
            "m = b.reference(b.vocab(), d_model=32, n_layers=1, max_len=64)\n"
            "t = time.perf_counter(); scmf.tl.embed(a, m, input_scale='counts', batch_size=512, progress=False)\n"
            "print(f'embedded {a.n_obs:,} cells in {time.perf_counter() - t:.0f} s; peak RSS '\n"
            "      f'{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB (target < 1.5)')\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["tokenize", "overhead", "padding", "backed"])
    p.add_argument("--n-cells", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--gb", type=float, default=2.0)
    p.add_argument("--tmp", default=None)
    a = p.parse_args()
    {"tokenize": cmd_tokenize, "overhead": cmd_overhead, "padding": cmd_padding, "backed": cmd_backed}[
        a.what
    ](a)
    print(f"(this process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB)")


if __name__ == "__main__":
    main()
