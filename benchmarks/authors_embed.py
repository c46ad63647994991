"""``tl.embed`` against each published model's own embedding entry point, end to end.

    python benchmarks/authors_embed.py [scgpt uce scfoundation transcriptformer] [--cells 2000]

For each format, the random-weight checkpoint of the parity tests is written in the authors'
layout (``tests/models/test_<format>.py``'s ``_release``), and the same Kang cells are embedded
by the authors' code exactly as those tests run it (``_authors_embedding``: scGPT's
``get_batch_cell_embeddings``; UCE's preprocessing, index files, sentence dataset and
forward; scFoundation's ``get_embedding.py`` script; TranscriptFormer's ``run_inference``)
and by ``scmf.models.load`` + ``scmf.tl.embed`` (reading, gene matching, tokenisation,
forward, pooling). Both sides run in this process with the same torch threads, in turns
(authors first, so any first-call cost in the process falls on their side of the first
round); each side's time is its best of ``--repeats``. The outputs must agree (the parity tests' 1e-5). Needs
``SCMF_DATA_DIR`` and the authors' archives (``SCMF_REFERENCE_DIR`` or ../shared/reference).

Geneformer is not in the table: its authors' code (the ``geneformer`` package) is not among
the reference archives, so there is no authors' entry point to run here.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "models")]

import authors  # noqa: E402
import scmf  # noqa: E402
from helpers import counts_of  # noqa: E402


def kang(n: int):
    import anndata as ad

    return ad.read_h5ad(Path(os.environ["SCMF_DATA_DIR"]) / "kang2018_ifnb_scgen_valid.h5ad")[:n].copy()


def best_of(theirs, ours, repeats: int):
    """Each side's best time, the two run in turns (authors first); and each side's output."""
    times = {"theirs": [], "ours": []}
    outs = {}
    for _ in range(repeats):
        for name, fn in (("theirs", theirs), ("ours", ours)):
            t0 = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return min(times["theirs"]), min(times["ours"]), outs["theirs"], outs["ours"]


def scgpt(tmp: Path, mp, n: int):
    import test_scgpt as t

    ref = authors.scgpt(tmp / "ref")
    vocab_json = Path(os.environ["SCMF_DATA_DIR"]) / "scgpt_default_gene_vocab.json"
    path, model, vocab = t._release(tmp, ref, vocab_json)
    cells = kang(n)

    def theirs():
        return t._authors_embedding(ref, model, vocab, t.ARGS, cells, max_length=1200, seed=7, monkeypatch=mp)

    def ours():
        loaded = scmf.models.load(path, max_length=1200, seed=7)
        return scmf.tl.embed(cells, loaded, copy=True, progress=False).obsm["X_scmf"]

    return theirs, ours


def uce(tmp: Path, mp, n: int):
    import test_uce as t

    ref = authors.uce(tmp / "ref")
    cells = counts_of(kang(n))
    d, model, n_protein = t._release(tmp, ref, list(cells.var_names))
    run = itertools.count()

    def theirs():
        work = tmp / f"run{next(run)}"  # the pipeline writes its index files into a fresh folder
        work.mkdir()
        return t._authors_embedding(ref, model, d, cells, work, mp, n_protein=n_protein, seed=11)[0]

    def ours():
        return scmf.tl.embed(cells, scmf.models.load(d, seed=11), copy=True, progress=False).obsm["X_scmf"]

    return theirs, ours


def scfoundation(tmp: Path, mp, n: int):
    import test_scfoundation as t

    ref = authors.scfoundation(tmp / "ref")
    cells = counts_of(kang(n))
    d = t._release(tmp, ref)
    options = {"pre_normalized": "F", "tgthighres": "t4"}
    argv = ["--pre_normalized", "F", "--tgthighres", "t4", "--pool_type", "all", "--version", "ce"]
    run = itertools.count()

    def theirs():
        work = tmp / f"run{next(run)}"
        work.mkdir()
        return t._authors_embedding(ref, d, cells, work, mp, argv)

    def ours():
        loaded = scmf.models.load(d / "models", **options)
        return scmf.tl.embed(cells, loaded, copy=True, progress=False).obsm["X_scmf"]

    return theirs, ours


def transcriptformer(tmp: Path, mp, n: int):
    import test_transcriptformer as t

    from scmf.models import GeneVocab

    ref = authors.transcriptformer(tmp / "ref")
    gf = GeneVocab.from_geneformer(Path(os.environ["SCMF_DATA_DIR"]) / "geneformer_gc95M_vocab.tsv.gz")
    cells = t.with_ensembl(counts_of(kang(n)), gf)
    genes = [g.split(".")[0] for g in cells.var["ensembl_id"][::2]] + ["ENSG99999999999"]
    d = t._release(tmp, ref, genes)

    def theirs():
        return t._authors_embedding(ref, d, cells, tmp, mp)

    def ours():
        return scmf.tl.embed(cells, scmf.models.load(d), copy=True, progress=False).obsm["X_scmf"]

    return theirs, ours


MODELS = {"scgpt": scgpt, "uce": uce, "scfoundation": scfoundation, "transcriptformer": transcriptformer}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("models", nargs="*", default=list(MODELS))
    p.add_argument("--cells", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    a = p.parse_args()
    if "SCMF_DATA_DIR" not in os.environ:
        sys.exit("set SCMF_DATA_DIR to the folder of public datasets")
    torch.set_num_threads(a.threads)
    print(f"{a.cells} Kang cells, torch threads {a.threads}, best of {a.repeats}")
    print(f"{'format':18s} {'authors (s)':>12s} {'scmf (s)':>10s} {'ratio':>7s} {'max |diff|':>11s}")
    for name in a.models:
        with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
            theirs, ours = MODELS[name](Path(tmp), mp, a.cells)
            t_theirs, t_ours, want, got = best_of(theirs, ours, a.repeats)
        diff = float(np.abs(np.asarray(got) - np.asarray(want)).max())
        print(f"{name:18s} {t_theirs:12.2f} {t_ours:10.2f} {t_theirs / t_ours:6.1f}x {diff:11.1e}")
        if not diff <= 1e-5:
            sys.exit(f"{name}: the two embeddings differ by {diff:.1e} (more than the parity tests' 1e-5)")


if __name__ == "__main__":
    main()
