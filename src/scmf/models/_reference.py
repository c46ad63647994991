"""scmf's reference model: a small transformer encoder over gene tokens.

Small on purpose (default: hidden 128, 2 layers, 4 heads): it is what scmf's tests, the
training callback and the examples train and load. Saved as a directory::

    config.json         {"scmf_model": "reference", "format_version": 1, "model": {...}, "tokenizer": {...}}
    vocab.tsv           the gene vocabulary (GeneVocab.save)
    model.safetensors   the weights (safetensors when installed, else model.pt read with
                        torch.load(weights_only=True); nothing else is ever unpickled)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ._tokenizers import Tokenizer
from ._torch import TokenizedModel
from ._vocab import GeneVocab

FORMAT = "reference"
FORMAT_VERSION = 1


@dataclass
class ReferenceConfig:
    """Architecture of :class:`ReferenceModel`."""

    vocab_size: int
    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.1
    max_len: int = 256  # gene tokens per cell
    pad_id: int = 0
    cls: bool = True  # a <cls> token leads each cell
    values: str = "none"  # "none" | "continuous" | "binned": how expression values enter
    n_bins: int = 51
    positions: bool = True  # learned position (= rank) embeddings
    pooling: str = "mean"  # "mean" over gene tokens | "cls"


class ReferenceModel(nn.Module):
    """Gene-token transformer encoder with a masked-gene head.

    ``encode(input_ids, values, attention_mask)`` gives cell embeddings (mean of the gene
    tokens' final states, or the ``<cls>`` state); ``forward`` gives per-token states and
    ``mlm_logits`` the masked-gene predictions used for training.
    """

    def __init__(self, config: ReferenceConfig) -> None:
        super().__init__()
        if config.pooling not in ("mean", "cls") or (config.pooling == "cls" and not config.cls):
            msg = f"pooling must be 'mean' or 'cls' (the latter needs cls=True), got {config.pooling!r}."
            raise ValueError(msg)
        if config.values not in ("none", "continuous", "binned"):
            msg = f"values must be 'none', 'continuous' or 'binned', got {config.values!r}."
            raise ValueError(msg)
        self.config = config
        d = config.d_model
        self.tokens = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_id)
        self.positions = nn.Embedding(config.max_len + 2, d) if config.positions else None
        if config.values == "continuous":
            self.value_encoder = nn.Sequential(nn.Linear(1, d), nn.ReLU(), nn.Linear(d, d))
        elif config.values == "binned":
            self.value_encoder = nn.Embedding(config.n_bins, d)
        else:
            self.value_encoder = None
        layer = nn.TransformerEncoderLayer(
            d, config.n_heads, config.d_ff, config.dropout, batch_first=True, norm_first=True
        )
        # no nested-tensor fast path: results must not depend on how cells are batched
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.mlm_head = nn.Linear(d, config.vocab_size)

    def forward(
        self, input_ids: torch.Tensor, values: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        h = self.tokens(input_ids)
        if self.positions is not None:
            pos = torch.arange(input_ids.shape[1], device=input_ids.device).clamp_max(
                self.positions.num_embeddings - 1
            )
            h = h + self.positions(pos)[None]
        if self.value_encoder is not None:
            if self.config.values == "binned":
                h = h + self.value_encoder(values.long().clamp(0, self.config.n_bins - 1))
            else:
                h = h + self.value_encoder(values.unsqueeze(-1))
        h = self.encoder(h, src_key_padding_mask=~attention_mask)
        return self.norm(h)

    def mlm_logits(self, input_ids, values, attention_mask) -> torch.Tensor:
        return self.mlm_head(self.forward(input_ids, values, attention_mask))

    def token_embeddings(self, token_ids: torch.Tensor) -> torch.Tensor:
        """The input embedding of each token (its row of the token table)."""
        return self.tokens(token_ids)

    def token_states(self, input_ids, values, attention_mask) -> tuple[torch.Tensor, torch.Tensor]:
        """Each token's output state (after the final norm) and which positions are genes."""
        h = self.forward(input_ids, values, attention_mask)
        keep = attention_mask.clone()
        if self.config.cls:
            keep[:, 0] = False
        return h, keep

    def encode(self, input_ids, values, attention_mask) -> torch.Tensor:
        h = self.forward(input_ids, values, attention_mask)
        if self.config.pooling == "cls":
            return h[:, 0]
        keep = attention_mask.clone()
        if self.config.cls:
            keep[:, 0] = False
        w = keep.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(1) / w.sum(1).clamp_min(1.0)


def tokenizer_for(config: ReferenceConfig, vocab: GeneVocab, kind: str) -> Tokenizer:
    return Tokenizer(
        vocab, kind, max_len=config.max_len, add_cls=config.cls, add_eos=False, n_bins=config.n_bins
    )


def save_reference(
    model: ReferenceModel, vocab: GeneVocab, path: str | Path, *, tokenizer: str = "rank_value"
) -> Path:
    """Write ``model`` with its vocabulary and tokenizer settings as a scmf checkpoint directory.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> from scmf.models import GeneVocab, ReferenceConfig, ReferenceModel, save_reference, load_reference
    >>> vocab = GeneVocab(np.array(["<pad>", "<cls>", "A"], dtype=object), np.array(["", "", "ENSG00000000001"], dtype=object),
    ...                   np.array(["", "", "A"], dtype=object), np.array([np.nan, np.nan, 1.0]), {"<pad>": 0, "<cls>": 1})
    >>> model = ReferenceModel(ReferenceConfig(vocab_size=3, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=4))
    >>> path = save_reference(model, vocab, os.path.join(tempfile.mkdtemp(), "tiny"))
    >>> sorted(p.name for p in path.iterdir())
    ['config.json', 'model.safetensors', 'vocab.tsv']
    >>> load_reference(path).tokenizer.kind
    'rank_value'
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if len(vocab) != model.config.vocab_size:
        msg = f"vocabulary has {len(vocab)} tokens but the model was built for {model.config.vocab_size}."
        raise ValueError(msg)
    tok = tokenizer_for(model.config, vocab, tokenizer)
    config = {
        "scmf_model": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": asdict(model.config),
        "tokenizer": tok.config(),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    from .._io import all_or_nothing, write_atomic, write_text_atomic

    with all_or_nothing():  # the three files replace an earlier checkpoint together, or not at all
        try:
            from safetensors.torch import save_file

            write_atomic(path / "model.safetensors", lambda tmp: save_file(state, tmp))
            stale = path / "model.pt"
        except ImportError:
            write_atomic(path / "model.pt", lambda tmp: torch.save(state, tmp))
            stale = None
        write_atomic(path / "vocab.tsv", vocab.save)
        write_text_atomic(path / "config.json", json.dumps(config, indent=2) + "\n")
    if stale is not None:
        stale.unlink(missing_ok=True)
    return path


def is_reference_dir(p: Path) -> bool:
    """Whether ``p`` is a directory written by :func:`save_reference`."""
    import json

    cfg = p / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text(encoding="utf-8")).get("scmf_model") == "reference"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def load_reference(path: str | Path, *, device: str | None = None) -> TokenizedModel:
    """Load a scmf checkpoint directory written by :func:`save_reference`.

    Examples
    --------
    See :func:`save_reference`.
    """
    path = Path(path)
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    if cfg.get("scmf_model") != FORMAT:
        msg = f"{path} is not a scmf reference-model checkpoint (config.json has no scmf_model='reference')."
        raise ValueError(msg)
    if int(cfg.get("format_version", 0)) > FORMAT_VERSION:
        msg = f"{path} was written by a newer scmf (format {cfg['format_version']}); upgrade scmf."
        raise ValueError(msg)
    config = ReferenceConfig(**cfg["model"])
    vocab = GeneVocab.load(path / "vocab.tsv")
    model = ReferenceModel(config)
    state = _read_weights(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        msg = f"{path}: weights do not fit the config (missing {missing[:5]}, unexpected {unexpected[:5]})."
        raise ValueError(msg)
    model.eval()
    if device is not None:
        model.to(device)
    t = cfg["tokenizer"]
    tok = Tokenizer(
        vocab, t["kind"], max_len=t["max_len"], add_cls=t["add_cls"], add_eos=t["add_eos"], n_bins=t["n_bins"]
    )
    return TokenizedModel(
        model, tok, name=f"scmf-reference:{path.name}", info={"checkpoint": str(path), "format": FORMAT}
    )


def _read_weights(path: Path) -> dict:
    st, pt = path / "model.safetensors", path / "model.pt"
    if st.exists():
        try:
            from safetensors.torch import load_file
        except ImportError as e:
            msg = f"{st} needs the safetensors package: pip install safetensors"
            raise ImportError(msg) from e
        try:
            return load_file(str(st))
        except Exception as e:
            msg = f"{st} could not be read (truncated or not a safetensors file): {e}"
            raise ValueError(msg) from e
    if pt.exists():
        try:
            return torch.load(pt, map_location="cpu", weights_only=True)
        except Exception as e:
            msg = f"{pt} could not be read (truncated, or not a plain state dict): {e}"
            raise ValueError(msg) from e
    msg = f"{path} has no model.safetensors or model.pt."
    raise FileNotFoundError(msg)
