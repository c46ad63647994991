"""TranscriptFormer model folders (``config.json``, ``model_weights.pt``, ``vocabs/``), run as its inference.

The recipe of TranscriptFormer's ``inference`` command with its default data settings (which
override the checkpoint's own, as the command's config merge does): genes matched by Ensembl
id with version suffixes dropped (``var["ensembl_id"]`` when present, else ``var_names``),
restricted to the vocabulary (the ESM-2 mapping files in ``vocabs/``, special tokens first);
per cell the expressed genes in the data's column order, counts clipped at ``clip_counts``
(30); the decoder input is right-shifted (``[START]`` first, counts 1 for it), auxiliary tokens
(e.g. the assay, from ``obs``) in front when the model was trained with them; attention is
causal, each key's score raised by ``log1p(count + eps)`` and soft-capped; the cell embedding is
the sum of the outputs over the cell's valid positions divided by the model's sequence length
(TranscriptFormer's ``mean_embeddings``). ``model_type="esm2ce"`` gives the ESM-2 baseline (the
mean of the genes' ESM-2 embeddings, same positions).
"""

from __future__ import annotations

import json
import math
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

FILES = ("config.json", "model_weights.pt")
SPECIAL_TOKENS = ["unknown", "[START]", "[END]", "[RD]", "[CELL]", "[PAD]", "[MASK]"]
# the data settings of TranscriptFormer's inference command (they replace the checkpoint's)
INFERENCE_DATA = {"clip_counts": 30.0, "gene_col_name": "ensembl_id"}
HEADS = ("mu.", "gene_id_head.")


def is_transcriptformer_dir(path: Path) -> bool:
    if not all((path / f).is_file() for f in FILES) or not (path / "vocabs").is_dir():
        return False
    try:
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(cfg, dict) and "model_config" in cfg.get("model", {})


def read_gene_names(vocabs: Path, files: list[str]) -> list[str]:
    """The genes of the ESM-2 mapping files, in file order, first occurrence kept (the vocabulary order)."""
    import h5py

    names: dict[str, None] = {}
    for f in files:
        p = vocabs / f
        if not p.is_file():
            msg = f"the ESM-2 gene mapping {p} named in config.json (esm2_mappings) is missing."
            raise FileNotFoundError(msg)
        if p.suffix != ".h5":
            msg = f"{p}: scmf reads TranscriptFormer's .h5 gene mappings (keys + arrays), not {p.suffix}."
            raise ValueError(msg)
        with h5py.File(p, "r") as fh:
            for k in fh["keys"][:]:
                names.setdefault(k.decode("utf-8") if isinstance(k, bytes) else str(k), None)
    return list(names)


