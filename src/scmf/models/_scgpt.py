"""scGPT checkpoints (``args.json``, ``best_model.pt``, ``vocab.json``) run as scGPT's embedding recipe.

The recipe is that of scGPT's cell-embedding task: the cell's genes that are in the
vocabulary with a non-zero value, in the data's column order, ``<cls>`` in front (its value
is the checkpoint's ``pad_value``); the values binned per cell into ``n_bins`` levels with
ties between quantile edges split at random; a cell with more than ``max_length - 1`` genes
keeps ``max_length - 1`` of them drawn at random; the transformer's output at ``<cls>``,
L2-normalised. The two random draws use a numpy ``RandomState`` (bins) and a torch generator
(gene sampling) seeded with ``seed`` and advanced cell by cell in the data's order, as
scGPT's loader does with the global generators in one process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse

from ._matching import GeneMatch, IdType, match_genes
from ._protocol import RecipeHooks
from ._tokenizers import Tokens
from ._vocab import GeneVocab

FILES = ("args.json", "best_model.pt", "vocab.json")
# weights of scGPT's training heads: present in released checkpoints, unused by the cell embedding
HEADS = (
    "decoder.",
    "cls_decoder.",
    "mvc_decoder.",
    "grad_reverse_discriminator.",
    "batch_encoder.",
    "dsbn.",
    "bn.",
    "flag_encoder.",
    "sim.",
)


def is_scgpt_dir(path: Path) -> bool:
    return (path / "args.json").is_file() and (path / "best_model.pt").is_file()


@dataclass
class ScGPTTokenizer(RecipeHooks):
    """scGPT's cell-embedding tokenisation (see the module docs).

    ``binned=False`` (checkpoints trained on continuous values) gives the cell's
    log-normalised values instead of bins.
    """

    vocab: GeneVocab
    max_length: int = 1200
    n_bins: int = 51
    binned: bool = True
    pad_value: float = -2.0
    seed: int = 0
    kind: str = field(default="binned", init=False)
    add_cls: bool = field(default=True, init=False)
    add_eos: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.kind = "binned" if self.binned else "continuous"
        if int(self.max_length) < 2:
            msg = f"max_length counts <cls> and the genes; it must be at least 2, got {self.max_length}."
            raise ValueError(msg)
        if self.binned and self.n_bins < 3:
            msg = f"n_bins must be at least 3, got {self.n_bins}."
            raise ValueError(msg)
        self.begin()

    def begin(self) -> None:
        """Restart both random streams (called at the start of every embedding run)."""
        import torch

        self._rs = np.random.RandomState(self.seed)
        self._gen = torch.Generator().manual_seed(int(self.seed))
        # scGPT's DataLoader draws its workers' base seed from the same generator before the first
        # cell: draw it too, so that the gene sampling continues from the same state
        torch.empty((), dtype=torch.int64).random_(generator=self._gen)

    def get_state(self):
        """Both random streams (bin ties, gene sampling) as they stand after the last cell."""
        return self._rs.get_state(), self._gen.get_state()

    def set_state(self, state) -> None:
        self._rs.set_state(state[0])
        self._gen.set_state(state[1])

    def config(self) -> dict:
        return {
            "kind": self.kind,
            "max_length": int(self.max_length),
            "n_bins": int(self.n_bins) if self.binned else None,
            "pad_value": float(self.pad_value),
            "seed": int(self.seed),
        }

    def match(
        self, var, var_names, *, gene_key: str | None = None, id_type: IdType = "auto"
    ) -> tuple[GeneMatch, np.ndarray]:
        m = match_genes(var, var_names, self.vocab, gene_key=gene_key, id_type=id_type)
        return m, np.ones(m.token_ids.size)

    def cells(self, X, gene_tok: np.ndarray, *, input_scale: str = "counts"):
        """Per cell (in order): the token ids and values before sampling and padding."""
        X = sparse.csr_matrix(X) if not sparse.isspmatrix_csr(X) else X.copy()
        X.sort_indices()  # scGPT reads dense rows: genes in column order
        continuous_counts = not self.binned and input_scale == "counts"
        tok = gene_tok[X.indices]
        for i in range(X.shape[0]):
            lo, hi = X.indptr[i], X.indptr[i + 1]
            d = X.data[lo:hi]
            keep = (tok[lo:hi] >= 0) & (d != 0)
            genes = tok[lo:hi][keep]
            vals = d[keep]
            if continuous_counts:
                total = float(d.sum())
                vals = np.log1p(vals / total * 1e4) if total > 0 else vals
            yield genes, np.asarray(vals, dtype=np.float32)

    def _bins(self, vals: np.ndarray) -> np.ndarray:
        # per-cell quantile edges; a value on one or more edges lands on one of the bins they
        # bound, drawn uniformly (scGPT's digitisation "on both sides")
        edges = np.quantile(vals, np.linspace(0, 1, self.n_bins - 1))
        left = np.digitize(vals, edges)
        right = np.digitize(vals, edges, right=True)
        u = self._rs.random_sample(vals.size)
        return np.ceil(u * (right - left) + left).astype(np.int64).astype(np.float32)

    def encode(self, X, gene_tok: np.ndarray, gene_scale=None, *, input_scale: str = "counts") -> Tokens:
        import torch

        cls_id = self.vocab.specials["<cls>"]
        pad_id = self.vocab.pad_id
        n_keep = int(self.max_length) - 1
        rows_ids, rows_vals = [], []
        for genes, vals in self.cells(X, gene_tok, input_scale=input_scale):
            if self.binned and vals.size:
                vals = self._bins(vals)
            if genes.size > n_keep:
                pick = torch.randperm(genes.size, generator=self._gen)[:n_keep].numpy()
                genes, vals = genes[pick], vals[pick]
            rows_ids.append(genes)
            rows_vals.append(vals)
        lengths = np.array([g.size + 1 for g in rows_ids], dtype=np.int64)
        width = int(lengths.max()) if lengths.size else 1
        ids = np.full((lengths.size, width), pad_id, dtype=np.int64)
        values = np.full((lengths.size, width), self.pad_value, dtype=np.float32)
        ids[:, 0] = cls_id
        for i, (g, v) in enumerate(zip(rows_ids, rows_vals, strict=True)):
            ids[i, 1 : g.size + 1] = g
            values[i, 1 : g.size + 1] = v
        return Tokens(ids, values, lengths)


def _torch_modules():
    import torch
    from torch import nn

    class GeneEncoder(nn.Module):
        def __init__(self, n: int, d: int, pad_id: int) -> None:
            super().__init__()
            self.embedding = nn.Embedding(n, d, padding_idx=pad_id)
            self.enc_norm = nn.LayerNorm(d)

        def forward(self, x):
            return self.enc_norm(self.embedding(x))

    class ContinuousValueEncoder(nn.Module):
        def __init__(self, d: int, max_value: float = 512.0) -> None:
            super().__init__()
            self.linear1 = nn.Linear(1, d)
            self.linear2 = nn.Linear(d, d)
            self.norm = nn.LayerNorm(d)
            self.max_value = max_value

        def forward(self, x):
            x = torch.clamp(x.unsqueeze(-1), max=self.max_value)
            return self.norm(self.linear2(torch.relu(self.linear1(x))))

    class CategoryValueEncoder(nn.Module):
        def __init__(self, n: int, d: int, pad_value: int) -> None:
            super().__init__()
            self.embedding = nn.Embedding(n, d, padding_idx=pad_value)
            self.enc_norm = nn.LayerNorm(d)

        def forward(self, x):
            return self.enc_norm(self.embedding(x.long()))

    class ScGPTEncoder(nn.Module):
        """scGPT's encoder (gene + value embeddings, post-norm transformer) and <cls> pooling."""

        def __init__(self, cfg: dict) -> None:
            super().__init__()
            d = cfg["d_model"]
            self.style = cfg["input_emb_style"]
            self.encoder = GeneEncoder(cfg["ntoken"], d, cfg["pad_id"])
            if self.style == "continuous":
                self.value_encoder = ContinuousValueEncoder(d)
            elif self.style == "category":
                self.value_encoder = CategoryValueEncoder(cfg["n_input_bins"], d, int(cfg["pad_value"]))
            else:
                self.value_encoder = nn.Identity()
            layer = nn.TransformerEncoderLayer(
                d, cfg["nhead"], cfg["d_hid"], cfg["dropout"], batch_first=True
            )
            self.transformer_encoder = nn.TransformerEncoder(
                layer, cfg["nlayers"], enable_nested_tensor=False
            )
            self.pooling = cfg.get("pooling", "cls")

        def hidden(self, input_ids, values, attention_mask):
            x = self.encoder(input_ids)
            v = self.value_encoder(values)
            x = x * v.unsqueeze(2) if self.style == "scaling" else x + v
            return self.transformer_encoder(x, src_key_padding_mask=~attention_mask)

        def token_embeddings(self, token_ids):
            """scGPT's gene embedding: the gene encoder's output (embedding and its layer norm), as
            its authors extract it (``model.encoder(gene_ids)``)."""
            return self.encoder(token_ids)

        def token_states(self, input_ids, values, attention_mask):
            """Each token's transformer output and which positions are genes (not ``<cls>``, not padding)."""
            h = self.hidden(input_ids, values, attention_mask)
            keep = attention_mask.clone()
            keep[:, 0] = False
            return h, keep

        def encode(self, input_ids, values, attention_mask):
            h = self.hidden(input_ids, values, attention_mask)
            if self.pooling == "cls":
                cell = h[:, 0, :]
            else:  # mean over the cell's tokens, <cls> included (scGPT's "avg-pool" over real tokens)
                w = attention_mask.unsqueeze(-1).to(h.dtype)
                cell = (h * w).sum(1) / w.sum(1)
            return torch.nn.functional.normalize(cell.float(), p=2.0, dim=1)

    return ScGPTEncoder


