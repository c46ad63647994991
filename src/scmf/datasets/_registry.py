"""The public datasets scmf's tutorials and tests use: where they come from and their checksums.

``fetch(name)`` looks in order at: ``SCMF_DATA_DIR`` (a folder that already holds the files:
no download), the cache (``cache_dir=``, else ``SCMF_CACHE_DIR``, else the user cache
folder), then downloads with pooch from ``base_url=`` / ``SCMF_DATA_URL`` (a mirror holding
the files under their registry file names) or the dataset's own public URL. Every file is
checked against its sha256 before use; a mismatch is an error and the file is not used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    filename: str
    sha256: str
    url: str | None  # direct download of exactly this file; None: converted upstream data (mirror only)
    source: str
    shape: str
    description: str
    citation: str
    license: str


_GH = "https://raw.githubusercontent.com"
_ENTRIES = [
    DatasetEntry(
        "kang2018",
        "kang2018_ifnb_scgen_valid.h5ad",
        "83f89f5356a4c01f65bbcee225eb45d8d8b13b6c962724431a26c1bf568ff09e",
        f"{_GH}/theislab/scgen/dd7e178f9b42b9dfef9eb18d0da4b8e3caea4cf7/data/valid.h5ad",
        "github.com/theislab/scgen @dd7e178, data/valid.h5ad",
        "1,975 cells x 6,998 genes",
        "PBMCs, control vs IFN-beta stimulated; log1p-normalised; obs cell_type (7), condition",
        "Kang et al. (2018) Nat Biotechnol 36:89; scGen: Lotfollahi et al. (2019) Nat Methods 16:715",
        "MIT (scGen repository)",
    ),
    DatasetEntry(
        "norman2019_perturbench",
        "norman2019_mcfaline2023_perturbench_devel.h5ad",
        "220998f5630c813228c8661c86dd52244b9ac87127511289af90e0d900d8429b",
        f"{_GH}/altoslabs/perturbench/d357dfae3b50968e800e9f5f273ff145080ae67c/src/perturbench/data/resources/devel.h5ad",
        "github.com/altoslabs/perturbench @d357dfa, src/perturbench/data/resources/devel.h5ad",
        "5,961 cells x 500 genes",
        "CRISPRa (K562) and CRISPRi screens; obs perturbation (34, control 'control'), cell_type, dataset",
        "Norman et al. (2019) Science 365:786; McFaline-Figueroa et al. (2023); PerturBench (Altos Labs)",
        "BSD-3-Clause",
    ),
    DatasetEntry(
        "dorothea_hs",
        "dorothea_hs.tsv.gz",
        "ff2ca92a059663d1a2b478643b00b7840444df35b2cd2caa15c69c2d89614e49",
        None,
        "github.com/saezlab/dorothea @1461fb7, data/dorothea_hs.rda, converted to TSV (datasets/README.md)",
        "454,504 edges (13,223 with confidence A-C)",
        "human TF -> target regulons: tf, confidence (A-E), target, mor",
        "Garcia-Alonso et al. (2019) Genome Res 29:1363",
        "GPL-3.0",
    ),
    DatasetEntry(
        "geneformer_gc95M_vocab",
        "geneformer_gc95M_vocab.tsv.gz",
        "52c0a18333770865db79b25dd3975d4edfa873daf326ddf08d026d2f1c12cb84",
        None,
        "Geneformer gc95M token/median/name dictionaries (github.com/zyj1729/Geneformer @b466b7b), merged to TSV",
        "20,275 tokens",
        "Geneformer vocabulary: ensembl_id, symbol, token_id, nonzero_median",
        "Theodoris et al. (2023) Nature 618:616",
        "Apache-2.0",
    ),
    DatasetEntry(
        "scgpt_vocab",
        "scgpt_default_gene_vocab.json",
        "af490ed60ed045fe492d9124134ceb0855c056a1398e50eda24077ffa4946345",
        None,
        "PyPI scgpt==0.2.4, scgpt/tokenizer/default_gene_vocab.json",
        "48,292 tokens",
        "scGPT gene vocabulary {symbol: token id}",
        "Cui et al. (2024) Nat Methods 21:1470",
        "MIT",
    ),
]
_REGISTRY = {e.name: e for e in _ENTRIES}


def registry() -> dict[str, DatasetEntry]:
    """The registered public datasets (``pbmc68k`` ships with scanpy and needs no entry).

    Examples
    --------
    >>> import scmf
    >>> scmf.datasets.registry()["kang2018"].shape
    '1,975 cells x 6,998 genes'
    """
    return dict(_REGISTRY)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(2**20), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("SCMF_CACHE_DIR")
    if env:
        return Path(env)
    import pooch

    return Path(pooch.os_cache("scmf"))


def fetch(name: str, *, cache_dir: str | os.PathLike | None = None, base_url: str | None = None) -> Path:
    """Local path of dataset ``name``, downloading and verifying it if needed (see module docs).

    Examples
    --------
    >>> import scmf
    >>> path = scmf.datasets.fetch("kang2018")  # doctest: +SKIP
    >>> path.name  # doctest: +SKIP
    'kang2018_ifnb_scgen_valid.h5ad'
    """
    if name not in _REGISTRY:
        msg = f"unknown dataset {name!r}; registered: {sorted(_REGISTRY)} (and pbmc68k, via scanpy)."
        raise ValueError(msg)
    e = _REGISTRY[name]
    from ._builtin import data_dir

    d = data_dir()
    if d is not None and (d / e.filename).is_file():
        got = _sha256(d / e.filename)
        if got != e.sha256:
            msg = (
                f"{d / e.filename} (from SCMF_DATA_DIR) has sha256 {got}, expected {e.sha256}: the file is "
                "damaged or a different version; it is not used. Replace it or unset SCMF_DATA_DIR."
            )
            raise ValueError(msg)
        return d / e.filename
    base = base_url or os.environ.get("SCMF_DATA_URL")
    url = f"{base.rstrip('/')}/{e.filename}" if base else e.url
    cache = _cache_dir(cache_dir)
    if url is None:
        if (cache / e.filename).is_file() and _sha256(cache / e.filename) == e.sha256:
            return cache / e.filename
        msg = (
            f"dataset {name!r} is converted from {e.source} and has no direct download: put {e.filename} in "
            f"SCMF_DATA_DIR or in {cache}, or set SCMF_DATA_URL to a mirror that serves it."
        )
        raise FileNotFoundError(msg)
    import pooch

    try:
        return Path(
            pooch.retrieve(
                url, known_hash=f"sha256:{e.sha256}", fname=e.filename, path=cache, progressbar=False
            )
        )
    except ValueError as err:  # pooch: hash mismatch; the download is discarded
        msg = f"download of {name!r} from {url} failed its sha256 check and was discarded: {err}"
        raise ValueError(msg) from err
    except Exception as err:  # offline, proxy, HTTP error: one line, not the network stack's traceback
        reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        msg = (
            f"could not download dataset {name!r} from {url} ({type(err).__name__}: {reason}). Offline? Put "
            f"{e.filename} in SCMF_DATA_DIR or in the cache {cache}, or set SCMF_DATA_URL to a mirror."
        )
        raise ConnectionError(msg) from None


def load(name: str, **kwargs: Any):
    """Fetch and open a registered dataset: AnnData for ``.h5ad``, a DataFrame for the
    network, a :class:`~scmf.models.GeneVocab` for vocabularies; ``"pbmc68k"`` from scanpy.

    An AnnData carries its name in ``uns["scmf"]["dataset_name"]``: benchmarks store their
    results under it when no ``dataset_name`` is given.

    Examples
    --------
    >>> import scmf
    >>> scmf.datasets.load("pbmc68k").shape
    (700, 765)
    >>> kang = scmf.datasets.load("kang2018")  # doctest: +SKIP
    """
    if name == "pbmc68k":
        from ._builtin import pbmc68k

        return pbmc68k()
    path = fetch(name, **kwargs)
    if path.suffix == ".h5ad":
        import warnings

        import anndata as ad

        from .._uns import write_dataset_name

        with warnings.catch_warnings():  # the published files' layout, not the user's doing: said once here
            warnings.filterwarnings("ignore", message="Moving element from .uns", category=FutureWarning)
            adata = ad.read_h5ad(path)
        write_dataset_name(adata, name)  # results are stored under this name by default
        return adata
    if name == "dorothea_hs":
        import pandas as pd

        return pd.read_csv(path, sep="\t")
    from ..models import GeneVocab

    if name == "geneformer_gc95M_vocab":
        return GeneVocab.from_geneformer(path)
    return GeneVocab.from_scgpt(path)
