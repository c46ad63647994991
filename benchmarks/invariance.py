"""bm.invariance end to end against the embeddings it has to make, on Kang's cells.

    SCMF_DATA_DIR=../shared/data python benchmarks/invariance.py [--formats geneformer scgpt] [--n-cells 2000]

The benchmark's cost is its re-embeddings: the reference, the sample among other cells (twice
the cells), each cell type alone, ``n_alone`` cells one by one, two thinnings, the permuted
genes, two batch sizes and another seed. Reported per model: the whole call, the time its
``tl.embed`` calls took (recorded in the result), the rest (sampling, thinning, cosines,
neighbours, probes) as a share of the whole, and one ``tl.embed`` of the sample for scale.
Random-weight releases in each published layout, with the data's genes as vocabulary.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--formats", nargs="+", default=["geneformer", "scgpt", "pca"])
    p.add_argument("--n-cells", type=int, default=2000)
    a = p.parse_args()

    import anndata as ad

    import scmf
    from helpers import counts_of

    warnings.simplefilter("ignore")
    kang = ad.read_h5ad(Path(os.environ["SCMF_DATA_DIR"]) / "kang2018_ifnb_scgen_valid.h5ad")
    cells = counts_of(kang)
    options = {"scgpt": {"max_length": 512}}
    for fmt in a.formats:
        model = (
            fmt
            if fmt == "pca"
            else scmf.models.random_release(fmt, Path(tempfile.mkdtemp()) / fmt, genes=cells)
        )
        x = cells.copy()
        t0 = time.perf_counter()
        scmf.bm.invariance(x, {fmt: model}, cell_type_key="cell_type", n_cells=a.n_cells,
                           options=options.get(fmt), progress=False)  # fmt: skip
        total = time.perf_counter() - t0
        r = scmf._store.get(x, "invariance", rep=fmt)
        emb = float(r.metadata["embedding_seconds"])
        n = int(r.metadata["n_embeddings"])
        m = int(r.metadata["n_cells"])
        one = cells[:m].copy()
        t0 = time.perf_counter()
        scmf.tl.embed(one, model, progress=False, options=options.get(fmt))
        t_one = time.perf_counter() - t0
        print(
            f"{fmt:11s} {m} cells: whole call {total:6.1f} s; its {n} tl.embed calls {emb:6.1f} s; "
            f"the rest {100 * (total - emb) / total:4.1f}% of the call; one tl.embed of the sample {t_one:5.2f} s"
        )


if __name__ == "__main__":
    main()
