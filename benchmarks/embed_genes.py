"""tl.embed_genes(mode="contextual") against tl.embed on the same cells, model and batch size.

    SCMF_DATA_DIR=../shared/data python benchmarks/embed_genes.py [--formats reference scgpt geneformer] [--cells 2000]

Both run the model's own recipe over the same chunks; the gene pass also keeps every gene
token's output state and adds it to its gene's running sum. The two are timed in turns
(``--rounds`` each, the median reported) in one process, so a busy machine slows both alike.
Random-weight releases in each published layout (the real weights cannot be downloaded here),
with the data's genes as vocabulary, on Kang's PBMCs as counts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--formats", nargs="+", default=["reference", "scgpt", "geneformer"])
    p.add_argument("--cells", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    a = p.parse_args()

    import anndata as ad
    import torch

    import scmf
    from helpers import counts_of

    torch.set_num_threads(max(os.cpu_count() or 1, 1))
    warnings.simplefilter("ignore")
    kang = ad.read_h5ad(Path(os.environ["SCMF_DATA_DIR"]) / "kang2018_ifnb_scgen_valid.h5ad")
    cells = counts_of(kang[: a.cells].copy())
    options = {"scgpt": {"max_length": 512}}
    print(
        f"{cells.n_obs} cells x {cells.n_vars} genes; batch size {a.batch_size}; median of {a.rounds} turns"
    )
    for fmt in a.formats:
        path = scmf.models.random_release(fmt, Path(tempfile.mkdtemp()) / fmt, genes=cells, seed=0)
        model = scmf.models.load(path, **options.get(fmt, {}))
        t_cell, t_gene = [], []
        for _ in range(a.rounds):
            x = cells.copy()
            t0 = time.perf_counter()
            scmf.tl.embed(x, model, batch_size=a.batch_size, progress=False)
            t_cell.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            scmf.tl.embed_genes(x, model, mode="contextual", batch_size=a.batch_size, progress=False)
            t_gene.append(time.perf_counter() - t0)
        c, g = statistics.median(t_cell), statistics.median(t_gene)
        n = x.uns["scmf"]["params"]["X_scmf_genes"]["n_genes_represented"]
        print(
            f"{fmt:12s} tl.embed {c:6.2f} s   embed_genes(contextual) {g:6.2f} s   ratio {g / c:.2f}x   ({n} genes)"
        )


if __name__ == "__main__":
    main()
