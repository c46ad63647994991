"""Tiny random-weight releases in each supported checkpoint layout, to test a pipeline before the
real download: the files, names and layout a loader reads, with small random weights.

One writer per format; :func:`random_release` is the one entry point (the format registry
names each writer). The weights are those scmf's loader reads (a release's training heads,
which no embedding uses, are left out); every file is one the authors' layout has.
"""

from __future__ import annotations

import json
import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._vocab import GeneVocab


def random_release(
    format: str, path: str | Path, *, genes: Sequence[str] | Any | None = None, seed: int = 0
) -> Path:
    """Write a tiny random-weight model in a published checkpoint layout.

    The folder holds the files the real release has (weights, configuration, gene
    vocabulary) in that release's format and names, with small random weights, so a pipeline
    (a config, the CLI, the training callback, a cluster) can be tried end to end before the
    real weights are downloaded: ``scmf.models.load(path)`` reads it like the real one. Its
    embeddings are meaningless.

    Parameters
    ----------
    format
        A format of :func:`scmf.models.formats` that has a writer: ``"reference"``,
        ``"geneformer"`` (needs the ``transformers`` extra), ``"scgpt"``, ``"uce"``,
        ``"scfoundation"``, ``"transcriptformer"``.
    path
        Folder to create (must not exist, or be empty).
    genes
        The model's genes: a list of names, or an AnnData whose ``var_names`` are used (pass
        your data's, so that it matches). Symbols or Ensembl ids, as your data names them
        (TranscriptFormer's vocabulary is Ensembl ids; Geneformer's is too: symbols get
        stand-in ids and a symbol dictionary). Default: the 765 genes of scanpy's
        ``pbmc68k_reduced``.
    seed
        Seed of the random weights.

    Returns
    -------
    The folder.

    Examples
    --------
    >>> import os, tempfile, scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> path = scmf.models.random_release("scgpt", os.path.join(tempfile.mkdtemp(), "scGPT_tiny"), genes=adata)
    >>> sorted(p.name for p in path.iterdir())
    ['args.json', 'best_model.pt', 'vocab.json']
    >>> model = scmf.models.load(path, max_length=64)  # read like the real scGPT_human
    >>> scmf.tl.embed(adata, model, input_scale="log1p", progress=False)
    >>> adata.obsm["X_scmf"].shape
    (700, 32)
    """
    from ._load import _FORMATS, formats

    if format not in _FORMATS:
        msg = f"unknown checkpoint format {format!r}; known: {formats()}."
        raise ValueError(msg)
    writer = _FORMATS[format].random_writer()
    if writer is None:
        have = [f for f in formats() if _FORMATS[f].random is not None]
        msg = f"format {format!r} has no random-release writer; formats with one: {have}."
        raise ValueError(msg)
    from scmf._io import write_folder_atomic

    names = _gene_names(genes)
    return write_folder_atomic(path, lambda tmp: writer(tmp, names, int(seed)))


def _gene_names(genes) -> list[str]:
    if genes is None:
        import scanpy as sc

        genes = sc.datasets.pbmc68k_reduced().var_names
    elif hasattr(genes, "var_names"):
        genes = genes.var_names
    if isinstance(genes, str):
        msg = f"genes must be a list of gene names (or an AnnData), got the string {genes!r}."
        raise TypeError(msg)
    names = list(dict.fromkeys(str(g) for g in genes))
    if len(names) < 2:
        msg = f"genes must name at least 2 genes, got {len(names)}."
        raise ValueError(msg)
    return names


def _is_ensembl(names: list[str]) -> bool:
    return all(n.startswith("ENS") for n in names)


