"""UCE (Universal Cell Embeddings) model folders, run as UCE's evaluation recipe.

A release folder holds the model weights (``4layer_model.torch`` or the 33-layer
``33l_8ep_1024t_1280.torch``), ``species_chrom.csv`` (gene symbol, chromosome and genomic start
per species), ``species_offsets.pkl`` (each species' first row in the token table),
``protein_embeddings/`` (one ``{gene symbol: ESM-2 embedding}`` file per species, whose key
order numbers the genes) and optionally ``all_tokens.torch`` (the token table).

The recipe: genes expressed in fewer than ``min_cells`` cells are dropped (UCE's default
filter), then the genes with a protein embedding and a genomic position; per cell,
``sample_size`` genes are drawn with replacement with probability proportional to
``log1p(count)``, grouped by chromosome (chromosomes in random order, each opened by its
chromosome token and closed by the separator token), ordered by genomic start, after
``<cls>``; the sentence runs through the transformer and the ``<cls>`` output of the decoder,
L2-normalised, is the cell embedding. Draws use a numpy ``RandomState(seed)`` advanced cell by
cell in the data's order, as UCE's single-process loader does with the global generator.
Cells go through the model in UCE's batches (``batch_size`` consecutive cells padded to the
longest): UCE's padding mask is additive (padding tokens are attended with weight ``e``),
so a cell's embedding depends on its batch's length, and scmf reproduces those batches.
"""

from __future__ import annotations

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
from ._vocab import GeneVocab, _safe_unpickle

CHROM_CSV = "species_chrom.csv"
OFFSETS = "species_offsets.pkl"
TOKENS = "all_tokens.torch"
PROTEIN_DIR = "protein_embeddings"
N_CHROM_TOKENS = 1895  # chromosome tokens after the protein tokens in UCE's table
PAD, CHROM_CLOSE, CLS = 0, 2, 3
SPECIES_FILES = {
    "human": "Homo_sapiens.GRCh38.gene_symbol_to_embedding_ESM2.pt",
    "mouse": "Mus_musculus.GRCm39.gene_symbol_to_embedding_ESM2.pt",
    "frog": "Xenopus_tropicalis.Xenopus_tropicalis_v9.1.gene_symbol_to_embedding_ESM2.pt",
    "zebrafish": "Danio_rerio.GRCz11.gene_symbol_to_embedding_ESM2.pt",
    "mouse_lemur": "Microcebus_murinus.Mmur_3.0.gene_symbol_to_embedding_ESM2.pt",
    "pig": "Sus_scrofa.Sscrofa11.1.gene_symbol_to_embedding_ESM2.pt",
    "macaca_fascicularis": "Macaca_fascicularis.Macaca_fascicularis_6.0.gene_symbol_to_embedding_ESM2.pt",
    "macaca_mulatta": "Macaca_mulatta.Mmul_10.gene_symbol_to_embedding_ESM2.pt",
}
HEADS = ("binary_decoder.", "gene_embedding_layer.")


