"""scFoundation checkpoints (``models.ckpt`` + the 19,264-gene index), run as its cell-embedding recipe.

The recipe of scFoundation's ``get_embedding.py`` for single cells: the data's genes aligned by
name to the gene index ``OS_scRNA_gene_index.19264.tsv`` (genes outside it dropped, missing
ones zero); values ``log1p(x / total * 1e4)`` over the aligned genes (``pre_normalized="F"``,
raw counts) or as given (``"T"``, already log-normalised); two total-count tokens appended,
the target resolution ``T`` (``tgthighres``: ``"t4"`` -> 4, ``"f<x>"`` -> ``log10(total * x)``,
``"a<x>"`` -> ``log10(total) + x``) and the source resolution ``S = log10(total)``; the encoder
runs over the tokens with a value above zero, in gene-index order (positions 19,264 and 19,265
for T and S); the cell embedding concatenates the outputs at the last and second-to-last
tokens (S and T), the max and the mean over the genes (``pool_type="all"``, 4 x width), or is
the max over all tokens (``"max"``). Cells are never expanded to the dense 19,264-gene row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from .._warnings import warn
from ._matching import GeneMatch, gene_names
from ._protocol import RecipeHooks
from ._tokenizers import Tokens
from ._vocab import GeneVocab

CKPT = "models.ckpt"
GENE_INDEX = "OS_scRNA_gene_index.19264.tsv"
HEADS = ("decoder.", "decoder_embed.", "norm.", "to_final.")
VERSIONS = {"ce": "cell", "rde": "rde"}


def ckpt_of(path: Path) -> Path | None:
    for p in (path / CKPT, path / "models" / CKPT):
        if p.is_file():
            return p
    return None


def is_scfoundation_dir(path: Path) -> bool:
    return ckpt_of(path) is not None


def gene_index_of(path: Path, gene_index: str | Path | None) -> Path:
    if gene_index is not None:
        p = Path(gene_index)
        if not p.is_file():
            msg = f"gene_index={str(gene_index)!r} does not exist."
            raise FileNotFoundError(msg)
        return p
    for d in (path, path.parent, path / "models", path.parent.parent):
        if (d / GENE_INDEX).is_file():
            return d / GENE_INDEX
    msg = (
        f"scFoundation's gene index {GENE_INDEX} was not found next to {path}: copy it from the authors' "
        "repository (biomap-research/scFoundation, folder model/) beside models.ckpt, or pass gene_index=."
    )
    raise FileNotFoundError(msg)


@dataclass
class ScFoundationTokenizer(RecipeHooks):
    """scFoundation's input (see the module docs): token ids are gene-index positions."""

    genes: np.ndarray  # the gene index's names, in order
    pre_normalized: str = "auto"
    tgthighres: str = "t4"
    pad_value: float = 103.0
    kind: str = field(default="counts", init=False)
    add_cls: bool = field(default=False, init=False)
    add_eos: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.pre_normalized not in ("auto", "F", "T"):
            msg = f"pre_normalized must be 'auto', 'F' (raw counts) or 'T' (log-normalised), got {self.pre_normalized!r}."
            raise ValueError(msg)
        head, rest = self.tgthighres[:1], self.tgthighres[1:]
        try:
            float(rest)
        except ValueError:
            head = ""
        if head not in ("t", "f", "a"):
            msg = f"tgthighres must be 't<value>', 'f<fold>' or 'a<addition>' (e.g. 't4'), got {self.tgthighres!r}."
            raise ValueError(msg)
        n = self.genes.size
        self.seq_len = n + 2
        self.vocab = GeneVocab(
            self.genes.astype(object),
            np.full(n, "", dtype=object),
            self.genes.astype(object),
            source=GENE_INDEX,
        )

    def config(self) -> dict:
        return {"kind": "scfoundation", "pre_normalized": self.pre_normalized, "tgthighres": self.tgthighres}

    def match(self, var, var_names, *, gene_key: str | None = None, id_type: str = "auto"):
        """Genes by name, exactly as the gene index spells them (scFoundation's alignment)."""
        names = pd.Index(gene_names(var, var_names, gene_key).astype(str))
        pos = pd.Index(self.genes).get_indexer(names)
        dup = names.duplicated() & (pos >= 0)
        if dup.any():
            warn(
                f"{int(dup.sum())} gene names occur twice in the data (e.g. {list(names[dup][:3])}); the first "
                "column of each is used."
            )
            pos = np.where(dup, -1, pos)
        if not (pos >= 0).any():
            msg = (
                f"none of the {names.size} genes (e.g. {list(names[:3])}) is in scFoundation's gene index "
                f"(symbols such as {list(self.genes[:3])}); pass gene_key= naming a var column of gene symbols."
            )
            raise ValueError(msg)
        return GeneMatch(pos.astype(np.int64), "symbol", gene_key), np.ones(names.size)

    def _resolution(self, total: np.ndarray) -> np.ndarray:
        head, x = self.tgthighres[0], float(self.tgthighres[1:])
        with np.errstate(divide="ignore"):
            if head == "t":
                return np.full(total.shape, x)
            if head == "f":
                return np.log10(total * x)
            return np.log10(total) + x

    def encode(self, X, gene_tok: np.ndarray, gene_scale=None, *, input_scale: str = "counts") -> Tokens:
        pre = self.pre_normalized
        if pre == "auto":
            pre = "T" if input_scale == "log1p" else "F"
        X = sparse.csr_matrix(X) if not sparse.isspmatrix_csr(X) else X
        n = X.shape[0]
        cols = np.flatnonzero(gene_tok >= 0)
        sub = X[:, cols].tocsr()
        sub.sum_duplicates()
        pos = gene_tok[cols][sub.indices]
        data = sub.data.astype(np.float64)
        total = np.add.reduceat(data, sub.indptr[:-1]) if data.size else np.zeros(n)
        total[np.diff(sub.indptr) == 0] = 0.0
        row = np.repeat(np.arange(n), np.diff(sub.indptr))
        if pre == "F":
            with np.errstate(divide="ignore", invalid="ignore"):
                data = np.log1p(data / total[row] * 1e4)
        keep = data > 0
        row, pos, data = row[keep], pos[keep], data[keep]
        order = np.lexsort((pos, row))  # per cell, in gene-index order
        row, pos, data = row[order], pos[order], data[order]
        n_genes = np.bincount(row, minlength=n)
        with np.errstate(divide="ignore"):
            counts = np.stack([self._resolution(total), np.log10(total)], axis=1)  # T, S
        extra = counts > 0
        lengths = n_genes + extra.sum(1)
        ids = np.full((n, max(int(lengths.max()) if n else 1, 1)), self.seq_len, dtype=np.int64)
        values = np.full(ids.shape, self.pad_value, dtype=np.float32)
        starts = np.concatenate([[0], np.cumsum(n_genes)[:-1]])
        col = np.arange(row.size) - starts[row]
        ids[row, col] = pos
        values[row, col] = data.astype(np.float32)
        for j, p in enumerate((self.genes.size, self.genes.size + 1)):
            r = np.flatnonzero(extra[:, j])
            c = n_genes[r] + (extra[r, 0] if j == 1 else 0)
            ids[r, c] = p
            values[r, c] = counts[r, j].astype(np.float32)
        return Tokens(ids, values, lengths, n_genes=n_genes)