@dataclass
class TranscriptFormerTokenizer(RecipeHooks):
    """TranscriptFormer's input (see the module docs): ``[aux..., START, genes...]`` and their counts."""

    vocab_dict: dict
    max_len: int
    aux_vocab: dict | None = None
    clip_counts: float = 30.0
    gene_column: str = "ensembl_id"
    esm2ce: bool = False
    kind: str = field(default="counts", init=False)
    add_cls: bool = field(default=True, init=False)  # [START] in front
    add_eos: bool = field(default=False, init=False)
    uses_obs: bool = field(default=True, init=False)

    def __post_init__(self) -> None:
        tokens = np.empty(max(self.vocab_dict.values()) + 1, dtype=object)
        tokens[:] = ""
        for k, i in self.vocab_dict.items():
            tokens[i] = k
        specials = {k: self.vocab_dict[k] for k in SPECIAL_TOKENS if k in self.vocab_dict}
        self.vocab = GeneVocab(
            tokens, tokens.copy(), np.full(tokens.size, "", dtype=object), specials={**specials, "<pad>": specials["[PAD]"]},
            source="TranscriptFormer vocabs/",
        )  # fmt: skip
        if self.esm2ce:
            self.aux_vocab = None  # the ESM-2 baseline has no auxiliary tokens
        self.n_aux = len(self.aux_vocab) if self.aux_vocab else 0

    def config(self) -> dict:
        return {
            "kind": "transcriptformer",
            "max_len": int(self.max_len),
            "clip_counts": float(self.clip_counts),
            "aux": list(self.aux_vocab) if self.aux_vocab else [],
        }

    def match(self, var, var_names, *, gene_key: str | None = None, id_type: str = "auto"):
        if gene_key is None and self.gene_column in var.columns:
            gene_key = self.gene_column  # TranscriptFormer reads var["ensembl_id"]
        raw = gene_names(var, var_names, gene_key).astype(str)
        names = pd.Index([s.split(".")[0] for s in raw])
        ids = names.map(self.vocab_dict).to_numpy()
        ids = np.where(pd.isna(ids), -1, ids).astype(np.int64)
        specials = set(SPECIAL_TOKENS)
        ids[[n in specials for n in names]] = -1
        dup = names.duplicated() & (ids >= 0)
        if dup.any():
            warn(
                f"{int(dup.sum())} genes repeat once version suffixes are dropped (e.g. {list(names[dup][:3])}); "
                "the first column of each is used (TranscriptFormer's remove_duplicate_genes)."
            )
            ids[dup] = -1
        if not (ids >= 0).any():
            msg = (
                f"none of the {names.size} genes (e.g. {list(names[:3])}) is in TranscriptFormer's vocabulary "
                f"(Ensembl ids such as {[k for k in self.vocab_dict if k not in specials][:2]}); pass gene_key= "
                "naming a var column of Ensembl gene ids."
            )
            raise ValueError(msg)
        return GeneMatch(ids, "ensembl", gene_key), np.ones(names.size)

    def aux_ids(self, obs: pd.DataFrame | None, n: int) -> np.ndarray:
        out = np.empty((n, self.n_aux), dtype=np.int64)
        for j, (key, voc) in enumerate((self.aux_vocab or {}).items()):
            if obs is None or key not in obs.columns:
                warn(
                    f"obs has no {key!r} column: TranscriptFormer's {key} token is 'unknown' (masked) for every cell."
                )
                out[:, j] = voc["unknown"]
            else:
                out[:, j] = [voc.get(v, voc["unknown"]) for v in obs[key].to_numpy()]
        return out

    def encode(
        self, X, gene_tok: np.ndarray, gene_scale=None, *, input_scale: str = "counts", obs=None
    ) -> Tokens:
        if input_scale == "log1p":
            warn(
                "TranscriptFormer expects raw counts; these data look log-normalised (its own code warns too). "
                "Pass layer= naming a layer of counts for the model's intended input."
            )
        X = sparse.csr_matrix(X) if not sparse.isspmatrix_csr(X) else X.copy()
        X.sort_indices()
        n = X.shape[0]
        # the decoder input is shifted right: [START] and the first max_len - 1 genes (the ESM-2
        # baseline reads max_len genes, unshifted)
        keep_genes = int(self.max_len) - (0 if self.esm2ce else 1)
        start = self.vocab_dict["[START]"]
        rows_ids, rows_vals = [], []
        tok = gene_tok[X.indices]
        for i in range(n):
            lo, hi = X.indptr[i], X.indptr[i + 1]
            d = X.data[lo:hi].astype(np.float32)
            sel = (tok[lo:hi] >= 0) & (d != 0)
            genes = tok[lo:hi][sel][:keep_genes]
            counts = np.clip(d[sel][:keep_genes], 0, self.clip_counts)
            rows_ids.append(genes)
            rows_vals.append(counts)
        front = self.n_aux + 1
        lengths = np.array([g.size + front for g in rows_ids], dtype=np.int64)
        ids = np.full((n, int(lengths.max()) if n else front), self.vocab_dict["[PAD]"], dtype=np.int64)
        values = np.zeros(ids.shape, dtype=np.float32)
        if self.n_aux:
            ids[:, : self.n_aux] = self.aux_ids(obs, n)
        ids[:, self.n_aux] = start
        values[:, :front] = 1.0
        for i, (g, v) in enumerate(zip(rows_ids, rows_vals, strict=True)):
            ids[i, front : front + g.size] = g
            values[i, front : front + g.size] = v
        return Tokens(ids, values, lengths, n_genes=lengths - front)


