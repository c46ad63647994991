"""Geneformer checkpoints: a Hugging Face BERT directory plus Geneformer's gene dictionaries.

A Geneformer checkpoint is ``config.json`` (``model_type: "bert"``) with
``model.safetensors`` or ``pytorch_model.bin``. The token dictionary and gene medians are
separate files: pass a :class:`~scmf.models.GeneVocab` (or a path to one, or Geneformer's
``token_dictionary*.pkl`` with ``gene_median_dictionary*.pkl`` next to the weights), or let
scmf use the registry's ``geneformer_gc95M_vocab.tsv.gz`` found under ``SCMF_DATA_DIR``.
Needs the optional extra: ``pip install "scmf[transformers]"``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ._tokenizers import Tokenizer
from ._torch import TokenizedModel
from ._vocab import GeneVocab

INSTALL = 'pip install "scmf[transformers]"'


def is_geneformer_dir(path: Path) -> bool:
    cfg = path / "config.json"
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text(encoding="utf-8")).get("model_type") == "bert"
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


class _GeneformerEncoder:
    """``encode()`` over a transformers ``BertModel``: one hidden layer, pooled."""

    def __init__(self, bert, *, hidden_layer: int, pooling: str, n_front: int, n_back: int) -> None:
        self.bert = bert
        self.hidden_layer = hidden_layer
        self.pooling = pooling
        self.n_front, self.n_back = n_front, n_back

    # transformers models do not survive pickling (dask workers, joblib): travel as config + weights
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        bert = state.pop("bert")
        state["_bert"] = (bert.config.to_dict(), {k: v.detach().cpu() for k, v in bert.state_dict().items()})
        return state

    def __setstate__(self, state: dict) -> None:
        from transformers import BertConfig, BertModel

        cfg, weights = state.pop("_bert")
        self.__dict__.update(state)
        bert = BertModel(BertConfig.from_dict(cfg), add_pooling_layer=False)
        bert.load_state_dict(weights, strict=True)
        self.bert = bert.eval()

    # module-like surface used by the runner
    @property
    def training(self) -> bool:
        return self.bert.training

    def eval(self):
        self.bert.eval()
        return self

    def train(self, mode: bool = True):
        self.bert.train(mode)
        return self

    def to(self, device):
        self.bert.to(device)
        return self

    def parameters(self):
        return self.bert.parameters()

    def token_embeddings(self, token_ids):
        """The input embedding of each token (BERT's word embeddings)."""
        return self.bert.embeddings.word_embeddings(token_ids)

    def token_states(self, input_ids, values, attention_mask):
        """Each token's state at ``hidden_layer`` (the cell embedding's layer) and which positions are genes."""
        import torch

        out = self.bert(input_ids=input_ids, attention_mask=attention_mask.long(), output_hidden_states=True)
        h = out.hidden_states[self.hidden_layer]
        lengths = attention_mask.sum(1)
        pos = torch.arange(h.shape[1], device=h.device)[None, :]
        return h, (pos >= self.n_front) & (pos < (lengths - self.n_back)[:, None])

    def encode(self, input_ids, values, attention_mask):
        import torch

        out = self.bert(input_ids=input_ids, attention_mask=attention_mask.long(), output_hidden_states=True)
        h = out.hidden_states[self.hidden_layer]
        if self.pooling == "cls":
            return h[:, 0]
        # mean over gene tokens: drop <cls> (front) and <eos> (the last real token)
        lengths = attention_mask.sum(1)
        pos = torch.arange(h.shape[1], device=h.device)[None, :]
        keep = (pos >= self.n_front) & (pos < (lengths - self.n_back)[:, None])
        w = keep.unsqueeze(-1).to(h.dtype)
        return (h * w).sum(1) / w.sum(1).clamp_min(1.0)


def load_geneformer(
    path: str | Path,
    *,
    vocab: GeneVocab | str | Path | None = None,
    hidden_layer: int = -2,
    pooling: str = "mean",
    max_len: int | None = None,
    device: str | None = None,
) -> TokenizedModel:
    """Load a Geneformer (BERT) checkpoint directory as a scmf model.

    Parameters
    ----------
    path
        Directory with ``config.json`` and the weights.
    vocab
        The gene vocabulary: a :class:`GeneVocab`, a vocabulary TSV path, or ``None`` to look
        for ``token_dictionary*.pkl`` (+ ``gene_median_dictionary*.pkl``) in ``path`` and then
        for ``geneformer_gc95M_vocab.tsv.gz`` in ``SCMF_DATA_DIR``.
    hidden_layer
        Index into the model's hidden states (``0`` = embeddings, ``-1`` = last layer).
        Default ``-2``, the penultimate layer, as Geneformer's own embedding extractor.
    pooling
        ``"mean"`` over gene tokens (Geneformer's cell embedding) or ``"cls"`` (needs a
        vocabulary with ``<cls>``, as the 95M-cell models).
    max_len
        Gene tokens per cell; default: the model's input size minus the special tokens.

    Examples
    --------
    >>> import scmf
    >>> model = scmf.models.load("geneformer_checkpoint/", vocab="geneformer_gc95M_vocab.tsv.gz",
    ...                          pooling="cls", hidden_layer=-1)  # doctest: +SKIP
    >>> scmf.tl.embed(adata, model)  # doctest: +SKIP
    """
    try:
        from transformers import BertModel
    except ImportError as e:
        msg = f"loading Geneformer checkpoints needs transformers: {INSTALL}"
        raise ImportError(msg) from e
    path = Path(path)
    if not is_geneformer_dir(path):
        msg = f"{path} is not a Geneformer/BERT checkpoint (needs config.json with model_type 'bert')."
        raise ValueError(msg)
    v = _vocab_for(path, vocab)
    if pooling not in ("mean", "cls"):
        msg = f"pooling must be 'mean' or 'cls', got {pooling!r}."
        raise ValueError(msg)
    has_cls = "<cls>" in v.specials
    if pooling == "cls" and not has_cls:
        msg = "pooling='cls' needs a vocabulary with a <cls> token (Geneformer 95M-cell models); use pooling='mean'."
        raise ValueError(msg)
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # scmf checks the keys itself (below): no load report table
    hf_logging.disable_progress_bar()
    try:
        bert, info = BertModel.from_pretrained(str(path), add_pooling_layer=False, output_loading_info=True)
    except Exception as e:  # OSError, safetensors' header errors, torch unpickling errors
        msg = f"could not read the weights in {path} (missing or truncated model.safetensors / pytorch_model.bin): {e}"
        raise ValueError(msg) from e
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    # the masked-language-model head (cls.*) and a pooler are training parts the embedding does not use
    missing = [k for k in info["missing_keys"] if not k.endswith("position_ids")]
    unknown = [k for k in info["unexpected_keys"] if not k.startswith(("cls.", "bert.pooler.", "pooler."))]
    if missing or unknown or info["mismatched_keys"]:
        msg = (
            f"the weights in {path} do not fit a BERT encoder: missing {missing[:5]}, unknown {unknown[:5]}, "
            f"of another shape {[k[0] if isinstance(k, tuple) else k for k in info['mismatched_keys']][:5]}."
        )
        raise ValueError(msg)
    if bert.config.vocab_size < len(v):
        msg = f"the vocabulary has {len(v)} tokens but the model only {bert.config.vocab_size}: wrong vocabulary for this checkpoint."
        raise ValueError(msg)
    n_layers = bert.config.num_hidden_layers
    if not -(n_layers + 1) <= hidden_layer <= n_layers:
        msg = f"hidden_layer must be in [{-(n_layers + 1)}, {n_layers}] for this {n_layers}-layer model, got {hidden_layer}."
        raise ValueError(msg)
    specials = 2 if has_cls else 0  # <cls> ... <eos>
    limit = bert.config.max_position_embeddings - specials
    max_len = limit if max_len is None else int(max_len)
    if max_len > limit:
        msg = f"max_len={max_len} exceeds the model's input size ({limit} gene tokens)."
        raise ValueError(msg)
    bert.eval()
    if device is not None:
        bert.to(device)
    tok = Tokenizer(
        v, "rank_value", max_len=max_len, add_cls=has_cls, add_eos=has_cls and "<eos>" in v.specials
    )
    enc = _GeneformerEncoder(
        bert, hidden_layer=hidden_layer, pooling=pooling, n_front=int(tok.add_cls), n_back=int(tok.add_eos)
    )
    info = {"checkpoint": str(path), "format": "geneformer", "hidden_layer": hidden_layer, "pooling": pooling}
    return TokenizedModel(enc, tok, name=f"geneformer:{path.name}", info=info)


def _vocab_for(path: Path, vocab) -> GeneVocab:
    if isinstance(vocab, GeneVocab):
        return vocab
    if vocab is not None:
        p = Path(vocab)
        return GeneVocab.load(p) if p.suffix == ".tsv" and _is_scmf_vocab(p) else GeneVocab.from_geneformer(p)
    tok = sorted(path.glob("token_dictionary*.pkl"))
    if tok:
        med = sorted(path.glob("gene_median_dictionary*.pkl"))
        names = sorted(path.glob("gene_name_id_dict*.pkl"))
        return GeneVocab.from_geneformer(
            token_dictionary=tok[0],
            gene_median_dictionary=med[0] if med else None,
            gene_name_id_dictionary=names[0] if names else None,
        )
    from .._env import data_dir

    d = data_dir()
    cand = d / "geneformer_gc95M_vocab.tsv.gz" if d is not None else None
    if cand is not None and cand.is_file():
        return GeneVocab.from_geneformer(cand)
    msg = (
        f"no gene vocabulary for the Geneformer checkpoint {path}: pass vocab= (a GeneVocab or "
        "geneformer_gc95M_vocab.tsv.gz), put token_dictionary*.pkl and gene_median_dictionary*.pkl next to the "
        "weights, or set SCMF_DATA_DIR to a folder holding geneformer_gc95M_vocab.tsv.gz."
    )
    raise FileNotFoundError(msg)


def _is_scmf_vocab(p: Path) -> bool:
    with p.open(encoding="utf-8") as fh:
        return fh.readline().startswith("# specials: ")
