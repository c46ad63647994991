"""Matching the data's genes to a model's vocabulary."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._validate import name_list
from .._warnings import warn

if TYPE_CHECKING:
    from ._vocab import GeneVocab

logger = logging.getLogger("scmf")

IdType = Literal["auto", "ensembl", "symbol"]
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}(\.\d+)?$")


@dataclass
class GeneMatch:
    """Token id of each of the data's genes (``-1``: not in the vocabulary) and a report."""

    token_ids: np.ndarray
    id_type: str
    gene_key: str | None

    @property
    def n_matched(self) -> int:
        return int((self.token_ids >= 0).sum())

    def report(self, vocab: GeneVocab) -> dict:
        matched = self.token_ids[self.token_ids >= 0]
        n_vocab = int(vocab.is_gene.sum())
        return {
            "gene_key": self.gene_key if self.gene_key is not None else "var_names",
            "id_type": self.id_type,
            "n_genes_data": int(self.token_ids.size),
            "n_genes_matched": int(matched.size),
            "n_vocab_genes": n_vocab,
            "n_vocab_genes_covered": int(np.unique(matched).size),
            "frac_data_genes_matched": float(matched.size / max(self.token_ids.size, 1)),
            "frac_vocab_covered": float(np.unique(matched).size / max(n_vocab, 1)),
        }


def detect_id_type(names: np.ndarray) -> str:
    """``"ensembl"`` when most names look like Ensembl gene ids, else ``"symbol"``."""
    sample = names[: min(len(names), 2000)]
    hits = sum(bool(_ENSEMBL.match(str(s))) for s in sample)
    return "ensembl" if hits > 0.5 * max(len(sample), 1) else "symbol"


def gene_ids(names, id_type: str = "auto") -> np.ndarray:
    """Gene names as the tokenizers match them: Ensembl ids without version suffixes, symbols as they are.

    Examples
    --------
    >>> from scmf.models import gene_ids
    >>> gene_ids(["ENSG00000141510.17", "ENSG00000012048"]).tolist()
    ['ENSG00000141510', 'ENSG00000012048']
    """
    names = np.asarray(names, dtype=object).astype(str)
    kind = detect_id_type(names) if id_type == "auto" else id_type
    return _normalise(names, kind).astype(str)


def _normalise(names: np.ndarray, id_type: str) -> np.ndarray:
    s = pd.Series(names, dtype=object).astype(str)
    if id_type == "ensembl":
        return s.str.replace(r"\.\d+$", "", regex=True).to_numpy(dtype=object)  # drop version suffixes
    return s.to_numpy(dtype=object)


def _lookup(names: np.ndarray, id_type: str, vocab: GeneVocab) -> np.ndarray:
    table = vocab.lookup(id_type)
    return pd.Series(_normalise(names, id_type)).map(table).fillna(-1).to_numpy(dtype=np.int64)


def gene_names(var: pd.DataFrame, var_names: pd.Index, gene_key: str | None) -> np.ndarray:
    """The data's gene names: ``var[gene_key]``, or ``var_names`` when ``gene_key`` is ``None``."""
    if gene_key is not None and gene_key not in var.columns:
        msg = f"gene_key={gene_key!r} is not a column of adata.var (columns: {list(var.columns)})."
        raise KeyError(msg)
    return np.asarray(var[gene_key] if gene_key is not None else var_names, dtype=object)


