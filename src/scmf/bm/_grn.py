from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .._expression import expression_source, in_memory, row_blocks, with_raw
from .._validate import name_list
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark, check_bootstrap
from ._metrics._ranking import WeightedRanking
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")

Negatives = Literal["auto", "all", "sampled", "network"]
_SOURCES = ("gene1", "tf", "source", "regulator")
_TARGETS = ("gene2", "target")
_ENSEMBL = re.compile(r"^ENS[A-Z]*G\d{6,}")
METRICS = (
    Metric("auroc", "regulation", description="chance that an edge scores above a non-edge (0.5 = chance)"),
    Metric(
        "auprc",
        "regulation",
        description="average precision of the edges (chance = positive rate)",
        aggregated=False,  # its scale is the positive rate (~0.001), not the AUROC's: never averaged with it
    ),
    Metric(
        "auprc_ratio",
        "regulation",
        True,
        None,
        "auprc / positive rate (compare with a random embedding, not 1)",
    ),
    Metric(
        "epr",
        "regulation",
        True,
        None,
        "precision among the top-scored pairs / positive rate (compare with a random embedding)",
    ),
)


def read_network(
    network: str | Path | pd.DataFrame,
    *,
    source_col: str | None = None,
    target_col: str | None = None,
    weight_col: str | None = None,
    confidence_col: str = "confidence",
    confidence: Sequence[str] | None = ("A", "B", "C"),
) -> pd.DataFrame:
    """A network as ``source, target, positive`` (bool) rows.

    Formats: the evaluation guide's TSV (``gene1, gene2, weight``; ``weight > 0`` is a
    regulatory edge, ``weight <= 0`` a known non-edge) and TF-target tables such as DoRothEA
    (``tf, target[, confidence, mor]``: every listed pair is an edge, ``mor`` is its sign;
    rows whose ``confidence`` is not in ``confidence`` are dropped). Column names are
    detected in any case or set with ``source_col``, ``target_col``, ``weight_col``. Genes
    are matched as the tokenizers match them: Ensembl ids without their version suffix
    (``ENSG00000141510.17`` = ``ENSG00000141510``), symbols as written.
    """
    if isinstance(network, pd.DataFrame):
        df = network
        where = "the network DataFrame"
    else:
        path = Path(network)
        if not path.is_file():
            msg = f"network file {str(path)!r} does not exist."
            raise FileNotFoundError(msg)
        sep = "," if path.name.endswith((".csv", ".csv.gz")) else "\t"
        try:
            df = pd.read_csv(path, sep=sep)
        except (EOFError, OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
            msg = (
                f"could not read the network {str(path)!r} (truncated or not a {sep!r}-separated table): {e}"
            )
            raise ValueError(msg) from e
        where = str(path)
    cols = list(df.columns)
    lower = {str(c).lower(): c for c in cols}  # TRRUST's TF/Target, GENE1/GENE2, ...
    src = source_col or next((lower[c] for c in _SOURCES if c in lower), None)
    tgt = target_col or next((lower[c] for c in _TARGETS if c in lower), None)
    if src not in cols or tgt not in cols:
        if source_col is None and target_col is None and _looks_like_an_edge(cols):
            msg = (
                f"{where}: the file seems to have no header line: its first edge ({', '.join(map(str, cols))}) was "
                "read as the column names. Add a header line (gene1<TAB>gene2<TAB>weight, or tf<TAB>target) or "
                "pass a DataFrame read with header=None and source_col=/target_col=."
            )
        else:
            msg = (
                f"{where}: cannot tell the source and target columns among {_shown(cols)}; expected gene1/gene2 (with "
                "weight) or tf/target (any case), or pass source_col= and target_col=."
            )
        raise ValueError(msg)
    if weight_col is None and str(src).lower() == "gene1" and "weight" in lower:
        weight_col = lower["weight"]
    if weight_col is not None and weight_col not in cols:
        msg = f"{where}: weight_col={weight_col!r} is not a column ({cols})."
        raise ValueError(msg)
    conf = confidence_col if confidence_col in cols else lower.get(str(confidence_col).lower())
    if confidence is not None and conf is not None:
        df = df[df[conf].astype(str).isin([str(c) for c in confidence])]
    if df.empty:
        msg = (
            f"{where}: the network has no rows"
            + (f" with confidence in {list(confidence)}" if confidence and conf else "")
            + "."
        )
        raise ValueError(msg)
    if weight_col is not None:
        w = pd.to_numeric(df[weight_col], errors="coerce")
        bad = w.isna() & df[weight_col].notna()
        if bad.any():
            examples = ", ".join(repr(v) for v in pd.unique(df.loc[bad, weight_col].astype(str))[:3])
            hint = (
                " (decimal commas? write 0.5, not 0,5)"
                if df.loc[bad, weight_col].astype(str).str.contains(",").any()
                else ""
            )
            msg = (
                f"{where}: {int(bad.sum())} weights in column {weight_col!r} are not numbers ({examples}){hint}; weights "
                "are > 0 for a regulatory edge and <= 0 for a known non-edge."
            )
            raise ValueError(msg)
        positive = w.to_numpy() > 0
    else:
        positive = np.ones(len(df), dtype=bool)
    codes, names = pd.factorize(
        np.concatenate([df[src].astype(str).to_numpy(), df[tgt].astype(str).to_numpy()]), sort=True
    )
    ids = _gene_ids(names)  # each distinct name once
    uniq_ids, id_codes = np.unique(ids, return_inverse=True)  # versions stripped: names may merge
    codes = id_codes.ravel()[codes]
    s_c, t_c = codes[: len(df)], codes[len(df) :]
    keep = s_c != t_c
    if not keep.any():
        msg = f"{where}: every row is a self-loop (a gene regulating itself), which cannot be scored; no edges left."
        raise ValueError(msg)
    s_c, t_c, positive = s_c[keep], t_c[keep], positive[keep]
    # one row per pair, sorted by (source, target); a pair listed as edge and non-edge is an edge
    key = s_c.astype(np.int64) * uniq_ids.size + t_c
    order = np.lexsort((~positive, key))
    key, positive = key[order], positive[order]
    first = np.r_[True, key[1:] != key[:-1]]
    key, positive = key[first], positive[first]
    out = pd.DataFrame(
        {
            "source": uniq_ids[key // uniq_ids.size],
            "target": uniq_ids[key % uniq_ids.size],
            "positive": positive,
        }
    )
    if out.empty:
        msg = f"{where}: no edges left (after the confidence filter {confidence} and dropping self-loops)."
        raise ValueError(msg)
    return out


def _shown(cols: list) -> str:
    """Column names as a message may show them: only names that look like identifiers (a file that
    is not a network, e.g. a system file, never has its first line echoed into errors or results)."""
    ok = re.compile(r"^[A-Za-z0-9_. \-]{1,40}$")
    if all(ok.match(str(c)) for c in cols):
        return str([str(c) for c in cols])
    return f"its {len(cols)} header field(s) (not shown: they do not look like column names)"


def _looks_like_an_edge(cols: list) -> bool:
    """Whether column names look like data: two gene-like names, then numbers or nothing."""
    if len(cols) < 2 or len(cols) > 4:
        return False
    gene = re.compile(r"^[A-Za-z][A-Za-z0-9._\-]*$")
    names = [str(c) for c in cols]
    if not (gene.match(names[0]) and gene.match(names[1])):
        return False
    if any(n.lower() in (*_SOURCES, *_TARGETS, "weight", "confidence", "mor") for n in names):
        return False
    rest = [n.split(".")[0] if n.count(".") > 1 else n for n in names[2:]]  # pandas dedups as "0.85.1"
    try:
        [float(n) for n in rest]
    except ValueError:
        return any(n.isupper() for n in names[:2]) and not rest
    return True


def _gene_ids(names) -> np.ndarray:
    """Gene names as the tokenizers match them: Ensembl ids without version suffixes."""
    from ..models import gene_ids

    return gene_ids(names)


@benchmark("grn_inference", METRICS, dtype=None)  # float32 embeddings read as they are (float64 sums)
def grn_inference(
    adata: AnnData,
    network: str | Path | pd.DataFrame | None = None,
    *,
    network_path: str | Path | None = None,
    min_cells: int = 10,
    layer: str | None = None,
    use_raw: bool = False,
    gene_key: str | None = None,
    center: bool = True,
    negatives: Negatives = "auto",
    n_negatives: int = 10,
    source_col: str | None = None,
    target_col: str | None = None,
    weight_col: str | None = None,
    confidence_col: str = "confidence",
    confidence: Sequence[str] | None = ("A", "B", "C"),
    seed: int = 42,
    n_bootstrap: int = 100,
) -> Prepared:
    """Gene regulatory network recovery: are regulator-target pairs close in the embedding?

    Each gene is represented by the mean embedding of the cells expressing it (``X > 0``;
    genes expressed in fewer than ``min_cells`` cells are left out), optionally centred (the
    mean over genes subtracted: uncentred means of one dataset are all alike and their
    cosines all near 1). A pair of genes is scored by the cosine similarity of their
    representations and the network's edges are ranked against non-edges.

    Parameters
    ----------
    adata
        Annotated data matrix: expression in ``X`` (or ``layer``), embedding(s) in ``obsm``.
        A backed file (``read_h5ad(..., backed="r")``) or a Dask array is read in blocks of
        rows (about 256 MB each), never whole: a million cells x 20,000 genes need little
        more memory than their embedding.
    network
        A path or DataFrame (see :func:`read_network` for the formats).
    network_path
        Alias of ``network`` (the evaluation guide's name).
    min_cells
        Least number of expressing cells for a gene to be evaluated.
    layer
        Expression layer that says which cells express a gene (``None``: ``X``).
    use_raw
        Read the expression and gene names of ``adata.raw`` (scanpy's meaning).
    gene_key
        ``var`` column with the gene names used by the network (default ``var_names``).
    center
        Centre the gene representations before the cosine (default; ``False`` is the
        evaluation guide's plain definition).
    negatives
        What the edges are ranked against. ``"all"``: every (regulator, gene) pair among the
        evaluated genes that is not an edge, with each regulator of the network as source.
        ``"sampled"``: ``n_negatives`` such non-edges per edge, drawn with ``seed``.
        ``"network"``: only the pairs the network lists (its ``weight <= 0`` rows are the
        negatives). ``"auto"``: ``"network"`` when it lists non-edges, else ``"all"``.
    n_negatives
        Non-edges per edge for ``negatives="sampled"``.
    source_col, target_col, weight_col, confidence_col, confidence
        How to read the network (see :func:`read_network`); ``confidence=None`` keeps all rows.
    seed
        Seed of the sampled negatives and of the bootstrap.
    n_bootstrap
        Resamples of the scored pairs (with replacement) for confidence intervals and
        :func:`scmf.bm.compare`; the same resamples for every representation (paired).
        ``0``: none.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Stores under
    ``adata.uns["scmf_bench"]["grn_inference"][dataset_name][rep]``:

    ``metrics``
        ``auroc``; ``auprc`` (average precision); ``auprc_ratio`` = auprc / positive rate;
        ``epr``, the early precision ratio: precision among the top-``k`` scored pairs
        (``k`` = number of edges) divided by the positive rate. A random embedding scores
        above 0.5 / 1 on these (genes expressed in similar cells get similar
        representations): compare with one run beside the model.
    ``metadata``
        ``n_genes_evaluated``, ``n_pairs_scored`` (gene pairs scored: network edges and non-edges), ``n_positive``,
        ``positive_rate``, ``n_regulators``, ``n_network_edges``, ``n_network_genes``,
        ``n_genes_shared``, ``negatives``.
    ``artifacts``
        ``roc`` (``fpr``, ``tpr``) and ``pr`` (``recall``, ``precision``) curves thinned to at
        most ~500 points, and ``chance`` (the positive rate).

    Examples
    --------
    >>> import numpy as np, pandas as pd, scmf
    >>> adata = scmf.datasets.toy(500, 8, n_genes=60, seed=0)
    >>> net = pd.DataFrame({"tf": ["gene_0", "gene_0", "gene_1"], "target": ["gene_5", "gene_9", "gene_7"]})
    >>> adata.var_names = [f"gene_{i}" for i in range(adata.n_vars)]
    >>> scmf.bm.grn_inference(adata, net, min_cells=5)
    >>> sorted(scmf.bm.results(adata)["metric"])
    ['auprc', 'auprc_ratio', 'auroc', 'epr']
    """
    if network is not None and network_path is not None:
        msg = "give network or its alias network_path, not both."
        raise ValueError(msg)
    network = network if network is not None else network_path
    if network is None:
        msg = "grn_inference needs a network: a path (network= or network_path=) or a DataFrame."
        raise TypeError(msg)
    if negatives not in ("auto", "all", "sampled", "network"):
        msg = f"negatives must be 'auto', 'all', 'sampled' or 'network', got {negatives!r}."
        raise ValueError(msg)
    n_bootstrap = check_bootstrap(n_bootstrap)
    net = read_network(
        network,
        source_col=source_col,
        target_col=target_col,
        weight_col=weight_col,
        confidence_col=confidence_col,
        confidence=confidence,
    )

    src, src_layer = with_raw(adata, layer, use_raw)
    if gene_key is not None and gene_key not in src.var.columns:
        msg = f"gene_key={gene_key!r} is not a column of adata.var (columns: {list(src.var.columns)})."
        raise KeyError(msg)
    genes = pd.Index(_gene_ids(src.var[gene_key] if gene_key else src.var_names))
    X = expression_source(src, src_layer)  # a backed file or Dask array is read block by block

    # which genes can be evaluated: expressed in >= min_cells cells
    counts = _expressing_counts(X)
    expressed = counts >= min_cells
    net_genes = pd.Index(pd.unique(np.concatenate([net["source"].to_numpy(), net["target"].to_numpy()])))
    pos_of = pd.Series(np.arange(genes.size), index=genes)
    dup = pos_of.index.duplicated()
    used = pd.unique(pos_of.index[dup & pos_of.index.isin(net_genes)])  # only names the network reads matter
    if used.size:
        warn(
            f"grn_inference: {used.size} gene names of the network occur more than once in the data "
            f"({name_list(used, 5)}); the first column of each is used. Make them unique "
            "(adata.var_names_make_unique()) to choose."
        )
    pos_of = pos_of[~dup]
    s_idx = pos_of.reindex(net["source"]).to_numpy()
    t_idx = pos_of.reindex(net["target"]).to_numpy()
    ok = ~np.isnan(s_idx) & ~np.isnan(t_idx)
    s_idx, t_idx = s_idx[ok].astype(np.int64), t_idx[ok].astype(np.int64)
    ok2 = expressed[s_idx] & expressed[t_idx]
    edges = pd.DataFrame({"s": s_idx[ok2], "t": t_idx[ok2], "positive": net["positive"].to_numpy()[ok][ok2]})
    n_shared = int(net_genes.isin(genes).sum())
    if not edges["positive"].any():
        raise ValueError(_no_edges_message(net, net_genes, genes, n_shared, expressed, pos_of, min_cells))
    has_listed_negatives = bool((~edges["positive"]).any())
    mode = ("network" if has_listed_negatives else "all") if negatives == "auto" else negatives
    if mode == "network" and not has_listed_negatives:
        msg = "negatives='network' but the network lists no non-edges (weight <= 0) among the evaluated genes; use 'all' or 'sampled'."
        raise ValueError(msg)
    evaluated = np.flatnonzero(expressed)
    pos_edges = edges[edges["positive"]]
    regulators = np.unique(pos_edges["s"].to_numpy())
    rng = np.random.default_rng(seed)
    if mode == "sampled":
        pairs = _sampled_pairs(pos_edges, evaluated, n_negatives, rng)
    elif mode == "network":
        pairs = edges[["s", "t", "positive"]].to_numpy()
    else:
        pairs = None  # all (regulator, gene) pairs, scored block by block below
    targets_of = _targets_of(pos_edges) if pairs is None else None

    def score(E: np.ndarray) -> Score:
        return _score(
            X,
            E,
            counts,
            evaluated,
            regulators,
            targets_of,
            pairs,
            center=center,
            seed=seed,
            n_bootstrap=n_bootstrap,
        )

    return Prepared(
        score,
        metadata={
            "n_genes_evaluated": int(evaluated.size),
            "n_regulators": int(regulators.size),
            "n_network_edges": len(net),
            "n_network_genes": int(net_genes.size),
            "n_genes_shared": n_shared,
            "negatives": mode,
        },
        params={
            "network": str(network) if isinstance(network, str | Path) else "<DataFrame>",
            "network_path": None,
            "confidence": list(confidence) if confidence is not None else None,
        },
    )


def _score(X, E, counts, evaluated, regulators, targets_of, pairs, *, center, seed, n_bootstrap) -> Score:
    from .._kernels import block_cosine, cell_block_rows, edge_cosine, expressing_sums, unit_rows

    E = np.asarray(E)
    if not in_memory(X):  # one block of rows at a time
        X = row_blocks(X, multiple=cell_block_rows(E))
    S, _ = expressing_sums(X, E, counts=counts)
    R = np.zeros_like(S)
    R[evaluated] = S[evaluated] / counts[evaluated, None]
    if center:
        R[evaluated] -= R[evaluated].mean(axis=0)
    U = unit_rows(R)
    if pairs is not None:
        y = pairs[:, 2].astype(bool)
        score = edge_cosine(U, pairs[:, 0], pairs[:, 1])
    else:
        ys, scores = [], []
        for rows, block in block_cosine(U, regulators):
            sub = block[:, evaluated]
            lab = np.zeros(sub.shape, dtype=bool)
            for r_i, r in enumerate(rows):
                lab[r_i, np.searchsorted(evaluated, targets_of[int(r)])] = True
            keep = evaluated[None, :] != rows[:, None]  # no self pairs
            ys.append(lab[keep])
            scores.append(sub[keep])
        y, score = np.concatenate(ys), np.concatenate(scores)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        msg = f"grn_inference: the scored pairs are all {'non-' if n_pos == 0 else ''}edges; nothing to rank."
        raise ValueError(msg)
    rate = n_pos / y.size
    ranking = WeightedRanking(y, score)  # one sort: metrics (= scikit-learn's), curves, bootstrap
    metrics = ranking()
    replicates = ranking.bootstrap(n_bootstrap, seed) if n_bootstrap else {}
    curves = ranking.curves()
    fpr, tpr = curves["roc"]["fpr"], curves["roc"]["tpr"]
    prec, rec = curves["pr"]["precision"], curves["pr"]["recall"]
    return Score(
        metrics=metrics,
        replicates=replicates,
        replicate_kind="bootstrap",
        metadata={"n_pairs_scored": int(y.size), "n_positive": n_pos, "positive_rate": float(rate)},
        artifacts={
            "roc": {"fpr": _thin(fpr), "tpr": _thin(tpr)},
            "pr": {"recall": _thin(rec), "precision": _thin(prec)},
            "chance": float(rate),
        },
    )


def _expressing_counts(X) -> np.ndarray:
    """Cells with a positive value, per gene (without a boolean copy of a CSR matrix; a backed
    file or Dask array one block of rows at a time)."""
    from scipy import sparse

    from .._kernels import expressing_counts

    if not in_memory(X):
        return expressing_counts(row_blocks(X))
    if sparse.issparse(X) and X.format == "csr":
        return expressing_counts(X)
    return np.asarray((X > 0).sum(axis=0)).ravel()


def _targets_of(pos_edges: pd.DataFrame) -> dict[int, np.ndarray]:
    """Regulator -> its targets (sorted by regulator once, no per-group pandas objects)."""
    s, t = pos_edges["s"].to_numpy(), pos_edges["t"].to_numpy()
    order = np.argsort(s, kind="stable")
    s, t = s[order], t[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return {int(s[a]): t[a:b] for a, b in zip(starts, np.r_[starts[1:], s.size], strict=True)}


def _thin(a: np.ndarray, n: int = 500) -> np.ndarray:
    if a.size <= n:
        return np.asarray(a, dtype=float)
    idx = np.unique(np.linspace(0, a.size - 1, n).round().astype(int))
    return np.asarray(a[idx], dtype=float)


def _sampled_pairs(pos_edges: pd.DataFrame, evaluated: np.ndarray, n_neg: int, rng) -> np.ndarray:
    rows = [np.column_stack([pos_edges["s"], pos_edges["t"], np.ones(len(pos_edges), dtype=np.int64)])]
    for s, grp in pos_edges.groupby("s"):
        excluded = set(grp["t"].tolist()) | {s}
        pool = np.array([g for g in evaluated if g not in excluded])
        k = min(pool.size, n_neg * len(grp))
        if k:
            t = rng.choice(pool, size=k, replace=False)
            rows.append(np.column_stack([np.full(k, s), t, np.zeros(k, dtype=np.int64)]))
    return np.concatenate(rows).astype(np.int64)


def _no_edges_message(net, net_genes, genes, n_shared, expressed, pos_of, min_cells) -> str:
    ex_net = list(net_genes[:3])
    ex_data = list(genes[:3])
    hint = ""
    net_ens = np.mean([bool(_ENSEMBL.match(g)) for g in net_genes[:500]]) > 0.5
    data_ens = np.mean([bool(_ENSEMBL.match(g)) for g in genes[:500]]) > 0.5
    if net_ens != data_ens:
        hint = (
            f" The network uses {'Ensembl ids' if net_ens else 'symbols'} and the data "
            f"{'Ensembl ids' if data_ens else 'symbols'}: pass gene_key= naming a var column of the same kind."
        )
    elif n_shared:
        shared = pos_of.reindex(net_genes).dropna().astype(int).to_numpy()
        hint = (
            f" {int(expressed[shared].sum())} of the shared genes are expressed in >= min_cells={min_cells} cells;"
            " lower min_cells or check the network's confidence filter."
        )
    return (
        f"no network edge can be evaluated: the network has {net_genes.size} genes (e.g. {ex_net}), the data "
        f"{genes.size} (e.g. {ex_data}), {n_shared} in common.{hint}"
    )