def _randomise(module, seed: int, scale: float = 0.05) -> None:
    """Every weight of ``module`` perturbed (layer norms included), from ``seed``."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _state(module) -> dict:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def _medians(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.round(rng.lognormal(0.0, 0.5, size=n), 4)


def _geneformer_vocab(names: list[str], rng: np.random.Generator) -> tuple[dict, dict, dict]:
    """Geneformer's three dictionaries: tokens, non-zero medians, symbols -> ids."""
    specials = {"<pad>": 0, "<mask>": 1, "<cls>": 2, "<eos>": 3}
    ids = names if _is_ensembl(names) else [f"ENSG9{i:010d}" for i in range(len(names))]  # stand-ins
    tokens = {**specials, **{e: i + len(specials) for i, e in enumerate(ids)}}
    medians = dict(zip(ids, map(float, _medians(len(ids), rng)), strict=True))
    symbols = {} if _is_ensembl(names) else dict(zip(names, ids, strict=True))
    return tokens, medians, symbols


def write_reference(path: Path, names: list[str], seed: int) -> None:
    import torch

    from ._reference import ReferenceConfig, ReferenceModel, save_reference
    from ._vocab import GENEFORMER_SPECIALS

    rng = np.random.default_rng(seed)
    specials = {t: i for i, t in enumerate(GENEFORMER_SPECIALS)}
    n = len(specials) + len(names)
    ens = _is_ensembl(names)
    blank = [""] * len(specials)
    vocab = GeneVocab(
        np.array(list(specials) + names, dtype=object),
        np.array(blank + (names if ens else [""] * len(names)), dtype=object),
        np.array(blank + ([""] * len(names) if ens else names), dtype=object),
        np.concatenate([np.full(len(specials), np.nan), _medians(len(names), rng)]),
        specials,
        "random release",
    )
    torch.manual_seed(seed)
    model = ReferenceModel(
        ReferenceConfig(vocab_size=n, d_model=32, n_layers=1, n_heads=2, d_ff=64, max_len=64)
    )
    _randomise(model, seed)
    save_reference(model.eval(), vocab, path)


def write_geneformer(path: Path, names: list[str], seed: int) -> None:
    from ._geneformer import INSTALL

    try:
        import transformers
    except ImportError:
        msg = f"a Geneformer release is a transformers BERT: {INSTALL}."
        raise ImportError(msg) from None
    import torch

    tokens, medians, symbols = _geneformer_vocab(names, np.random.default_rng(seed))
    torch.manual_seed(seed)
    cfg = transformers.BertConfig(
        vocab_size=len(tokens), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=66, pad_token_id=tokens["<pad>"],
    )  # fmt: skip
    model = transformers.BertForMaskedLM(cfg)  # the released models are masked-LM BERTs
    _randomise(model, seed)
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()
    for name, d in (
        ("token_dictionary", tokens),
        ("gene_median_dictionary", medians),
        ("gene_name_id_dict", symbols),
    ):
        if d:
            with open(path / f"{name}_random.pkl", "wb") as fh:
                pickle.dump(d, fh)


