"""The authors' own code of published models, loaded from the archives in the reference folder.

Nothing here is installed: each archive is extracted once per test session, its folder put on
``sys.path``, and package ``__init__`` files that pull in unneeded dependencies are replaced by
empty packages (``types.ModuleType``) so that only the modules the parity tests need load.
Tests skip, saying why, when the folder or an archive is absent.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tarfile
import types
import zipfile
from pathlib import Path

import pytest

ARCHIVES = {
    "scgpt": "scgpt-0.2.4-py3-none-any.whl",
    "uce": "uce_model-0.1.4-py3-none-any.whl",
    "transcriptformer": "transcriptformer-0.6.1-py3-none-any.whl",
    "scfoundation": "scfoundation-d09626a-model.tar.gz",
}


def reference_dir() -> Path | None:
    env = os.environ.get("SCMF_REFERENCE_DIR")
    here = Path(__file__).resolve().parents[2] / "shared" / "reference"
    for d in (Path(env) if env else None, here):
        if d is not None and d.is_dir():
            return d
    return None


def extract(name: str, dest: Path) -> Path:
    """The archive of ``name`` extracted under ``dest`` (skips the test when it is absent)."""
    ref = reference_dir()
    if ref is None:
        pytest.skip("the authors' reference code (../shared/reference or SCMF_REFERENCE_DIR) is absent")
    archive = ref / ARCHIVES[name]
    if not archive.is_file():
        pytest.skip(f"{archive.name} is not in {ref}")
    out = dest / name
    if not out.exists():
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as z:
                z.extractall(out)
        else:
            with tarfile.open(archive) as t:
                t.extractall(out, filter="data")
    return out


def empty_package(name: str, path: Path | None = None, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = [str(path)] if path is not None else []
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    return mod


def load_module(name: str, file: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def scgpt(dest: Path) -> types.SimpleNamespace:
    """scGPT's ``TransformerModel``, ``DataCollator``, ``binning`` and ``get_batch_cell_embeddings``."""
    import logging
    import warnings

    root = extract("scgpt", dest) / "scgpt"
    empty_package("scgpt", root, logger=logging.getLogger("scGPT"))
    empty_package("scgpt.model", root / "model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "flash_attn is not installed"
        model = importlib.import_module("scgpt.model.model")
    sys.modules["scgpt.model"].TransformerModel = model.TransformerModel
    preprocess = importlib.import_module("scgpt.preprocess")
    collator = importlib.import_module("scgpt.data_collator")
    # cell_emb.py also imports the vocabulary class (torchtext) and utils (IPython), which
    # get_batch_cell_embeddings does not use
    empty_package("scgpt.tokenizer", GeneVocab=None)
    empty_package("scgpt.utils", load_pretrained=None)
    empty_package("scgpt.tasks", root / "tasks")
    cell_emb = importlib.import_module("scgpt.tasks.cell_emb")
    return types.SimpleNamespace(
        TransformerModel=model.TransformerModel,
        DataCollator=collator.DataCollator,
        binning=preprocess.binning,
        get_batch_cell_embeddings=cell_emb.get_batch_cell_embeddings,
    )


def uce(dest: Path) -> types.SimpleNamespace:
    """UCE's ``TransformerModel``, sentence sampling, collator and preprocessing functions."""
    root = extract("uce", dest) / "uce"
    empty_package("uce", root)  # its __init__ imports the download helpers (gdown, requests)
    empty_package("uce.data_proc", root / "data_proc")
    model = importlib.import_module("uce.model")
    eval_data = importlib.import_module("uce.eval_data")
    gene_embeddings = importlib.import_module("uce.data_proc.gene_embeddings")
    data_utils = importlib.import_module("uce.data_proc.data_utils")
    return types.SimpleNamespace(
        TransformerModel=model.TransformerModel,
        MultiDatasetSentences=eval_data.MultiDatasetSentences,
        MultiDatasetSentenceCollator=eval_data.MultiDatasetSentenceCollator,
        sample_cell_sentences=eval_data.sample_cell_sentences,
        gene_embeddings=gene_embeddings,
        data_utils=data_utils,
    )


def scfoundation(dest: Path) -> types.SimpleNamespace:
    """scFoundation's ``model/`` folder: ``select_model``, ``load`` and the ``get_embedding`` script."""
    model_dir = extract("scfoundation", dest) / "scfoundation" / "model"
    if str(model_dir) not in sys.path:
        sys.path.insert(0, str(model_dir))  # the scripts import load and pretrainmodels from their folder
    pretrainmodels = importlib.import_module("pretrainmodels")
    load = importlib.import_module("load")
    return types.SimpleNamespace(dir=model_dir, select_model=pretrainmodels.select_model, load=load)


def scfoundation_get_embedding(ref: types.SimpleNamespace, argv: list[str]) -> types.ModuleType:
    """scFoundation's ``get_embedding.py`` as a module (it parses its arguments and reads the gene
    index from the working folder when imported)."""
    old = sys.argv
    sys.argv = ["get_embedding.py", *argv]
    try:
        sys.modules.pop("get_embedding", None)
        return load_module("get_embedding", ref.dir / "get_embedding.py")
    finally:
        sys.argv = old


def transcriptformer(dest: Path) -> types.SimpleNamespace:
    """TranscriptFormer's model classes and its inference entry point (``run_inference``)."""
    root = extract("transcriptformer", dest)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))  # its package __init__ is empty: imported as it is
    inference = importlib.import_module("transcriptformer.model.inference")
    model = importlib.import_module("transcriptformer.model.model")
    vocab = importlib.import_module("transcriptformer.tokenizer.vocab")
    return types.SimpleNamespace(
        run_inference=inference.run_inference,
        Transcriptformer=model.Transcriptformer,
        ESM2CE=model.ESM2CE,
        load_vocabs_and_embeddings=vocab.load_vocabs_and_embeddings,
        inference_yaml=root / "transcriptformer" / "cli" / "conf" / "inference_config.yaml",
    )


def scgpt_model(ref: types.SimpleNamespace, vocab: dict, args: dict):
    """scGPT's ``TransformerModel`` as its embedding task builds it from a release's ``args.json``."""
    return ref.TransformerModel(
        ntoken=len(vocab),
        d_model=args["embsize"],
        nhead=args["nheads"],
        d_hid=args["d_hid"],
        nlayers=args["nlayers"],
        nlayers_cls=args["n_layers_cls"],
        n_cls=1,
        vocab=vocab,
        dropout=args["dropout"],
        pad_token=args["pad_token"],
        pad_value=args["pad_value"],
        do_mvc=True,
        do_dab=False,
        use_batch_labels=False,
        domain_spec_batchnorm=False,
        input_emb_style=args["input_emb_style"],
        n_input_bins=args["n_bins"] + 2,
        explicit_zero_prob=False,
        use_fast_transformer=True,  # flash-attn is absent: scGPT falls back to torch's layers
        fast_transformer_backend="flash",
        pre_norm=False,
    )
