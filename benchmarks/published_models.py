"""Published models in scmf: end-to-end ``tl.embed`` against the bare forward pass.

    python benchmarks/published_models.py [scgpt uce scfoundation transcriptformer] [--cells 400]

For each model a random-weight checkpoint is written in the authors' layout (scaled-down
widths so that a CPU run takes minutes; sequence lengths, tokenisation and vocabularies as
released), real Kang cells (counts recovered from the log-normalised values) are embedded by
``scmf.tl.embed`` end to end (matching, row chunks, tokenisation, padding, forward, pooling)
and, in the same process, the same cells' pre-tokenised, length-sorted batches go through
the bare forward pass (``scmf.models._torch.run_batches``). Best of ``--repeats``; target:
ratio <= 1.15. Needs SCMF_DATA_DIR (Kang, the scGPT and Geneformer vocabularies).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def data_dir() -> Path:
    d = os.environ.get("SCMF_DATA_DIR")
    if not d:
        sys.exit("set SCMF_DATA_DIR to the folder of public datasets")
    return Path(d)


def kang_counts(n: int):
    import anndata as ad

    a = ad.read_h5ad(data_dir() / "kang2018_ifnb_scgen_valid.h5ad")[:n].copy()
    X = a.X.tocsr()
    X.data = np.expm1(X.data.astype(np.float64))
    low = np.minimum.reduceat(X.data, X.indptr[:-1])
    X.data = np.round(X.data / np.repeat(low, np.diff(X.indptr))).astype(np.float32)
    a.X = X
    return a


def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            centre = 1.0 if "norm" in name and name.endswith("weight") else 0.0  # layer-norm gains near 1
            p.copy_(torch.randn(p.shape, generator=g) * 0.05 + centre)


def scgpt(d: Path, cells):
    from scmf.models._scgpt import _torch_modules

    vocab = json.loads((data_dir() / "scgpt_default_gene_vocab.json").read_text())
    for s in ("<pad>", "<cls>", "<eoc>"):
        vocab.setdefault(s, len(vocab))
    args = {"embsize": 256, "nheads": 8, "d_hid": 512, "nlayers": 4, "dropout": 0.2, "pad_token": "<pad>",
            "pad_value": -2, "n_bins": 51, "input_style": "binned", "input_emb_style": "continuous"}  # fmt: skip
    cfg = {"ntoken": len(vocab), "d_model": 256, "nhead": 8, "d_hid": 512, "nlayers": 4, "dropout": 0.0,
           "pad_id": vocab["<pad>"], "pad_value": -2.0, "input_emb_style": "continuous", "n_input_bins": None}  # fmt: skip
    m = _torch_modules()(cfg)
    randomise(m)
    d.mkdir()
    torch.save({k.replace("in_proj_", "Wqkv."): v for k, v in m.state_dict().items()}, d / "best_model.pt")
    (d / "args.json").write_text(json.dumps(args))
    (d / "vocab.json").write_text(json.dumps(vocab))
    return cells, {}


def uce(d: Path, cells):
    from scmf.models._uce import SPECIES_FILES, _torch_modules

    rng = np.random.default_rng(0)
    token_dim, n_other = 1280, 20_000
    genes = [str(g).upper() for g in cells.var_names]
    (d / "protein_embeddings").mkdir(parents=True)
    torch.save({g: torch.zeros(1) for g in genes}, d / "protein_embeddings" / SPECIES_FILES["human"])
    chroms = [str(c) for c in range(1, 23)] + ["X", "Y"]
    pd.DataFrame({"species": "human", "gene_symbol": genes, "chromosome": rng.choice(chroms, len(genes)),
                  "start": rng.integers(1, 10**8, len(genes))}).to_csv(d / "species_chrom.csv", index=False)  # fmt: skip
    with open(d / "species_offsets.pkl", "wb") as fh:
        pickle.dump({"human": 4}, fh)
    n_tokens = 4 + len(genes) + n_other + 1895
    cfg = {"n_tokens": n_tokens, "token_dim": token_dim, "d_model": 640, "nhead": 20, "d_hid": 2560, "nlayers": 2,
           "hidden": 1024, "output_dim": 640, "max_len": 1536}  # fmt: skip
    m = _torch_modules()(cfg)
    randomise(m)
    torch.save(m.state_dict(), d / "4layer_model.torch")
    return cells, {}


def scfoundation(d: Path, cells):
    from scmf.models._scfoundation import _torch_modules

    names = list(cells.var_names) + [f"FILLER{i}" for i in range(19264 - cells.n_vars)]
    (d / "models").mkdir(parents=True)
    pd.DataFrame({"gene_name": names, "index": range(19264)}).to_csv(
        d / "OS_scRNA_gene_index.19264.tsv", sep="\t", index=False
    )
    cfg = {"dim": 256, "depth": 4, "heads": 8, "seq_len": 19266, "bin_num": 100, "bin_alpha": 1.0,
           "mask_value": 102.0, "pad_value": 103.0, "pool_type": "all"}  # fmt: skip
    m = _torch_modules()(cfg)
    randomise(m)
    config = {"model": "mae_autobin", "model_config": {"mae_autobin": {"model": "mae_autobin", "bin_alpha": 1.0,
              "encoder": {"hidden_dim": 256, "depth": 4, "heads": 8, "module_type": "transformer"}}},
              "dataset_config": {"rnaseq": {"seq_len": 19266, "bin_num": 100, "pad_token_id": 103, "mask_token_id": 102}}}  # fmt: skip
    state = {f"model.{k}": v for k, v in m.state_dict().items()}
    torch.save({"cell": {"config": config, "state_dict": state}}, d / "models" / "models.ckpt")
    return cells, {}


def transcriptformer(d: Path, cells):
    import h5py

    from scmf.models import GeneVocab
    from scmf.models._transcriptformer import SPECIAL_TOKENS, _torch_modules

    table = GeneVocab.from_geneformer(data_dir() / "geneformer_gc95M_vocab.tsv.gz").to_frame()
    table = table[table["symbol"] != ""].drop_duplicates("symbol").set_index("symbol")["ensembl_id"]
    cells = cells[:, cells.var_names.isin(table.index)].copy()
    cells.var["ensembl_id"] = table.reindex(cells.var_names).to_numpy().astype(str)
    genes = list(cells.var["ensembl_id"])
    (d / "vocabs").mkdir(parents=True)
    with h5py.File(d / "vocabs" / "homo_sapiens_gene.h5", "w") as fh:
        fh.create_dataset("keys", data=np.array([g.encode() for g in genes]))
        arrays = fh.create_group("arrays")
        for g in genes:
            arrays.create_dataset(g, data=np.zeros(2, dtype=np.float32))
    mc = {"embed_dim": 256, "num_heads": 8, "model_dim": 1024, "num_layers": 4, "activation": "gelu", "attn_bias": False,
          "fw_bias": False, "softcap": 10, "log_counts_eps": 1e-6, "seq_len": 2047}  # fmt: skip
    cfg = {**mc, "model_type": "transcriptformer", "n_genes": len(SPECIAL_TOKENS) + len(genes), "emb_dim": 512,
           "pad_idx": SPECIAL_TOKENS.index("[PAD]"), "aux_sizes": {}, "aux_unknown": []}  # fmt: skip
    m = _torch_modules()(cfg)
    randomise(m)
    config = {"model": {"model_type": "transcriptformer", "model_config": mc,
              "data_config": {"aux_cols": None, "esm2_mappings": ["homo_sapiens_gene.h5"], "special_tokens": SPECIAL_TOKENS}}}  # fmt: skip
    (d / "config.json").write_text(json.dumps(config))
    torch.save(m.state_dict(), d / "model_weights.pt")
    return cells, {}


WRITERS = {"scgpt": scgpt, "uce": uce, "scfoundation": scfoundation, "transcriptformer": transcriptformer}
BATCH = {"scgpt": 32, "uce": 25, "scfoundation": 32, "transcriptformer": 8}


def measure(name: str, n_cells: int, repeats: int) -> None:
    import scmf
    from scmf.models._torch import run_batches, tokenized_batches

    with tempfile.TemporaryDirectory() as tmp:
        cells, kw = WRITERS[name](Path(tmp) / name, kang_counts(n_cells))
        model = scmf.models.load(Path(tmp) / name, **kw)
        bs = BATCH[name]
        scmf.tl.embed(cells[:bs].copy(), model, batch_size=bs, progress=False)  # warm up
        bare, ours = [], []
        for _ in range(repeats):
            batches = tokenized_batches(model, cells, batch_size=bs)  # not timed: pre-tokenised
            t0 = time.perf_counter()
            run_batches(model, batches, device="cpu")
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            out = scmf.tl.embed(cells, model, batch_size=bs, copy=True, progress=False)
            ours.append(time.perf_counter() - t0)
        lengths = np.concatenate([b[2].sum(1) for b in batches])
        print(f"{name}: {cells.n_obs} Kang cells, batch {bs}, mean tokens {lengths.mean():.0f}, "
              f"embedding {out.obsm['X_scmf'].shape[1]} dims, cpu ({torch.get_num_threads()} threads)")  # fmt: skip
        print(
            f"  bare forward {min(bare):.2f} s, tl.embed {min(ours):.2f} s, ratio {min(ours) / min(bare):.3f} (target <= 1.15)"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help=f"any of {', '.join(WRITERS)} (default: all)")
    p.add_argument("--cells", type=int, default=400)
    p.add_argument("--repeats", type=int, default=2)
    a = p.parse_args()
    unknown = set(a.models) - set(WRITERS)
    if unknown:
        p.error(f"unknown models {sorted(unknown)}; choose from {list(WRITERS)}")
    for name in a.models or WRITERS:
        measure(name, a.cells, a.repeats)


if __name__ == "__main__":
    main()