def write_scgpt(path: Path, names: list[str], seed: int) -> None:
    import torch

    from ._scgpt import _torch_modules

    vocab = {g: i for i, g in enumerate(names)}
    for special in ("<pad>", "<cls>", "<eoc>"):
        vocab[special] = len(vocab)
    args = {  # the keys of the released args.json, small sizes
        "embsize": 32, "nheads": 4, "d_hid": 48, "nlayers": 2, "n_layers_cls": 3, "dropout": 0.2,
        "pad_token": "<pad>", "pad_value": -2, "mask_value": -1, "n_bins": 51, "input_style": "binned",
        "input_emb_style": "continuous", "max_seq_len": 1200, "fast_transformer": True,
    }  # fmt: skip
    cfg = {
        "ntoken": len(vocab), "d_model": args["embsize"], "nhead": args["nheads"], "d_hid": args["d_hid"],
        "nlayers": args["nlayers"], "dropout": args["dropout"], "pad_id": vocab["<pad>"],
        "pad_value": float(args["pad_value"]), "input_emb_style": args["input_emb_style"], "n_input_bins": None,
    }  # fmt: skip
    torch.manual_seed(seed)
    module = _torch_modules()(cfg)
    _randomise(module, seed)
    # the released whole-human models were trained with flash-attention: the fused projection is Wqkv
    state = {k.replace("self_attn.in_proj_", "self_attn.Wqkv."): v for k, v in _state(module).items()}
    torch.save(state, path / "best_model.pt")
    (path / "args.json").write_text(json.dumps(args, indent=2), encoding="utf-8")
    (path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")


def write_uce(path: Path, names: list[str], seed: int) -> None:
    import torch

    from ._uce import CHROM_CSV, N_CHROM_TOKENS, OFFSETS, PROTEIN_DIR, SPECIES_FILES, _torch_modules

    rng = np.random.default_rng(seed)
    token_dim, n_first = 24, 4  # UCE's table: 4 special rows, the proteins, then the chromosome tokens
    symbols = list(dict.fromkeys(g.upper() for g in names))
    (path / PROTEIN_DIR).mkdir()
    proteins = rng.normal(size=(len(symbols), token_dim)).astype(np.float32)
    torch.save({g: torch.from_numpy(proteins[i]) for i, g in enumerate(symbols)},
               path / PROTEIN_DIR / SPECIES_FILES["human"])  # fmt: skip
    chroms = [str(c) for c in range(1, 23)] + ["X"]
    pd.DataFrame(
        {
            "species": "human",
            "gene_symbol": symbols,
            "chromosome": rng.choice(chroms, len(symbols)),
            "start": rng.integers(1, 10**8, len(symbols)),
        }
    ).to_csv(path / CHROM_CSV, index=False)
    with open(path / OFFSETS, "wb") as fh:
        pickle.dump({"human": n_first}, fh)
    table = np.vstack(
        [rng.normal(size=(n_first, token_dim)), proteins, rng.normal(size=(N_CHROM_TOKENS, token_dim))]
    ).astype(np.float32)
    cfg = {
        "n_tokens": table.shape[0],
        "token_dim": token_dim,
        "d_model": 40,
        "nhead": 20,
        "d_hid": 64,
        "nlayers": 2,
        "hidden": 1024,
        "output_dim": 24,
        "max_len": 1536,
    }  # fmt: skip  (UCE fixes hidden at 1024)
    torch.manual_seed(seed)
    module = _torch_modules()(cfg)
    _randomise(module, seed)
    state = _state(module)
    state["pe_embedding.weight"] = torch.from_numpy(
        table
    )  # the protein embeddings, as UCE's table holds them
    pos = torch.arange(cfg["max_len"], dtype=torch.float32).unsqueeze(1)
    div = torch.exp(
        torch.arange(0, cfg["d_model"], 2, dtype=torch.float32) * (-math.log(10000.0) / cfg["d_model"])
    )
    pe = torch.zeros(cfg["max_len"], 1, cfg["d_model"])
    pe[:, 0, 0::2], pe[:, 0, 1::2] = torch.sin(pos * div), torch.cos(pos * div)  # UCE's sinusoidal positions
    state["pos_encoder.pe"] = pe
    torch.save(state, path / "4layer_model.torch")


def write_scfoundation(path: Path, names: list[str], seed: int) -> None:
    import torch

    from ._scfoundation import CKPT, GENE_INDEX, VERSIONS, _torch_modules

    encoder = {"hidden_dim": 32, "depth": 2, "heads": 4, "dim_head": 8, "module_type": "transformer"}
    rnaseq = {"seq_len": len(names) + 2, "bin_num": 10, "pad_token_id": 103, "mask_token_id": 102}
    config = {"model": "mae_autobin", "encoder": encoder, "n_class": 104, "bin_alpha": 1.0,
              "decoder": {"hidden_dim": 16, "depth": 1, "heads": 2, "dim_head": 8, "module_type": "performer"}}  # fmt: skip
    cfg = {"dim": 32, "depth": 2, "heads": 4, "seq_len": rnaseq["seq_len"], "bin_num": 10, "bin_alpha": 1.0,
           "mask_value": 102.0, "pad_value": 103.0, "pool_type": "all"}  # fmt: skip
    parts = {}
    for i, key in enumerate(sorted(set(VERSIONS.values()))):
        torch.manual_seed(seed + i)
        module = _torch_modules()(cfg)
        _randomise(module, seed + i)
        parts[key] = {
            "config": {"model": "mae_autobin", "model_config": {"mae_autobin": config}, "dataset_config": {"rnaseq": rnaseq}},
            "state_dict": {f"model.{k}": v for k, v in _state(module).items()},
        }  # fmt: skip
    (path / "models").mkdir()
    torch.save(
        parts, path / "models" / CKPT
    )  # the authors' model/ folder: models/models.ckpt + the gene index
    pd.DataFrame({"gene_name": names}).to_csv(path / GENE_INDEX, sep="\t", index=False)


def write_transcriptformer(path: Path, names: list[str], seed: int) -> None:
    import h5py
    import torch

    from ._transcriptformer import SPECIAL_TOKENS, _torch_modules

    rng = np.random.default_rng(seed)
    emb_dim = 24
    (path / "vocabs").mkdir()
    esm = rng.normal(size=(len(names), emb_dim)).astype(np.float32)
    with h5py.File(path / "vocabs" / "homo_sapiens_gene.h5", "w") as fh:  # ESM-2 embedding per gene
        fh.create_dataset("keys", data=np.array([g.encode() for g in names]))
        arrays = fh.create_group("arrays")
        for g, row in zip(names, esm, strict=True):
            arrays.create_dataset(g, data=row)
    assays = {"unknown": 0, "10x 3' v2": 1, "10x 3' v3": 2}
    (path / "vocabs" / "assay_vocab.json").write_text(json.dumps(assays), encoding="utf-8")
    model = {"log_counts_eps": 1e-6, "num_heads": 4, "num_layers": 2, "model_dim": 64, "embed_dim": 32,
             "dropout": 0.1, "activation": "gelu", "attn_bias": False, "fw_bias": False, "mu_link_fn": "softmax",
             "softcap": 10, "seq_len": 255, "aux_len": 1, "block_len": 128, "gene_head_hidden_dim": 64,
             "use_aux": True, "compile_block_mask": False}  # fmt: skip
    data = {"gene_col_name": "ensembl_id", "clip_counts": 30, "filter_to_vocabs": True, "aux_cols": "assay",
            "aux_vocab_path": "vocabs", "esm2_mappings": ["homo_sapiens_gene.h5"], "esm2_mappings_path": "vocabs",
            "gene_pad_token": "[PAD]", "aux_pad_token": "unknown", "special_tokens": SPECIAL_TOKENS}  # fmt: skip
    config = {"model": {"model_type": "transcriptformer", "data_config": data, "model_config": model}}
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    n = len(SPECIAL_TOKENS) + len(names)
    cfg = {
        "model_type": "transcriptformer", "n_genes": n, "emb_dim": emb_dim, "embed_dim": 32, "num_heads": 4,
        "model_dim": 64, "num_layers": 2, "activation": "gelu", "attn_bias": False, "fw_bias": False,
        "softcap": 10.0, "log_counts_eps": 1e-6, "seq_len": 255, "pad_idx": SPECIAL_TOKENS.index("[PAD]"),
        "aux_sizes": {"assay": len(assays)}, "aux_unknown": [0],
    }  # fmt: skip
    torch.manual_seed(seed)
    module = _torch_modules()(cfg)
    _randomise(module, seed)
    state = _state(module)
    table = state["gene_embeddings.embedding.weight"].clone()
    table[len(SPECIAL_TOKENS) :] = torch.from_numpy(esm)  # the ESM-2 rows, as the released table holds them
    state["gene_embeddings.embedding.weight"] = table
    torch.save(state, path / "model_weights.pt")
