"""The built-in recipes for models that run in their own environment (see ``_external``).

Each script runs with the model's environment's interpreter (never with scmf's), calls the
authors' own Python API as their documentation does, and writes the embedding as ``.npy``
rows in the order of the cells it was given, plus a JSON record of what it ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExternalRecipe:
    """How to run one model's own code: its script or command line and its conventions.

    Attributes
    ----------
    name
        Recorded as the model's name.
    script
        Python source the environment's interpreter runs with one argument, the job file
        (JSON: ``input``, ``output``, ``info``, ``files``, ``options``, ``seed``, ``device``,
        ``packages``). It writes ``output`` (``.npy``, one row per input cell, in order) and may
        write ``info`` (JSON, recorded). Either this or ``command``.
    command
        A command line whose parts may name ``{python}``, ``{input}``, ``{output}``, ``{seed}``,
        ``{device}``, a file of ``files`` or an option of ``options`` in braces. ``output``
        ends in ``.npy`` (rows in input order) or ``.h5ad`` (cells as ``obs``, checked against
        the input's names; the embedding in ``X`` or ``obsm[output_key]``).
    files
        Names of the files the recipe needs from the model folder (e.g. ``checkpoint``).
    options
        Options and their defaults (others are refused).
    input_scale
        What the model reads: ``"counts"`` (refused: log-normalised or scaled input), or ``"any"``.
    obs
        ``obs`` columns written with the cells (``{"column": default}``: a default for a
        column the data lack; ``None``: required).
    context_option
        The option holding how many consecutive cells the model sees together (their
        embeddings depend on each other): cells are written in the data's order, or grouped
        by ``context_key``; Dask blocks are made whole multiples of it.
    packages
        Distributions whose versions are recorded.
    requirements
        What scmf installs when it creates the environment (``environment: create``).
    output
        ``"npy"`` or ``"h5ad"``.
    output_key
        For ``"h5ad"`` output: the ``obsm`` key holding the embedding (``None``: ``X``).
    notes
        Shown by ``scmf list`` (license, where the weights are).
    """

    name: str
    script: str | None = None
    command: tuple[str, ...] | None = None
    files: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    input_scale: str = "counts"
    obs: Mapping[str, Any] = field(default_factory=dict)
    context_option: str | None = None
    packages: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    output: str = "npy"
    output_key: str | None = None
    notes: str = ""

    def __post_init__(self):
        if (self.script is None) == (self.command is None):
            msg = f"external recipe {self.name!r}: give a script or a command, not both or neither."
            raise ValueError(msg)
        if self.output not in ("npy", "h5ad"):
            msg = f"external recipe {self.name!r}: output must be 'npy' or 'h5ad', got {self.output!r}."
            raise ValueError(msg)
        if self.input_scale not in ("counts", "any"):
            msg = f"external recipe {self.name!r}: input_scale must be 'counts' or 'any', got {self.input_scale!r}."
            raise ValueError(msg)


# What every built-in script starts with: read the job, seed the global generators (the
# authors' samplers draw from them), set the threads, resolve the device.
_BEGIN = r"""
import time
t0 = time.perf_counter()
import json, random, sys
from importlib import metadata
import numpy as np
import torch
job = json.load(open(sys.argv[1]))
opt = job["options"]
random.seed(job["seed"])
np.random.seed(job["seed"])
torch.manual_seed(job["seed"])
if job["threads"]:
    torch.set_num_threads(int(job["threads"]))
device = job["device"]
if device == "auto":
    device = "cuda" if torch.cuda.is_available() else "cpu"
"""

# What every built-in script ends with: the embedding ``emb`` as float32 rows, and a record
# of the run (``extra`` adds to it); ``t1`` marks the end of the imports.
_END = r"""
t2 = time.perf_counter()
np.save(job["output"], np.asarray(emb, dtype=np.float32))


def _version(p):
    try:
        return metadata.version(p)
    except metadata.PackageNotFoundError:
        return None


with open(job["info"], "w") as f:
    json.dump({"seconds": {"imports": t1 - t0, "model": t2 - t1}, "python": sys.version.split()[0],
               "versions": {p: _version(p) for p in job["packages"]}, "device": device, **extra}, f)
"""

_STACK = (
    _BEGIN
    + r"""
from stack.model_loading import load_model_from_checkpoint

t1 = time.perf_counter()
model = load_model_from_checkpoint(job["files"]["checkpoint"], device=torch.device(device))
if int(model.n_cells) != int(opt["context_size"]):
    sys.exit(
        f"the checkpoint's context is {int(model.n_cells)} cells, not context_size={opt['context_size']}; "
        "pass options={'context_size': %d}" % int(model.n_cells)
    )
emb, _ = model.get_latent_representation(
    adata_path=job["input"],
    genelist_path=job["files"]["genelist"],
    gene_name_col=None,
    batch_size=int(opt["batch_size"]),
    show_progress=False,
    num_workers=0,
    random_state=job["seed"],
)
extra = {"context_size": int(model.n_cells)}
"""
    + _END
)

_SCPRINT = (
    _BEGIN
    + r"""
import anndata as ad
from scprint import scPrint
from scprint.tasks import Embedder

t1 = time.perf_counter()
model = scPrint.load_from_checkpoint(job["files"]["checkpoint"], precpt_gene_emb=None, map_location=device)
adata = ad.read_h5ad(job["input"])
if opt["preprocess"]:
    from scdataloader import Preprocessor

    adata = Preprocessor(do_postp=False)(adata)
dtype = {"auto": torch.float16 if device == "cuda" else torch.float32, "float16": torch.float16,
         "bfloat16": torch.bfloat16, "float32": torch.float32}[opt["dtype"]]
embedder = Embedder(how=opt["how"], max_len=int(opt["max_len"]), batch_size=int(opt["batch_size"]),
                    num_workers=0, doclass=False, doplot=False, pred_embedding=[], dtype=dtype)
adata, _ = embedder(model, adata, cache=False)
emb = adata.obsm["scprint_emb"]
extra = {}
"""
    + _END
)

RECIPES: dict[str, ExternalRecipe] = {
    "stack": ExternalRecipe(
        name="stack",
        script=_STACK,
        files=("checkpoint", "genelist"),
        options={"batch_size": 32, "context_size": 256},
        input_scale="counts",
        context_option="context_size",
        packages=("arc-stack", "torch", "anndata", "numpy"),
        requirements=("arc-stack==0.1.3",),
        notes=(
            "Arc Institute's Stack (PyPI arc-stack; code and weights CC BY-NC-SA 4.0, non-commercial). "
            "Files: checkpoint (.ckpt), genelist (the pickled gene list of training). Each run of "
            "context_size consecutive cells is embedded together."
        ),
    ),
    "scprint": ExternalRecipe(
        name="scprint",
        script=_SCPRINT,
        files=("checkpoint",),
        options={
            "max_len": 2000,
            "batch_size": 64,
            "how": "random expr",
            "dtype": "auto",
            "preprocess": True,
        },
        input_scale="counts",
        obs={"organism_ontology_term_id": "NCBITaxon:9606"},
        packages=("scprint", "torch", "lamindb", "anndata", "numpy"),
        requirements=("scprint==2.3.8",),
        notes=(
            "scPRINT (PyPI scprint, Kalfon et al., Nature Communications 2025): Ensembl gene ids as var names, "
            "counts; pins torch 2.2, numpy < 2 and Python < 3.13, hence its own environment."
        ),
    ),
}
