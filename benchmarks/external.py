"""A model in its own environment: what scmf's file exchange adds to the model's own time.

    python benchmarks/external.py [--cells 10000] [--repeats 2]

Uses the Stack test model (random weights made by the authors' classes, in the isolated
environment the test suite builds and keeps; built here on first use) on Kang cells repeated
to ``--cells``. For each run: ``tl.embed`` end to end, the recipe's own time in the model's
environment (loading the checkpoint and ``get_latent_representation``), the environment's
imports, and scmf's writing and reading; the overhead is end to end minus the model's own time.
Needs ``SCMF_DATA_DIR``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(_TESTS), str(_TESTS / "models")]  # the test suite's model maker and environment


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()

    import anndata as ad
    import numpy as np
    from test_external import STACK_MAKE, stack_environment

    import scmf
    from helpers import counts_of

    env = stack_environment()
    kang = counts_of(ad.read_h5ad(Path(os.environ["SCMF_DATA_DIR"]) / "kang2018_ifnb_scgen_valid.h5ad"))
    cells = ad.concat([kang] * (-(-a.cells // kang.n_obs)))[: a.cells].copy()
    cells.obs_names_make_unique()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "stack"
        folder.mkdir()
        (Path(tmp) / "make.py").write_text(STACK_MAKE)
        genes = [g.upper() for g in kang.var_names[::20][:300]]
        subprocess.run(
            [str(env.python), str(Path(tmp) / "make.py"), str(folder), ",".join(genes)], check=True
        )
        (folder / "scmf_external.yaml").write_text(
            f"recipe: stack\nenvironment: {env.source}\nfiles:\n  checkpoint: model.ckpt\n  genelist: genes.pkl\n"
        )
        print(
            f"{cells.n_obs} cells x {cells.n_vars} genes, Stack test model (300 genes, 2 layers, context 256)"
        )
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            scmf.tl.embed(cells, folder, device="cpu")
            total = time.perf_counter() - t0
            info = cells.uns["scmf"]["params"]["X_scmf"]["external"]["info"]
            own = float(info["seconds"]["model"])
            ex = info["exchange_seconds"]
            print(
                f"end to end {total:.2f} s | model's own {own:.2f} s | overhead {total - own:.2f} s "
                f"({(total - own) / own:.1%} of the model's time): imports in its environment "
                f"{float(info['seconds']['imports']):.2f} s, interpreter start and the rest "
                f"{float(ex['command']) - own - float(info['seconds']['imports']):.2f} s, write {float(ex['write']):.2f} s, "
                f"read {float(ex['read']):.2f} s"
            )
        assert np.isfinite(cells.obsm["X_scmf"]).all()


if __name__ == "__main__":
    main()