def read_args(path: Path) -> dict:
    try:
        args = json.loads((path / "args.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        msg = f"{path / 'args.json'} is not valid JSON ({e}); it should be scGPT's training arguments."
        raise ValueError(msg) from None
    return args


def read_weights(path: Path) -> dict:
    import torch

    f = path / "best_model.pt"
    try:
        state = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, not a torch file, pickled objects
        msg = f"could not read the weights in {f} (truncated download or not a torch state dict?): {e}"
        raise ValueError(msg) from None
    if (
        isinstance(state, dict)
        and "model_state_dict" in state
        and isinstance(state["model_state_dict"], dict)
    ):
        state = state["model_state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        msg = f"{f} does not hold a state dict of tensors."
        raise ValueError(msg)
    # DistributedDataParallel saves "module."-prefixed keys; flash-attention checkpoints keep the
    # fused q/k/v projection as Wqkv, which standard attention calls in_proj_
    return {k.removeprefix("module.").replace("Wqkv.", "in_proj_"): v for k, v in state.items()}


def load_scgpt(
    path: str | Path,
    *,
    vocab: GeneVocab | str | Path | None = None,
    max_length: int | None = None,
    pooling: str = "cls",
    seed: int = 0,
    device: str | None = None,
):
    """Load an scGPT checkpoint directory (``args.json``, ``best_model.pt``, ``vocab.json``).

    Parameters
    ----------
    path
        The released folder (e.g. ``scGPT_human``).
    vocab
        Another ``vocab.json`` (default: the folder's).
    max_length
        Tokens per cell, ``<cls>`` included (default 1200, as scGPT's embedding task).
    pooling
        ``"cls"`` (scGPT's cell embedding) or ``"mean"`` over the cell's tokens.
    seed
        Seed of the bin tie-breaking and of the gene sampling above ``max_length``.

    Examples
    --------
    >>> import scmf
    >>> model = scmf.models.load("scGPT_human/")  # doctest: +SKIP
    >>> scmf.tl.embed(adata, model)  # doctest: +SKIP
    """
    from ._torch import TokenizedModel, load_strict

    path = Path(path)
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        msg = f"{path} is not a complete scGPT checkpoint: {missing} missing (needs {', '.join(FILES)})."
        raise FileNotFoundError(msg)
    if pooling not in ("cls", "mean"):
        msg = f"pooling must be 'cls' or 'mean' for scGPT, got {pooling!r}."
        raise ValueError(msg)
    args = read_args(path)
    v = vocab if isinstance(vocab, GeneVocab) else GeneVocab.from_scgpt(vocab or path / "vocab.json")
    pad_token = args.get("pad_token", "<pad>")
    if pad_token not in v.specials:
        msg = f"args.json names pad_token {pad_token!r}, which the vocabulary lacks."
        raise ValueError(msg)
    state = read_weights(path)
    if "encoder.embedding.weight" not in state:
        msg = f"{path / 'best_model.pt'} has no encoder.embedding.weight: not an scGPT TransformerModel state dict."
        raise ValueError(msg)
    ntoken, d_model = (int(s) for s in state["encoder.embedding.weight"].shape)
    if len(v) > ntoken:
        msg = f"the vocabulary has {len(v)} tokens but the checkpoint's embedding only {ntoken}: wrong vocab.json."
        raise ValueError(msg)
    input_style = args.get("input_style", "binned")
    emb_style = args.get("input_emb_style", "continuous")
    if emb_style not in ("continuous", "category", "scaling"):
        msg = f"args.json input_emb_style={emb_style!r}; scGPT knows continuous, category, scaling."
        raise ValueError(msg)
    nlayers = 1 + max(
        (int(k.split(".")[2]) for k in state if k.startswith("transformer_encoder.layers.")), default=-1
    )
    cfg = {
        "ntoken": ntoken,
        "d_model": d_model,
        "nhead": int(args["nheads"]),
        "d_hid": int(args.get("d_hid", args.get("layer_size", d_model))),
        "nlayers": nlayers,
        "dropout": float(args.get("dropout", 0.0)),
        "pad_id": v.specials[pad_token],
        "pad_value": float(args.get("pad_value", -2)),
        "input_emb_style": emb_style,
        "n_input_bins": int(state["value_encoder.embedding.weight"].shape[0])
        if emb_style == "category"
        else None,
        "pooling": pooling,
    }
    if int(args.get("nlayers", nlayers)) != nlayers:
        msg = f"args.json says nlayers={args['nlayers']} but best_model.pt has {nlayers} transformer layers."
        raise ValueError(msg)
    module = load_strict(
        _torch_modules()(cfg), state, unused=HEADS, source=path / "best_model.pt", name="scGPT", config="args.json",
        device=device,
    )  # fmt: skip
    tok = ScGPTTokenizer(
        v,
        max_length=int(max_length or 1200),
        n_bins=int(args.get("n_bins", 51)),
        binned=input_style == "binned",
        pad_value=cfg["pad_value"],
        seed=seed,
    )
    info = {
        "checkpoint": str(path),
        "format": "scgpt",
        "pooling": pooling,
        "seed": int(seed),
        "n_head_weights_unused": sum(1 for k in state if k.startswith(HEADS)),
    }
    return TokenizedModel(module, tok, name=f"scgpt:{path.name}", info=info, autocast="float16")


__all__ = ["ScGPTTokenizer", "is_scgpt_dir", "load_scgpt"]