def _torch_modules():
    import torch
    from torch import nn

    def mlp(i: int, h: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.LayerNorm(h), nn.Dropout(0.0), nn.Linear(h, o))

    class PretrainedEmbeddings(nn.Module):
        def __init__(self, n: int, emb_dim: int, out: int) -> None:
            super().__init__()
            self.embedding = nn.Embedding(n, emb_dim)
            self.mlp = nn.Module()
            self.mlp.layers = mlp(emb_dim, out, out)

    class SelfAttention(nn.Module):
        def __init__(self, d: int, h: int, bias: bool) -> None:
            super().__init__()
            self.h, self.d_k = h, d // h
            self.linears = nn.ModuleList(nn.Linear(d, d, bias=bias) for _ in range(4))

        def forward(self, x, bias, allowed, softcap: float):
            b, t, _ = x.shape
            q, k, v = (lin(x).view(b, t, self.h, self.d_k).transpose(1, 2) for lin in self.linears[:3])
            s = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k) + bias[:, None, None, :]
            if softcap > 0:
                s = softcap * torch.tanh(torch.clamp(s, -1e6, 1e6) / softcap)
            s = s.masked_fill(~allowed[:, None], float("-inf"))
            p = torch.softmax(s, dim=-1)
            p = torch.nan_to_num(p, nan=0.0)  # a query with no key to attend to outputs zeros
            o = torch.matmul(p, v).transpose(1, 2).reshape(b, t, self.h * self.d_k)
            return self.linears[3](o)

    class Layer(nn.Module):
        def __init__(
            self, d: int, h: int, dim_fw: int, activation: str, attn_bias: bool, fw_bias: bool
        ) -> None:
            super().__init__()
            self.linear1 = nn.Linear(d, dim_fw, bias=fw_bias)
            self.linear2 = nn.Linear(dim_fw, d, bias=fw_bias)
            self.self_attn = SelfAttention(d, h, attn_bias)
            self.norm1 = nn.LayerNorm(d)
            self.norm2 = nn.LayerNorm(d)
            self.activation = {"relu": nn.ReLU(), "gelu": nn.GELU(), "silu": nn.SiLU()}[activation]

        def forward(self, x, bias, allowed, softcap):
            x = self.norm1(x)  # TranscriptFormer's layer: the residual is taken after the norm
            x = self.self_attn(x, bias, allowed, softcap) + x
            x = self.norm2(x)
            return self.linear2(self.activation(self.linear1(x))) + x

    class Encoder(nn.Module):
        def __init__(self, cfg: dict) -> None:
            super().__init__()
            self.encoder_layers = nn.ModuleList(
                Layer(
                    cfg["embed_dim"],
                    cfg["num_heads"],
                    cfg["model_dim"],
                    cfg["activation"],
                    cfg["attn_bias"],
                    cfg["fw_bias"],
                )
                for _ in range(cfg["num_layers"])
            )

    class TranscriptFormerEncoder(nn.Module):
        def __init__(self, cfg: dict) -> None:
            super().__init__()
            self.cfg = cfg
            self.n_aux = len(cfg["aux_sizes"])
            self.gene_embeddings = PretrainedEmbeddings(cfg["n_genes"], cfg["emb_dim"], cfg["embed_dim"])
            if self.n_aux:
                self.aux_embeddings = nn.ModuleDict(
                    {k: nn.Embedding(n, cfg["embed_dim"]) for k, n in cfg["aux_sizes"].items()}
                )
            if cfg["model_type"] == "transcriptformer":
                self.transformer_encoder = Encoder(cfg)
            self.register_buffer(
                "aux_unknown", torch.tensor(cfg["aux_unknown"], dtype=torch.long), persistent=False
            )

        def encode(self, input_ids, values, attention_mask):
            # attention scores are (cells x heads x length x length): cap them near 1 GB per step
            t = input_ids.shape[1]
            step = max(1, int(2**28 // (self.cfg["num_heads"] * t * t)))
            if input_ids.shape[0] <= step:
                return self._encode(input_ids, values, attention_mask)
            parts = [
                self._encode(input_ids[i : i + step], values[i : i + step], attention_mask[i : i + step])
                for i in range(0, input_ids.shape[0], step)
            ]
            return torch.cat(parts, 0)

        def token_embeddings(self, token_ids):
            """A gene's input embedding: its ESM-2 protein embedding (the table the model reads)."""
            return self.gene_embeddings.embedding(token_ids)

        def token_states(self, input_ids, values, attention_mask):
            """Each token's output state and which positions are genes (not the metadata tokens, not [START])."""
            cfg = self.cfg
            if cfg["model_type"] == "esm2ce":
                msg = "the ESM-2 baseline has no transformer: its genes have no contextual states (mode='input')."
                raise ValueError(msg)
            x, valid = self._states(input_ids, values, attention_mask)
            keep = valid.clone()
            keep[:, : self.n_aux + 1] = False
            return x, keep

        def _states(self, input_ids, values, attention_mask):
            cfg = self.cfg
            a = self.n_aux
            valid = attention_mask & (input_ids != cfg["pad_idx"])
            if a:
                valid[:, :a] = attention_mask[:, :a] & (input_ids[:, :a] != self.aux_unknown[None, :])
            x = self.gene_embeddings.mlp.layers(self.gene_embeddings.embedding(input_ids[:, a:]))
            if a:
                aux = torch.stack(
                    [emb(input_ids[:, j]) for j, emb in enumerate(self.aux_embeddings.values())], 1
                )
                x = torch.cat([aux, x], dim=1)
            bias = torch.log1p(values + cfg["log_counts_eps"])
            t = x.shape[1]
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            allowed = causal[None] & valid[:, None, :]
            for layer in self.transformer_encoder.encoder_layers:
                x = layer(x, bias, allowed, cfg["softcap"])
            return x, valid

        def _encode(self, input_ids, values, attention_mask):
            cfg = self.cfg
            a = self.n_aux
            if cfg["model_type"] == "esm2ce":  # the ESM-2 baseline: the genes' own embeddings, no transformer
                valid = attention_mask & (input_ids != cfg["pad_idx"])
                h = self.gene_embeddings.embedding(input_ids[:, a + 1 :])
                return (h * valid[:, a + 1 :, None]).sum(1) / cfg["seq_len"]
            x, valid = self._states(input_ids, values, attention_mask)
            out = x[:, a:] * valid[:, a:, None]
            return out.sum(1) / cfg["seq_len"]

    return TranscriptFormerEncoder


def load_transcriptformer(
    path: str | Path,
    *,
    model_type: str | None = None,
    clip_counts: float = INFERENCE_DATA["clip_counts"],
    device: str | None = None,
):
    """Load a TranscriptFormer model folder (``tf_sapiens``, ``tf_exemplar``, ``tf_metazoa``).

    Parameters
    ----------
    path
        The folder with ``config.json``, ``model_weights.pt`` and ``vocabs/`` (ESM-2 gene
        mappings ``*.h5`` and auxiliary ``*_vocab.json``).
    model_type
        ``"transcriptformer"`` (default) or ``"esm2ce"`` (the ESM-2 mean baseline).
    clip_counts
        Counts are clipped at this value (TranscriptFormer's inference default 30).

    Examples
    --------
    >>> import scmf
    >>> model = scmf.models.load("checkpoints/tf_sapiens/")  # doctest: +SKIP
    >>> scmf.tl.embed(adata, model, layer="counts", batch_size=8)  # doctest: +SKIP
    """
    import torch

    from ._torch import TokenizedModel, load_strict

    path = Path(path)
    missing = [f for f in (*FILES, "vocabs") if not (path / f).exists()]
    if missing:
        msg = f"{path} is not a complete TranscriptFormer folder: {missing} missing."
        raise FileNotFoundError(msg)
    try:
        full = json.loads((path / "config.json").read_text(encoding="utf-8"))
        model = full["model"]
        mc, dc = model["model_config"], model["data_config"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        msg = f"{path / 'config.json'} is not TranscriptFormer's config (model.model_config, model.data_config): {e}"
        raise ValueError(msg) from None
    mtype = model_type or model.get("model_type") or "transcriptformer"
    if mtype not in ("transcriptformer", "esm2ce"):
        msg = f"model_type must be 'transcriptformer' or 'esm2ce', got {mtype!r}."
        raise ValueError(msg)
    specials = dc.get("special_tokens") or SPECIAL_TOKENS
    genes = read_gene_names(path / "vocabs", list(dc.get("esm2_mappings") or []))
    vocab_dict = {t: i for i, t in enumerate(specials)}
    vocab_dict.update({g: i + len(specials) for i, g in enumerate(genes)})
    aux_vocab = None
    if dc.get("aux_cols"):
        aux_vocab = {}
        for key in str(dc["aux_cols"]).split(","):
            f = path / "vocabs" / f"{key}_vocab.json"
            if not f.is_file():
                msg = f"config.json uses the auxiliary token {key!r} but {f} is missing."
                raise FileNotFoundError(msg)
            aux_vocab[key] = json.loads(f.read_text(encoding="utf-8"))
    try:
        state = torch.load(path / "model_weights.pt", map_location="cpu", weights_only=True)
    except Exception as e:
        msg = f"could not read {path / 'model_weights.pt'} (truncated download?): {e}"
        raise ValueError(msg) from None
    table = state.get("gene_embeddings.embedding.weight")
    if table is None or table.shape[0] != len(vocab_dict):
        n = None if table is None else table.shape[0]
        msg = f"model_weights.pt has {n} gene embeddings but vocabs/ gives {len(vocab_dict)} tokens: a different release?"
        raise ValueError(msg)
    cfg = {
        "model_type": mtype,
        "n_genes": int(table.shape[0]),
        "emb_dim": int(table.shape[1]),
        "embed_dim": int(mc["embed_dim"]),
        "num_heads": int(mc["num_heads"]),
        "model_dim": int(mc["model_dim"]),
        "num_layers": int(mc["num_layers"]),
        "activation": mc.get("activation", "gelu"),
        "attn_bias": bool(mc.get("attn_bias", False)),
        "fw_bias": bool(mc.get("fw_bias", False)),
        "softcap": float(mc.get("softcap", 0) or 0),
        "log_counts_eps": float(mc.get("log_counts_eps", 1e-6)),
        "seq_len": int(mc["seq_len"]),
        "pad_idx": vocab_dict["[PAD]"],
        "aux_sizes": {k: len(v) for k, v in (aux_vocab or {}).items()} if mtype == "transcriptformer" else {},
        "aux_unknown": [int(v["unknown"]) for v in (aux_vocab or {}).values()]
        if mtype == "transcriptformer"
        else [],
    }
    unused = ("transformer_encoder.", "gene_embeddings.mlp.") if mtype == "esm2ce" else ()
    module = load_strict(
        _torch_modules()(cfg), state, unused=HEADS + unused, source=path / "model_weights.pt",
        name="TranscriptFormer", config="config.json", device=device,
    )  # fmt: skip
    tok = TranscriptFormerTokenizer(
        vocab_dict, cfg["seq_len"], aux_vocab, clip_counts=float(clip_counts), esm2ce=mtype == "esm2ce"
    )
    info = {"checkpoint": str(path), "format": "transcriptformer", "model_type": mtype, "pooling": "mean"}
    return TokenizedModel(module, tok, name=f"transcriptformer:{path.name}", info=info, autocast="float16")