def torch_load(path: Path):
    """A tensor file, memory-mapped when its format allows (UCE's tables are gigabytes)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as e:
        if "mmap" not in str(e):
            raise
        return torch.load(path, map_location="cpu", weights_only=True)  # the legacy (non-zip) format


def is_uce_dir(path: Path) -> bool:
    return (path / CHROM_CSV).is_file() and (path / OFFSETS).is_file()


def weight_files(path: Path) -> list[Path]:
    return sorted(p for p in path.glob("*.torch") if p.name != TOKENS)


@dataclass
class GeneTable:
    """Per species gene: token id, chromosome code and genomic start (UCE's lookup tables)."""

    symbols: np.ndarray  # upper-case symbols, in the protein-embedding file's order
    token: np.ndarray  # row in the token table (index + species offset)
    chrom: np.ndarray  # chromosome code (pandas category code over all species, UCE's dtype)
    start: np.ndarray  # genomic start


def read_gene_table(path: Path, species: str) -> GeneTable:

    offsets = _safe_unpickle(path / OFFSETS)
    if species not in offsets:
        msg = f"species={species!r} is not in {path / OFFSETS} (it has {sorted(offsets)})."
        raise ValueError(msg)
    pe_file = path / PROTEIN_DIR / SPECIES_FILES.get(species, f"{species}.pt")
    if not pe_file.is_file():
        msg = f"the protein embeddings of {species!r} are missing: expected {pe_file}."
        raise FileNotFoundError(msg)
    try:
        pe = torch_load(pe_file)
    except Exception as e:
        msg = f"could not read {pe_file} (truncated download?): {e}"
        raise ValueError(msg) from None
    # UCE upper-cases the keys; a symbol seen twice keeps its first position
    symbols = np.array(list(dict.fromkeys(str(k).upper() for k in pe)), dtype=object)
    csv = pd.read_csv(path / CHROM_CSV)
    missing = {"species", "gene_symbol", "chromosome", "start"} - set(csv.columns)
    if missing:
        msg = f"{path / CHROM_CSV} lacks the columns {sorted(missing)}."
        raise ValueError(msg)
    spec_chrom = pd.Categorical(csv["species"].astype(str) + "_" + csv["chromosome"].astype(str))
    codes = pd.Series(spec_chrom.codes, index=csv.index)
    own = (csv["species"] == species).to_numpy()
    first = ~csv.loc[own, "gene_symbol"].duplicated().to_numpy()
    table = pd.DataFrame(
        {"chrom": codes[own][first].to_numpy(), "start": csv.loc[own, "start"].to_numpy()[first]},
        index=csv.loc[own, "gene_symbol"].astype(str).to_numpy()[first],
    )
    pos = table.reindex(symbols)
    token = np.arange(symbols.size, dtype=np.int64) + int(offsets[species])
    chrom = pos["chrom"].to_numpy()
    known = ~np.isnan(chrom.astype(float))
    return GeneTable(
        symbols=symbols,
        token=np.where(known, token, -1),
        chrom=np.where(known, chrom, -1).astype(spec_chrom.codes.dtype),
        start=pos["start"].to_numpy(),
    )


@dataclass
class UCETokenizer(RecipeHooks):
    """UCE's cell sentences (see the module docs); ``encode`` returns token ids, no values."""

    genes: GeneTable
    species: str = "human"
    sample_size: int = 1024
    pad_length: int = 1536
    chrom_token_offset: int = 143574
    min_cells: int = 10
    seed: int = 0
    batch_group: int = 25
    kind: str = field(default="counts", init=False)
    add_cls: bool = field(default=True, init=False)
    add_eos: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        sym = self.genes.symbols
        tokens = np.array([f"<uce:{i}>" for i in range(sym.size)], dtype=object)
        self.vocab = GeneVocab(
            tokens, np.full(sym.size, "", dtype=object), sym.copy(), source=f"UCE {self.species}"
        )
        self.begin()

    def begin(self) -> None:
        self._rs = np.random.RandomState(self.seed)

    def get_state(self):
        """The sampling stream as it stands after the last cell."""
        return self._rs.get_state()

    def set_state(self, state) -> None:
        self._rs.set_state(state)

    def config(self) -> dict:
        return {
            "kind": "uce_sentence",
            "species": self.species,
            "sample_size": int(self.sample_size),
            "pad_length": int(self.pad_length),
            "min_cells": int(self.min_cells),
            "seed": int(self.seed),
            "batch_size": int(self.batch_group),
        }

    def match(self, var, var_names, *, gene_key: str | None = None, id_type: str = "auto"):
        """Genes by symbol, case-insensitively (UCE's matching); Ensembl ids are not in UCE's tables."""
        if id_type == "ensembl":
            msg = "UCE matches genes by symbol: pass gene_key= naming a var column of gene symbols."
            raise ValueError(msg)
        names = pd.Index(gene_names(var, var_names, gene_key).astype(str)).str.upper()
        pos = pd.Index(self.genes.symbols).get_indexer(names)  # row in the gene table, -1: none
        usable = pos >= 0
        usable[usable] = self.genes.token[pos[usable]] >= 0
        n_pe = int((pos >= 0).sum())
        if n_pe > usable.sum():
            warn(
                f"{n_pe - int(usable.sum())} genes have a protein embedding but no genomic position in "
                f"{CHROM_CSV}; they are left out (UCE's own code stops with a KeyError on them)."
            )
        if not usable.any():
            msg = (
                f"none of the {names.size} genes (e.g. {list(names[:3])}) is in UCE's {self.species} protein "
                "embeddings; UCE matches gene symbols: pass gene_key= naming a var column of symbols, or species=."
            )
            raise ValueError(msg)
        return GeneMatch(np.where(usable, pos, -1).astype(np.int64), "symbol", gene_key), np.ones(names.size)

    def restrict(self, match: GeneMatch, X, n_obs: int) -> GeneMatch:
        """UCE's gene filter: genes expressed in fewer than ``min_cells`` cells are dropped."""
        if self.min_cells <= 0:
            return match
        from .._expression import rows_csr

        n_cells = np.zeros(match.token_ids.size, dtype=np.int64)
        for start in range(0, n_obs, 20_000):
            block = rows_csr(X, start, min(start + 20_000, n_obs))
            n_cells += np.bincount(block.indices[block.data > 0], minlength=n_cells.size)
        self._kept = n_cells >= self.min_cells
        ids = np.where(self._kept, match.token_ids, -1)
        return GeneMatch(ids, match.id_type, match.gene_key)

    def sentence(
        self, counts: np.ndarray, token: np.ndarray, chrom: np.ndarray, start: np.ndarray
    ) -> np.ndarray:
        """One cell's sentence from its counts over the kept genes and their token, chromosome, start."""
        import torch

        w = torch.log1p(torch.from_numpy(counts).unsqueeze(0))
        w = (w / torch.sum(w))[0].numpy()
        w = w / np.add.accumulate(w)[-1]  # a sequential float32 sum, as UCE's Python sum()
        out = [CLS]
        if not np.isfinite(w).all():  # no expressed gene: <cls> alone
            return np.array(out, dtype=np.int64)
        pick = self._rs.choice(np.arange(w.size), size=self.sample_size, p=w, replace=True)
        pick = pick[np.argsort(chrom[pick], kind="quicksort")]  # UCE's sorts, call for call
        picked_chrom = chrom[pick]
        picked_start = start[pick]
        order = np.unique(picked_chrom)
        self._rs.shuffle(order)
        for c in order:
            loc = np.where(picked_chrom == c)[0]
            out.append(int(c) + self.chrom_token_offset)
            out.extend(token[pick[loc[np.argsort(picked_start[loc], kind="quicksort")]]].tolist())
            out.append(CHROM_CLOSE)
        if len(out) > self.pad_length:
            msg = f"a cell sentence has {len(out)} tokens, more than pad_length={self.pad_length}."
            raise ValueError(msg)
        return np.array(out, dtype=np.int64)

    def model_tokens(self, token_ids: np.ndarray) -> np.ndarray:
        """A matched gene's row of the protein table (the match indexes the gene table)."""
        token_ids = np.asarray(token_ids)
        return np.where(token_ids >= 0, self.genes.token[np.maximum(token_ids, 0)], -1)

    def encode(self, X, gene_tok: np.ndarray, gene_scale=None, *, input_scale: str = "counts") -> Tokens:
        if input_scale == "log1p":
            msg = (
                "UCE samples genes by their raw counts (it stores them as integers); these data look "
                "log-normalised. Pass layer= naming a layer of counts (or use_raw=True), or input_scale='counts' "
                "if X does hold counts."
            )
            raise ValueError(msg)
        X = sparse.csr_matrix(X) if not sparse.isspmatrix_csr(X) else X
        kept = getattr(self, "_kept", None)
        if kept is not None and kept.size == X.shape[1]:
            n_genes = np.asarray((X[:, np.flatnonzero(kept)] > 0).sum(1)).ravel()
            few = int((n_genes < 25).sum())
            if few:
                warn(
                    f"{few} cells express fewer than 25 genes; UCE's own preprocessing drops such cells "
                    "(scmf embeds them all). Filter them first (sc.pp.filter_cells(adata, min_genes=25)) to "
                    "match UCE's output cell for cell."
                )
        cols = np.flatnonzero(gene_tok >= 0)
        pos = gene_tok[cols]
        g = self.genes
        token, chrom, start = g.token[pos], g.chrom[pos], g.start[pos]
        sub = X[:, cols].tocsr()
        sub.sum_duplicates()
        # UCE stores counts as int64 (truncating); one dense row at a time (its sums run over all genes)
        data = sub.data.astype(np.float32).astype(np.int64)
        sents = []
        for i in range(X.shape[0]):
            row = np.zeros(cols.size, dtype=np.int64)
            row[sub.indices[sub.indptr[i] : sub.indptr[i + 1]]] = data[sub.indptr[i] : sub.indptr[i + 1]]
            sents.append(self.sentence(row, token, chrom, start))
        lengths = np.array([s.size for s in sents], dtype=np.int64)
        ids = np.full((lengths.size, int(lengths.max()) if lengths.size else 1), PAD, dtype=np.int64)
        for i, s in enumerate(sents):
            ids[i, : s.size] = s
        return Tokens(ids, np.zeros(ids.shape, dtype=np.float32), lengths)


def _torch_modules():
    import torch
    from torch import nn

    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Linear(i, o), nn.LayerNorm(o), nn.GELU(), nn.Dropout(0.0))

    class PositionalEncoding(nn.Module):
        def __init__(self, d: int, max_len: int) -> None:
            super().__init__()
            self.register_buffer("pe", torch.zeros(max_len, 1, d))

    class UCEEncoder(nn.Module):
        """UCE's transformer: token table -> normalised -> projected, positions, encoder, decoder at <cls>."""

        def __init__(self, cfg: dict) -> None:
            super().__init__()
            d, out = cfg["d_model"], cfg["output_dim"]
            self.d_model = d
            self.pe_embedding = nn.Embedding(cfg["n_tokens"], cfg["token_dim"])
            self.pos_encoder = PositionalEncoding(d, cfg["max_len"])
            self.encoder = nn.Sequential(nn.Linear(cfg["token_dim"], d), nn.GELU(), nn.LayerNorm(d))
            layer = nn.TransformerEncoderLayer(d, cfg["nhead"], cfg["d_hid"], 0.0)
            self.transformer_encoder = nn.TransformerEncoder(
                layer, cfg["nlayers"], enable_nested_tensor=False
            )
            self.decoder = nn.Sequential(
                block(d, cfg["hidden"]), block(cfg["hidden"], out), block(out, out), nn.Linear(out, out)
            )

        def token_embeddings(self, token_ids):
            """A gene's input embedding: its protein embedding (UCE's token table, ESM-2)."""
            return self.pe_embedding(token_ids)

        def hidden(self, input_ids, values, attention_mask):
            x = self.pe_embedding(input_ids.t())  # (length, batch, token_dim)
            x = torch.nn.functional.normalize(x, dim=2)
            x = self.encoder(x) * math.sqrt(self.d_model)
            x = x + self.pos_encoder.pe[: x.size(0)]
            pad = 1 - attention_mask.to(x.dtype)  # additive, as UCE passes it
            return self.transformer_encoder(x, src_key_padding_mask=pad)

        def token_states(self, input_ids, values, attention_mask):
            """Each token's transformer output; the genes are told apart by their ids (chromosome and
            <cls> tokens are no data gene), so every attended position is returned."""
            return self.hidden(input_ids, values, attention_mask).transpose(0, 1), attention_mask.clone()

        def encode(self, input_ids, values, attention_mask):
            h = self.hidden(input_ids, values, attention_mask)
            return torch.nn.functional.normalize(self.decoder(h[0]), dim=1)

    return UCEEncoder