def _torch_modules():
    import torch
    from torch import nn

    class AutoBinEmbedding(nn.Module):
        """scFoundation's value embedding: a soft assignment of each value to learned bins."""

        def __init__(
            self, dim: int, bin_num: int, bin_alpha: float, mask_value: float, pad_value: float
        ) -> None:
            super().__init__()
            self.mlp = nn.Linear(1, bin_num)
            self.mlp2 = nn.Linear(bin_num, bin_num)
            self.emb = nn.Embedding(bin_num, dim)
            self.emb_mask = nn.Embedding(1, dim)
            self.emb_pad = nn.Embedding(1, dim)
            self.bin_alpha = bin_alpha
            self.mask_value, self.pad_value = mask_value, pad_value

        def forward(self, x):  # x: (batch, length, 1)
            h = torch.nn.functional.leaky_relu(self.mlp(x), 0.1)
            h = self.bin_alpha * h + self.mlp2(h)
            out = torch.matmul(torch.softmax(h, dim=-1), self.emb.weight)
            v = x[..., 0]
            out = torch.where(
                (v == self.mask_value).unsqueeze(-1), self.emb_mask.weight[0].to(out.dtype), out
            )
            return torch.where((v == self.pad_value).unsqueeze(-1), self.emb_pad.weight[0].to(out.dtype), out)

    class Encoder(nn.Module):
        def __init__(self, dim: int, depth: int, heads: int) -> None:
            super().__init__()
            self.transformer_encoder = nn.ModuleList(
                nn.TransformerEncoderLayer(dim, heads, dim_feedforward=4 * dim, batch_first=True)
                for _ in range(depth)
            )
            self.norm = nn.LayerNorm(dim)

    class ScFoundationEncoder(nn.Module):
        def __init__(self, cfg: dict) -> None:
            super().__init__()
            d = cfg["dim"]
            self.token_emb = AutoBinEmbedding(
                d, cfg["bin_num"], cfg["bin_alpha"], cfg["mask_value"], cfg["pad_value"]
            )
            self.pos_emb = nn.Embedding(cfg["seq_len"] + 1, d)
            self.encoder = Encoder(d, cfg["depth"], cfg["heads"])
            self.pool_type = cfg["pool_type"]

        def token_embeddings(self, token_ids):
            """A gene's own input embedding: its row of the gene (position) embedding table."""
            return self.pos_emb(token_ids)

        def hidden(self, input_ids, values, attention_mask):
            x = self.token_emb(values.unsqueeze(2).float()) + self.pos_emb(input_ids)
            pad = ~attention_mask
            for layer in self.encoder.transformer_encoder:
                x = layer(x, src_key_padding_mask=pad)
            return self.encoder.norm(x)

        def token_states(self, input_ids, values, attention_mask):
            """Each token's encoder output and which positions are genes (not the two count tokens)."""
            h = self.hidden(input_ids, values, attention_mask)
            length = attention_mask.sum(1)
            pos = torch.arange(h.shape[1], device=h.device)[None, :]
            return h, pos < (length - 2)[:, None]

        def encode(self, input_ids, values, attention_mask):
            pad = ~attention_mask
            h = self.hidden(input_ids, values, attention_mask)
            length = attention_mask.sum(1)
            rows = torch.arange(h.shape[0], device=h.device)
            if self.pool_type == "max":
                return h.masked_fill(pad.unsqueeze(-1), float("-inf")).amax(1)
            genes = (torch.arange(h.shape[1], device=h.device)[None, :] < (length - 2)[:, None]).unsqueeze(-1)
            n = genes.sum(1).clamp_min(1)
            top = h.masked_fill(~genes, float("-inf")).amax(1)
            top = torch.where(genes.any(1), top, torch.zeros_like(top))
            mean = (h * genes).sum(1) / n
            last = h[rows, (length - 1).clamp_min(0)]
            second = h[rows, (length - 2).clamp_min(0)]
            return torch.cat([last, second, top, mean], dim=1)

    return ScFoundationEncoder


