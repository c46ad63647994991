"""Gene vocabularies of foundation models: token ids, gene symbols, Ensembl ids, medians."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

GENEFORMER_SPECIALS = ("<pad>", "<mask>", "<cls>", "<eos>")
SCGPT_SPECIALS = ("<pad>", "<cls>", "<eoc>")


@dataclass
class GeneVocab:
    """A model's gene vocabulary.

    Attributes
    ----------
    tokens
        Token string per id (``tokens[i]`` is the token with id ``i``; gaps are ``""``). For
        genes it is the model's own key (Ensembl id for Geneformer, symbol for scGPT).
    ensembl, symbol
        Per token id, the gene's Ensembl id and symbol where known (``""`` otherwise).
    medians
        Per token id, the non-zero median used by rank-value encoding (NaN where unknown),
        or ``None``.
    specials
        Special token name -> id (``<pad>``, ``<cls>``, ``<mask>``, ``<eos>``, ``<eoc>``).
    """

    tokens: np.ndarray
    ensembl: np.ndarray
    symbol: np.ndarray
    medians: np.ndarray | None = None
    specials: dict[str, int] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.tokens)
        for name in ("ensembl", "symbol"):
            if len(getattr(self, name)) != n:
                msg = f"GeneVocab: {name} has {len(getattr(self, name))} entries for {n} tokens."
                raise ValueError(msg)
        if self.medians is not None and len(self.medians) != n:
            msg = f"GeneVocab: medians has {len(self.medians)} entries for {n} tokens."
            raise ValueError(msg)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return self.specials.get("<pad>", 0)

    @property
    def is_gene(self) -> np.ndarray:
        """Boolean per token id: a gene (not special, not a gap)."""
        special = np.zeros(len(self), dtype=bool)
        special[list(self.specials.values())] = True
        return ~special & (self.tokens != "")

    def lookup(self, id_type: str) -> dict[str, int]:
        """Gene name -> token id for ``id_type`` ``"ensembl"`` or ``"symbol"``."""
        names = self.ensembl if id_type == "ensembl" else self.symbol
        gene = self.is_gene
        out: dict[str, int] = {}
        for i in np.flatnonzero(gene & (names != "")):
            out.setdefault(str(names[i]), int(i))  # first id wins for duplicated symbols
        return out

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"token": self.tokens, "ensembl_id": self.ensembl, "symbol": self.symbol})
        if self.medians is not None:
            df["nonzero_median"] = self.medians
        df.index.name = "token_id"
        return df

    def save(self, path: str | Path) -> None:
        """Write as a TSV (``token_id, token, ensembl_id, symbol[, nonzero_median]``) with the specials in a header."""
        from scmf._io import write_atomic

        df = self.to_frame().reset_index()

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(f"# specials: {json.dumps(self.specials)}\n")
                df.to_csv(fh, sep="\t", index=False)

        write_atomic(path, write)

    @classmethod
    def load(cls, path: str | Path) -> GeneVocab:
        """Read a vocabulary written by :meth:`save`."""
        path = Path(path)
        with path.open(encoding="utf-8") as fh:
            first = fh.readline()
            if not first.startswith("# specials: "):
                msg = f"{path} is not a scmf vocabulary file (no '# specials:' header)."
                raise ValueError(msg)
            specials = {str(k): int(v) for k, v in json.loads(first[len("# specials: ") :]).items()}
            df = pd.read_csv(
                fh,
                sep="\t",
                keep_default_na=False,
                na_values={"nonzero_median": ["", "NaN"]},
                float_precision="round_trip",
            )
        return cls._from_table(df, specials, source=str(path))

    @classmethod
    def _from_table(cls, df: pd.DataFrame, specials: dict[str, int], *, source: str) -> GeneVocab:
        ids = df["token_id"].to_numpy(dtype=np.int64)
        if (ids < 0).any() or np.unique(ids).size != ids.size:
            msg = f"{source}: token ids must be unique and non-negative."
            raise ValueError(msg)
        n = int(ids.max()) + 1
        tokens = np.full(n, "", dtype=object)
        ensembl = np.full(n, "", dtype=object)
        symbol = np.full(n, "", dtype=object)
        tokens[ids] = df["token"].fillna("").astype(str).to_numpy()
        ensembl[ids] = df["ensembl_id"].fillna("").astype(str).to_numpy()
        symbol[ids] = df["symbol"].fillna("").astype(str).to_numpy()
        medians = None
        if "nonzero_median" in df.columns:
            medians = np.full(n, np.nan)
            medians[ids] = pd.to_numeric(df["nonzero_median"], errors="coerce").to_numpy(dtype=float)
        return cls(tokens, ensembl, symbol, medians, specials, source)

    @classmethod
    def from_geneformer(
        cls,
        path: str | Path | None = None,
        *,
        token_dictionary: str | Path | None = None,
        gene_median_dictionary: str | Path | None = None,
        gene_name_id_dictionary: str | Path | None = None,
    ) -> GeneVocab:
        """Geneformer's vocabulary.

        Either ``path``, one TSV with columns ``ensembl_id, symbol, token_id, nonzero_median``
        (as in scmf's dataset registry), or Geneformer's own pickled dictionaries:
        ``token_dictionary`` ({Ensembl id or special: token id}), ``gene_median_dictionary``
        ({Ensembl id: non-zero median}) and optionally ``gene_name_id_dictionary``
        ({symbol: Ensembl id}). The pickles are read with an unpickler that only builds
        plain dicts, strings and numbers.
        """
        if path is not None:
            df = pd.read_csv(path, sep="\t", float_precision="round_trip")
            missing = {"ensembl_id", "token_id"} - set(df.columns)
            if missing:
                msg = f"{path}: a Geneformer vocabulary TSV needs columns ensembl_id, token_id (missing {sorted(missing)})."
                raise ValueError(msg)
            df = df.assign(token=df["ensembl_id"].astype(str))
            if "symbol" not in df:
                df["symbol"] = ""
            is_special = df["token"].isin(GENEFORMER_SPECIALS)
            specials = dict(
                zip(df.loc[is_special, "token"], df.loc[is_special, "token_id"].astype(int), strict=True)
            )
            df.loc[is_special, ["ensembl_id", "symbol"]] = ""
            return cls._from_table(df, specials, source=str(path))
        if token_dictionary is None:
            msg = "from_geneformer needs a vocabulary TSV (path) or token_dictionary= (Geneformer's token_dictionary*.pkl)."
            raise ValueError(msg)
        tok = _safe_unpickle(token_dictionary)
        med = _safe_unpickle(gene_median_dictionary) if gene_median_dictionary is not None else {}
        names = _safe_unpickle(gene_name_id_dictionary) if gene_name_id_dictionary is not None else {}
        sym_of = {str(e): str(s) for s, e in names.items()}
        rows = []
        for key, tid in tok.items():
            key = str(key)
            special = key in GENEFORMER_SPECIALS
            rows.append(
                {
                    "token_id": int(tid),
                    "token": key,
                    "ensembl_id": "" if special else key,
                    "symbol": "" if special else sym_of.get(key, ""),
                    "nonzero_median": float(med[key]) if key in med else np.nan,
                }
            )
        df = pd.DataFrame(rows)
        specials = {t: int(tok[t]) for t in GENEFORMER_SPECIALS if t in tok}
        return cls._from_table(df, specials, source=str(token_dictionary))

    @classmethod
    def from_scgpt(cls, path: str | Path, *, gene_info: pd.DataFrame | None = None) -> GeneVocab:
        """scGPT's ``vocab.json`` ({symbol: token id}).

        scGPT's special tokens ``<pad>``, ``<cls>``, ``<eoc>`` are appended after the last id
        when the file lacks them, as scGPT's own loading code does. ``gene_info`` (columns
        ``symbol, ensembl_id``, e.g. Geneformer's vocabulary table) adds Ensembl ids so data
        indexed by Ensembl ids can be matched too.
        """
        with Path(path).open(encoding="utf-8") as fh:
            d = json.load(fh)
        if not isinstance(d, dict) or not all(isinstance(v, int) for v in d.values()):
            msg = f"{path}: expected a JSON object {{gene symbol: token id}} (scGPT's vocab.json)."
            raise ValueError(msg)
        d = dict(d)
        nxt = max(d.values()) + 1
        for s in SCGPT_SPECIALS:
            if s not in d:
                d[s] = nxt
                nxt += 1
        df = pd.DataFrame({"token": list(d.keys()), "token_id": list(d.values())})
        is_special = df["token"].isin(SCGPT_SPECIALS)
        df["symbol"] = np.where(is_special, "", df["token"])
        df["ensembl_id"] = ""
        if gene_info is not None:
            m = (
                gene_info.dropna(subset=["symbol"])
                .drop_duplicates("symbol")
                .set_index("symbol")["ensembl_id"]
            )
            df["ensembl_id"] = df["symbol"].map(m).fillna("").astype(str)
        specials = {s: int(d[s]) for s in SCGPT_SPECIALS}
        return cls._from_table(df, specials, source=str(path))


class _PlainUnpickler(pickle.Unpickler):
    """Builds only dicts, lists, strings and numbers (numpy scalars included)."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("builtins", "dict"),
        ("builtins", "list"),
        ("builtins", "str"),
        ("builtins", "int"),
        ("builtins", "float"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        msg = f"refusing to unpickle {module}.{name}: only plain dictionaries of genes are read."
        raise pickle.UnpicklingError(msg)


def _safe_unpickle(path: str | Path) -> dict:
    with Path(path).open("rb") as fh:
        obj = _PlainUnpickler(fh).load()
    if not isinstance(obj, dict):
        msg = f"{path}: expected a pickled dict, got {type(obj).__name__}."
        raise TypeError(msg)
    return obj
