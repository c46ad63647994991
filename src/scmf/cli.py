"""The ``scmf`` command line (thin: it parses arguments and calls the Python API)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    import pandas as pd

    import scmf

    out = Path(args.output)
    adata = scmf.datasets.pbmc68k()
    print(f"pbmc68k_reduced: {adata.n_obs} cells x {adata.n_vars} genes, labels in obs['bulk_labels']")
    scmf.tl.baselines(adata, n_comps=50, seed=args.seed)
    reps = ["X_pca_baseline", "X_random_baseline"]
    scmf.bm.linear_probe(
        adata, "bulk_labels", use_rep=reps, n_splits=5, seed=args.seed, dataset_name="pbmc68k"
    )
    scmf.bm.embedding_quality(adata, "bulk_labels", batch_key=None, use_rep=reps, dataset_name="pbmc68k")
    table = scmf.bm.results(adata)
    wide = table.pivot_table(index=["benchmark", "metric"], columns="rep", values="value", sort=False)
    with pd.option_context("display.width", 120, "display.precision", 3):
        print(wide.to_string())
    out.mkdir(parents=True, exist_ok=True)
    h5 = out / "pbmc68k_evaluated.h5ad"
    adata.write_h5ad(h5)
    scmf.bm.to_json(adata, out / "results.json")
    print(f"wrote {h5} and {out / 'results.json'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="scmf", description="Evaluate single-cell foundation models on AnnData."
    )
    parser.add_argument("--version", action="version", version=f"scmf {__version__}")
    parser.add_argument("--verbose", action="store_true", help="log progress and show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="baselines + benchmarks on scanpy's pbmc68k_reduced")
    demo.add_argument("--output", default="scmf_demo_output", help="folder for the evaluated .h5ad and JSON")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return args.func(args)
    except Exception as e:  # one clear line unless asked for the traceback
        if args.verbose:
            raise
        print(f"scmf {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
