"""Tokenizers: a batch of cells (CSR) -> padded token ids and values, vectorised.

- ``rank_value`` (Geneformer): each cell's expressed genes, valued by count / total count
  / the gene's non-zero median, ordered by that value (highest first), top ``max_len``;
  ``<cls>`` first (and ``<eos>`` last) when the model uses them. The per-cell total does not
  change the order, so it is not computed.
- ``binned`` (scGPT): each cell's expressed genes with their value binned per cell into
  ``n_bins`` (quantile edges of the cell's non-zero log-normalised values; bins 1..n_bins-1,
  0 is reserved for zero), ``<cls>`` first.
- ``continuous``: the genes with their log-normalised values.

Genes are kept in order of value, so truncation keeps the most expressed ones; rows are
padded to the longest cell in the batch, never to ``max_len``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import sparse

from .._warnings import warn
from ._matching import GeneMatch, IdType, match_genes
from ._protocol import RecipeHooks

if TYPE_CHECKING:
    import pandas as pd

    from ._vocab import GeneVocab

Kind = Literal["rank_value", "binned", "continuous"]
InputScale = Literal["auto", "counts", "log1p"]


@dataclass
class Tokens:
    """A tokenised batch: ``ids`` and ``values`` (cells x longest), ``lengths`` (incl. specials).

    ``n_genes`` (gene tokens per cell) is set by recipes whose special tokens are not just a
    leading ``<cls>`` / trailing ``<eos>`` (count or auxiliary tokens).
    """

    ids: np.ndarray
    values: np.ndarray
    lengths: np.ndarray
    n_genes: np.ndarray | None = None

    @property
    def attention_mask(self) -> np.ndarray:
        return np.arange(self.ids.shape[1])[None, :] < self.lengths[:, None]


@dataclass
class Tokenizer(RecipeHooks):
    """Turns cells into tokens for a model with gene vocabulary ``vocab``.

    Parameters
    ----------
    vocab
        The model's :class:`~scmf.models.GeneVocab`.
    kind
        ``"rank_value"``, ``"binned"`` or ``"continuous"`` (see the module docs).
    max_len
        Most gene tokens per cell (specials not counted).
    add_cls, add_eos
        Prepend ``<cls>`` / append ``<eos>`` (the vocabulary must have them).
    n_bins
        Number of value bins of ``"binned"`` (scGPT: 51).
    """

    vocab: GeneVocab
    kind: Kind = "rank_value"
    max_len: int = 2048
    add_cls: bool = True
    add_eos: bool = False
    n_bins: int = 51

    def __post_init__(self) -> None:
        if self.kind not in ("rank_value", "binned", "continuous"):
            msg = f"tokenizer kind must be 'rank_value', 'binned' or 'continuous', got {self.kind!r}."
            raise ValueError(msg)
        if int(self.max_len) < 1:
            msg = f"max_len must be positive, got {self.max_len}."
            raise ValueError(msg)
        if self.kind == "binned" and self.n_bins < 3:
            msg = f"n_bins must be at least 3, got {self.n_bins}."
            raise ValueError(msg)
        if self.kind == "rank_value" and self.vocab.medians is None:
            msg = "rank_value tokenisation needs the vocabulary's non-zero medians (GeneVocab.medians)."
            raise ValueError(msg)
        for flag, tok in ((self.add_cls, "<cls>"), (self.add_eos, "<eos>")):
            if flag and tok not in self.vocab.specials:
                msg = f"the vocabulary has no {tok} token; set add_{tok[1:-1]}=False."
                raise ValueError(msg)

    def config(self) -> dict:
        d = asdict(self)
        d.pop("vocab")
        return d

    def match(
        self, var: pd.DataFrame, var_names: pd.Index, *, gene_key: str | None = None, id_type: IdType = "auto"
    ) -> tuple[GeneMatch, np.ndarray]:
        """The data genes' token ids (``-1`` = not used) and per-gene value scale."""
        m = match_genes(var, var_names, self.vocab, gene_key=gene_key, id_type=id_type)
        tok = m.token_ids.copy()
        scale = np.ones(tok.size)
        if self.kind == "rank_value":
            med = np.full(tok.size, np.nan)
            med[tok >= 0] = self.vocab.medians[tok[tok >= 0]]
            usable = np.isfinite(med) & (med > 0)
            tok[~usable] = -1  # Geneformer only encodes genes that have a median
            scale[usable] = 1.0 / med[usable]
            if not usable.any():
                msg = "none of the matched genes has a non-zero median in the vocabulary; rank_value cannot encode them."
                raise ValueError(msg)
            m = GeneMatch(tok, m.id_type, m.gene_key)
        return m, scale

    def transform_for(self, input_scale: str) -> int:
        from .._kernels import EXPM1, NONE, NORMALISE_LOG1P

        if self.kind == "rank_value":
            return NONE if input_scale == "counts" else EXPM1  # ranks need values proportional to counts
        return NORMALISE_LOG1P if input_scale == "counts" else NONE

    def encode(
        self, X, gene_tok: np.ndarray, gene_scale: np.ndarray, *, input_scale: str = "counts"
    ) -> Tokens:
        """Tokenise a batch ``X`` (cells x the data's genes, CSR or dense)."""
        from .._kernels import BINNED, RAW, tokenize_csr

        X = sparse.csr_matrix(X) if not sparse.isspmatrix_csr(X) else X
        ids, values, lengths = tokenize_csr(
            X.indptr,
            X.indices,
            X.data,
            gene_tok,
            gene_scale,
            max_len=int(self.max_len),
            transform=self.transform_for(input_scale),
            encoding=BINNED if self.kind == "binned" else RAW,
            n_bins=int(self.n_bins),
            pad_id=self.vocab.pad_id,
            cls_id=self.vocab.specials["<cls>"] if self.add_cls else -1,
            eos_id=self.vocab.specials["<eos>"] if self.add_eos else -1,
        )
        return Tokens(ids, values, lengths)