def load_uce(
    path: str | Path,
    *,
    species: str = "human",
    weights: str | None = None,
    nhead: int = 20,
    sample_size: int = 1024,
    pad_length: int = 1536,
    batch_size: int = 25,
    min_cells: int = 10,
    seed: int = 0,
    device: str | None = None,
):
    """Load a UCE model folder (weights ``*.torch``, ``species_chrom.csv``, ``species_offsets.pkl``,
    ``protein_embeddings/``).

    Parameters
    ----------
    path
        The folder (UCE's ``model_files``).
    species
        A species of ``species_offsets.pkl`` (``"human"``, ``"mouse"``, ...).
    weights
        The weights file name when the folder holds several (``4layer_model.torch``,
        ``33l_8ep_1024t_1280.torch``).
    nhead
        Attention heads (UCE's models: 20; not stored in the weights).
    sample_size, pad_length
        Genes drawn per cell and the longest sentence (UCE: 1024, 1536).
    batch_size
        Cells per UCE batch: a cell's embedding depends on its batch's padding (module docs).
    min_cells
        UCE's gene filter (``0`` turns it off).
    seed
        Seed of the gene sampling and chromosome order.

    Examples
    --------
    >>> import scmf
    >>> model = scmf.models.load("model_files/", species="human", weights="4layer_model.torch")  # doctest: +SKIP
    >>> scmf.tl.embed(adata, model, layer="counts")  # doctest: +SKIP
    """
    import torch

    from ._torch import TokenizedModel, load_strict

    path = Path(path)
    for f in (CHROM_CSV, OFFSETS):
        if not (path / f).is_file():
            msg = f"{path} is not a UCE model folder: {f} is missing."
            raise FileNotFoundError(msg)
    files = weight_files(path)
    if weights is not None:
        files = [path / weights]
        if not files[0].is_file():
            msg = f"weights={weights!r}: {files[0]} does not exist."
            raise FileNotFoundError(msg)
    if len(files) != 1:
        msg = (
            f"{path} holds {'no' if not files else len(files)} UCE weight files (*.torch besides {TOKENS})"
            + (f": {[f.name for f in files]}; pass weights= naming one." if files else ".")
        )
        raise ValueError(msg)
    try:
        state = torch_load(files[0])
    except Exception as e:
        msg = f"could not read the weights in {files[0]} (truncated download or not a torch state dict?): {e}"
        raise ValueError(msg) from None
    if not isinstance(state, dict) or "pe_embedding.weight" not in state or "encoder.0.weight" not in state:
        msg = f"{files[0]} is not a UCE TransformerModel state dict (pe_embedding.weight, encoder.0.weight)."
        raise ValueError(msg)
    table = state["pe_embedding.weight"]
    d_model, token_dim = (int(s) for s in state["encoder.0.weight"].shape)
    tok_file = path / TOKENS
    if tok_file.is_file():  # UCE uses the token file when its size differs from the weights' table
        all_pe = torch_load(tok_file)
        if all_pe.shape[0] + N_CHROM_TOKENS * (all_pe.shape[0] == 143574) != table.shape[0]:
            if all_pe.shape[0] == 143574:
                gen = torch.Generator().manual_seed(23)
                chrom = torch.normal(0.0, 1.0, size=(N_CHROM_TOKENS, token_dim), generator=gen)
                all_pe = torch.vstack((all_pe, chrom))
            table = all_pe
    nlayers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("transformer_encoder.layers."))
    cfg = {
        "n_tokens": int(table.shape[0]),
        "token_dim": token_dim,
        "d_model": d_model,
        "nhead": int(nhead),
        "d_hid": int(state["transformer_encoder.layers.0.linear1.weight"].shape[0]),
        "nlayers": nlayers,
        "hidden": int(state["decoder.0.0.weight"].shape[0]),
        "output_dim": int(state["decoder.3.weight"].shape[0]),
        "max_len": int(state["pos_encoder.pe"].shape[0]),
    }
    if d_model % cfg["nhead"]:
        msg = f"nhead={nhead} does not divide the model width {d_model}."
        raise ValueError(msg)
    module = load_strict(
        _torch_modules()(cfg), state, unused=HEADS, source=files[0], name="UCE", config="UCE's architecture",
        replace={"pe_embedding.weight": table}, device=device,
    )  # fmt: skip
    tok = UCETokenizer(
        read_gene_table(path, species),
        species=species,
        sample_size=int(sample_size),
        pad_length=min(int(pad_length), cfg["max_len"]),
        chrom_token_offset=int(table.shape[0]) - N_CHROM_TOKENS,
        min_cells=int(min_cells),
        seed=int(seed),
        batch_group=int(batch_size),
    )
    info = {
        "checkpoint": str(path),
        "format": "uce",
        "weights": files[0].name,
        "n_layers": nlayers,
        "pooling": "cls",
        "seed": int(seed),
    }
    return TokenizedModel(module, tok, name=f"uce:{files[0].stem}", info=info)