def read_checkpoint(ckpt: Path, version: str, *, weights_only: bool = True) -> tuple[dict, dict]:
    """The config and the model state dict of one version of ``models.ckpt``."""
    import pickle

    import torch

    try:
        data = torch.load(ckpt, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as e:
        msg = (
            f"{ckpt} holds Python objects besides tensors and plain containers ({e}); scmf does not run code "
            "from checkpoints. If you trust the file, load it with weights_only=False."
        )
        raise ValueError(msg) from None
    except Exception as e:
        msg = f"could not read {ckpt} (truncated download, or not scFoundation's models.ckpt?): {e}"
        raise ValueError(msg) from None
    key = VERSIONS.get(version, version)
    if not isinstance(data, dict) or key not in data:
        have = sorted(data) if isinstance(data, dict) else type(data).__name__
        msg = f"{ckpt} has no {key!r} model (version={version!r}); it holds {have}."
        raise ValueError(msg)
    part = data[key]
    try:
        model_type = part["config"]["model"]
        cfg = {**part["config"]["model_config"][model_type], **part["config"]["dataset_config"]["rnaseq"]}
        state = {k.removeprefix("model."): v for k, v in part["state_dict"].items()}
    except (KeyError, TypeError) as e:
        msg = f"{ckpt}[{key!r}] is not laid out as scFoundation's checkpoints (config/model_config, state_dict): {e}"
        raise ValueError(msg) from None
    if model_type != "mae_autobin":
        msg = f"{ckpt}[{key!r}] is a {model_type!r} model; scmf reads scFoundation's mae_autobin models."
        raise ValueError(msg)
    return cfg, state


def load_scfoundation(
    path: str | Path,
    *,
    gene_index: str | Path | None = None,
    version: str = "ce",
    pool_type: str = "all",
    pre_normalized: str = "auto",
    tgthighres: str = "t4",
    weights_only: bool = True,
    device: str | None = None,
):
    """Load scFoundation's ``models.ckpt`` (in ``path`` or ``path/models``) with its gene index.

    Parameters
    ----------
    path
        The folder holding ``models.ckpt`` (scFoundation's ``model/models``) or its parent.
    gene_index
        ``OS_scRNA_gene_index.19264.tsv`` (default: looked for beside the checkpoint and one
        folder up, where the authors' repository keeps it).
    version
        ``"ce"`` (cell embedding, the default) or ``"rde"`` (read-depth enhancement).
    pool_type
        ``"all"`` (S, T, max and mean of the genes concatenated; 4 x width) or ``"max"``.
    pre_normalized
        ``"F"`` raw counts, ``"T"`` log-normalised, ``"auto"`` from the data.
    tgthighres
        The target resolution token (``"t4"``, ``"f1.5"``, ``"a0.5"``).
    weights_only
        Read the checkpoint with torch's safe loader (tensors and plain containers only); set
        ``False`` only for a file you trust that needs more.

    Examples
    --------
    >>> import scmf
    >>> model = scmf.models.load("scFoundation/model/models/", tgthighres="t4")  # doctest: +SKIP
    >>> scmf.tl.embed(adata, model, layer="counts")  # doctest: +SKIP
    """
    from ._torch import TokenizedModel, load_strict

    path = Path(path)
    ckpt = ckpt_of(path)
    if ckpt is None:
        msg = f"{path} holds no scFoundation checkpoint ({CKPT}, or models/{CKPT})."
        raise FileNotFoundError(msg)
    if pool_type not in ("all", "max"):
        msg = f"pool_type must be 'all' or 'max', got {pool_type!r}."
        raise ValueError(msg)
    index_file = gene_index_of(ckpt.parent, gene_index)
    genes = pd.read_csv(index_file, sep="\t", header=0)
    if "gene_name" not in genes.columns:
        msg = f"{index_file} has no gene_name column: not scFoundation's gene index."
        raise ValueError(msg)
    genes = genes["gene_name"].astype(str).to_numpy()
    cfg, state = read_checkpoint(ckpt, version, weights_only=weights_only)
    enc = cfg.get("encoder", {})
    if enc.get("module_type", "transformer") != "transformer":
        msg = (
            f"{ckpt} has a {enc.get('module_type')!r} encoder; scmf runs scFoundation's transformer encoder."
        )
        raise ValueError(msg)
    if int(cfg["seq_len"]) != genes.size + 2:
        msg = f"the checkpoint's seq_len is {cfg['seq_len']} but the gene index has {genes.size} genes (+2)."
        raise ValueError(msg)
    model_cfg = {
        "dim": int(enc["hidden_dim"]),
        "depth": int(enc["depth"]),
        "heads": int(enc["heads"]),
        "seq_len": int(cfg["seq_len"]),
        "bin_num": int(cfg["bin_num"]),
        "bin_alpha": float(cfg["bin_alpha"]),
        "mask_value": float(cfg["mask_token_id"]),
        "pad_value": float(cfg["pad_token_id"]),
        "pool_type": pool_type,
    }
    module = load_strict(
        _torch_modules()(model_cfg), state, unused=HEADS, source=ckpt, name="scFoundation", config="their config",
        device=device,
    )  # fmt: skip
    tok = ScFoundationTokenizer(
        genes, pre_normalized=pre_normalized, tgthighres=tgthighres, pad_value=model_cfg["pad_value"]
    )
    info = {
        "checkpoint": str(ckpt),
        "format": "scfoundation",
        "version": version,
        "pooling": pool_type,
        "gene_index": str(index_file),
    }
    return TokenizedModel(module, tok, name=f"scfoundation:{version}", info=info)


__all__ = ["ScFoundationTokenizer", "is_scfoundation_dir", "load_scfoundation"]