def input_scale_of(X, declared: InputScale, kind: str) -> str:
    """Resolve ``"auto"`` from the values; warn when the data are not what the recipe expects."""
    from .._expression import detect_scale

    if declared not in ("auto", "counts", "log1p"):
        msg = f"input_scale must be 'auto', 'counts' or 'log1p', got {declared!r}."
        raise ValueError(msg)
    if declared != "auto":
        return declared
    scale = detect_scale(X)
    if scale == "unlogged":
        from .._expression import warn_unlogged

        warn_unlogged(X, f"{kind} tokenisation")
        return "counts"  # normalised per cell (and log1p'd where the tokenizer needs it), as counts are
    if scale == "scaled":
        msg = (
            "the expression values have negative entries (scaled data): tokenizers need counts or "
            "log-normalised values; pass layer= naming such a layer (e.g. 'counts'), or use_raw=True when "
            "adata.raw holds them (as in scanpy's pbmc68k_reduced)."
        )
        raise ValueError(msg)
    if scale == "log1p" and kind == "rank_value":
        warn(
            "rank_value tokenisation expects raw counts but the data look log-normalised; ranking by expm1 "
            "of the values (proportional to normalised counts). Pass layer='counts' if you have them, or "
            "input_scale='log1p' to silence this."
        )
    return scale


def get_tokenizer(name: Kind, gene_vocab: GeneVocab, **kwargs) -> Tokenizer:
    """A tokenizer by name, as the evaluation guide builds one: ``get_tokenizer("rank_value", gene_vocab=vocab)``.

    ``name`` is ``"rank_value"``, ``"binned"`` or ``"continuous"``; ``kwargs`` are the other
    :class:`Tokenizer` settings (``max_len``, ``add_cls``, ``add_eos``, ``n_bins``).

    Examples
    --------
    >>> import numpy as np
    >>> from scmf.models import GeneVocab, get_tokenizer
    >>> vocab = GeneVocab(np.array(["<pad>", "<cls>", "A"], dtype=object), np.array(["", "", "ENSG1"], dtype=object),
    ...                   np.array(["", "", "A"], dtype=object), np.array([np.nan, np.nan, 1.0]), {"<pad>": 0, "<cls>": 1})
    >>> get_tokenizer("rank_value", gene_vocab=vocab, max_len=512).config()["max_len"]
    512
    """
    return Tokenizer(gene_vocab, name, **kwargs)