def match_genes(
    var: pd.DataFrame,
    var_names: pd.Index,
    vocab: GeneVocab,
    *,
    gene_key: str | None = None,
    id_type: IdType = "auto",
    min_genes: int = 1,
) -> GeneMatch:
    """Token ids for the data's genes.

    ``gene_key`` picks a ``var`` column (default: ``var_names``); ``id_type`` says whether the
    names are Ensembl ids (version suffixes such as ``.12`` are ignored) or symbols, or
    ``"auto"`` to detect it. When nothing matches, the error says which alternative would.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from scmf.models import GeneVocab, match_genes
    >>> vocab = GeneVocab(np.array(["<pad>", "ENSG00000000003", "ENSG00000000005"], dtype=object),
    ...                   np.array(["", "ENSG00000000003", "ENSG00000000005"], dtype=object),
    ...                   np.array(["", "TSPAN6", "TNMD"], dtype=object), specials={"<pad>": 0})
    >>> genes = pd.Index(["TNMD", "XYZ", "TSPAN6"])
    >>> m = match_genes(pd.DataFrame(index=genes), genes, vocab)
    >>> m.id_type, m.token_ids.tolist()
    ('symbol', [2, -1, 1])
    """
    names = gene_names(var, var_names, gene_key)
    if id_type not in ("auto", "ensembl", "symbol"):
        msg = f"id_type must be 'auto', 'ensembl' or 'symbol', got {id_type!r}."
        raise ValueError(msg)
    kind = detect_id_type(names) if id_type == "auto" else id_type
    has = {t: bool((getattr(vocab, t) != "").any()) for t in ("ensembl", "symbol")}
    if not has[kind]:
        msg = (
            f"the data's genes look like {kind} names but the vocabulary ({vocab.source}) has no {kind} "
            f"entries; pass gene_key= naming a var column of {'symbols' if kind == 'ensembl' else 'Ensembl ids'}"
            + (" or give the vocabulary gene_info= to map them" if kind == "ensembl" else "")
            + "."
        )
        raise ValueError(msg)
    ids = _lookup(names, kind, vocab)
    dup = pd.Index(names)[pd.Index(names).duplicated() & (ids >= 0)].unique()
    if len(dup):
        where = f"adata.var[{gene_key!r}]" if gene_key else "adata.var_names"
        warn(
            f"{len(dup)} gene names appear more than once in {where} ({name_list(list(dup))}); each copy becomes a "
            "token of the same gene. Sum or drop the duplicates first (adata.var_names_make_unique() keeps both "
            "under new names, which the vocabulary then does not know)."
        )
    match = GeneMatch(ids, kind, gene_key)
    if match.n_matched < min_genes:
        raise ValueError(_no_match_message(var, var_names, vocab, gene_key, kind, names))
    rep = match.report(vocab)
    logger.info(
        "matched %d of %d genes (%s, %s) to the vocabulary; %d of its %d genes covered",
        rep["n_genes_matched"],
        rep["n_genes_data"],
        rep["gene_key"],
        kind,
        rep["n_vocab_genes_covered"],
        rep["n_vocab_genes"],
    )
    if rep["frac_data_genes_matched"] < 0.5:
        warn(
            f"only {rep['n_genes_matched']} of {rep['n_genes_data']} genes "
            f"({rep['frac_data_genes_matched']:.0%}) are in the model's vocabulary; the embedding sees only those."
        )
    return match


def _no_match_message(var, var_names, vocab, gene_key, kind, names) -> str:
    where = f"adata.var[{gene_key!r}]" if gene_key else "adata.var_names"
    hints = []
    other = "symbol" if kind == "ensembl" else "ensembl"
    if (getattr(vocab, other) != "").any() and (_lookup(names, other, vocab) >= 0).any():
        hints.append(f"pass id_type={other!r}")
    for col in var.columns:
        if col == gene_key or (
            var[col].dtype.kind not in "OSU" and not isinstance(var[col].dtype, pd.CategoricalDtype)
        ):
            continue
        vals = np.asarray(var[col].astype(str), dtype=object)
        for t in ("ensembl", "symbol"):
            if (getattr(vocab, t) != "").any() and (_lookup(vals, t, vocab) >= 0).sum() > 0:
                hints.append(f"pass gene_key={col!r} (its values match as {t} names)")
                break
    if (
        gene_key is not None
        and (
            _lookup(
                np.asarray(var_names, dtype=object),
                detect_id_type(np.asarray(var_names, dtype=object)),
                vocab,
            )
            >= 0
        ).any()
    ):
        hints.append("pass gene_key=None to use var_names")
    sample = [str(s) for s in names[:3]]
    if kind == "symbol" and sum(s[:1].isupper() and s[1:].islower() for s in sample if len(s) > 1) >= 2:
        hints.append(
            "the names look like mouse symbols (e.g. 'Actb'); this vocabulary is human: map to human orthologs first"
        )
    hint = (
        "; or ".join(hints)
        if hints
        else "check that the data are from the model's species and that the gene names are symbols or Ensembl ids"
    )
    return (
        f"none of the {len(names)} genes in {where} (read as {kind} names, e.g. {sample}) is in the model's "
        f"vocabulary ({vocab.source}, e.g. {list(vocab.tokens[vocab.is_gene][:3])}). Try: {hint}."
    )
