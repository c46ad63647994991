"""``scmf.bm.cell_cycle_conservation``: scIB's cell-cycle conservation of an embedding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._expression import get_expression, log_normalised
from .._validate import get_labels, name_list
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark
from ._metrics import cell_cycle_conservation as _conserved
from ._metrics import pc_regression
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

METRICS = (
    Metric(
        "cell_cycle_conservation",
        "bio",
        description="1 - |PCR(embedding) - PCR(expression)| / PCR(expression) of the S and G2/M scores, per batch",
    ),
)
MIN_CELLS = 10


@benchmark("cell_cycle_conservation", METRICS, dtype=None)
def cell_cycle_conservation(
    adata: AnnData,
    s_genes: Sequence[str] | None = None,
    g2m_genes: Sequence[str] | None = None,
    *,
    score_keys: tuple[str, str] = ("S_score", "G2M_score"),
    batch_key: str | None = None,
    layer: str | None = None,
    gene_symbols: str | None = None,
    n_comps: int = 50,
    normalize: str = "auto",
) -> Prepared:
    """Cell-cycle conservation: does the embedding keep the cell cycle's share of the variance?

    scIB's definition (Luecken et al. 2022, ``scib.me.cell_cycle``): within each batch, the
    S and G2/M scores of every cell are computed from the expression (scanpy's
    ``tl.score_genes_cell_cycle`` with the given gene lists), and the variance they explain is
    measured by principal component regression (PCR: the R² of each principal component
    regressed on the two scores, weighted by the component's share of variance, over
    ``n_comps`` components) on the expression (``before``) and on the embedding
    (``after``). The score is ``max(0, 1 - |after - before| / before)``, averaged over
    batches: 1 when the embedding keeps the cell cycle's share, lower when it removes or
    exaggerates it. Only gene lists are needed, no annotation: a label-light bio metric.
    Equal to scib's function (tested).

    Parameters
    ----------
    adata
        Annotated data matrix with the expression in ``X`` (or ``layer``) and the
        embedding(s) in ``obsm``.
    s_genes
        S-phase marker genes (e.g. Tirosh et al. 2016's list, as in scanpy's tutorial and
        ``scib.preprocessing.get_cell_cycle_genes``). Genes not in the data are left out (a
        warning says how many). Without gene lists, the scores already in ``obs`` are used.
    g2m_genes
        G2/M-phase marker genes, likewise.
    score_keys
        ``obs`` columns of S and G2/M scores computed earlier (scanpy's names), used when no
        gene lists are given (scIB's ``recompute_cc=False``).
    batch_key
        Score within each batch and average (scIB's definition; default: one batch). Batches
        with fewer than 10 cells are left out with a warning.
    layer
        Expression layer (default ``X``).
    gene_symbols
        ``var`` column holding the gene symbols the lists name (default: ``var_names``).
    n_comps
        Principal components of the regression (scIB's 50; at most the smaller side of the
        matrix).
    normalize
        ``"auto"``: raw counts or unlogged values (TPM, FPKM) are normalised per cell to 10,000
        and log1p'd first (a copy), log-normalised data are used as they are; ``"log1p"``:
        always; ``"none"``: never. What was done is recorded in ``params["normalize"]``.

    Returns
    -------
    ``None`` when ``inplace``, else the tidy table. Stores ``cell_cycle_conservation`` and the
    metadata ``n_cells``, ``n_batches``, ``n_s_genes``, ``n_g2m_genes`` and
    ``variance_before`` (per batch: the cell cycle's share of the expression's variance).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> adata.obs[["S_score", "G2M_score"]].shape  # scores computed on the full data
    (700, 2)
    >>> scmf.tl.baselines(adata, n_comps=20)
    >>> scmf.bm.cell_cycle_conservation(adata, use_rep=["X_pca_baseline", "X_random_baseline"])
    >>> r = scmf.bm.results(adata).set_index("rep")["value"]
    >>> bool(r["X_pca_baseline"] > r["X_random_baseline"])
    True
    """
    import scanpy as sc
    from anndata import AnnData

    if gene_symbols is not None and gene_symbols not in adata.var.columns:
        msg = f"gene_symbols={gene_symbols!r} is not a column of adata.var (columns: {list(adata.var.columns)})."
        raise KeyError(msg)
    names = adata.var_names if gene_symbols is None else adata.var[gene_symbols].astype(str)
    known = set(map(str, names))
    lists: dict[str, list[str]] = {}
    if (s_genes is None) != (g2m_genes is None):
        msg = (
            "give both s_genes and g2m_genes, or neither (then the scores in adata.obs[score_keys] are used)."
        )
        raise ValueError(msg)
    stored = None
    if s_genes is None:
        missing = [k for k in score_keys if k not in adata.obs.columns]
        if missing:
            msg = (
                f"no gene lists were given and adata.obs lacks the scores {missing}; pass s_genes= and g2m_genes= "
                "(e.g. Tirosh et al.'s S and G2/M markers) or score_keys= naming stored S and G2/M score columns."
            )
            raise KeyError(msg)
        stored = adata.obs[list(score_keys)].to_numpy(dtype=float)
        if not np.isfinite(stored).all():
            msg = (
                f"adata.obs{list(score_keys)} has NaN or infinite scores; recompute them or pass gene lists."
            )
            raise ValueError(msg)
    for what, genes in (("s_genes", s_genes), ("g2m_genes", g2m_genes)):
        if genes is None:
            continue
        if isinstance(genes, str):
            msg = f"{what} must be a list of gene names, got the string {genes!r}."
            raise TypeError(msg)
        genes = list(dict.fromkeys(map(str, genes)))
        found = [g for g in genes if g in known]
        if not found:
            where = "var_names" if gene_symbols is None else f"var[{gene_symbols!r}]"
            msg = (
                f"none of the {len(genes)} {what} is in adata.{where} (e.g. {name_list(genes, 3)}; the data has "
                f"{name_list(list(names), 3)}); pass gene_symbols= naming the var column with gene symbols."
            )
            raise ValueError(msg)
        if len(found) < len(genes):
            warn(
                f"cell_cycle_conservation: {len(genes) - len(found)} of {len(genes)} {what} are not in the data; scoring with {len(found)}."
            )
        lists[what] = found

    X, scale, action = log_normalised(get_expression(adata, layer), normalize, "cell_cycle_conservation")
    if batch_key is None:
        groups = {"all cells": np.arange(adata.n_obs)}
    else:
        b = get_labels(adata, batch_key, param="batch_key", func="cell_cycle_conservation")
        groups = {str(c): np.flatnonzero(b.mask & (b.codes == i)) for i, c in enumerate(b.categories)}
    small = [k for k, rows in groups.items() if rows.size < MIN_CELLS]
    if small:
        warn(
            f"cell_cycle_conservation: batches {name_list(small)} have fewer than {MIN_CELLS} cells and are left out."
        )
    groups = {k: rows for k, rows in groups.items() if rows.size >= MIN_CELLS}
    if not groups:
        msg = f"cell_cycle_conservation needs a batch of at least {MIN_CELLS} cells."
        raise ValueError(msg)

    scored = {}
    for k, rows in groups.items():
        part = X[rows]
        if stored is not None:
            cov = stored[rows]
        else:
            cells = AnnData(part, var=pd.DataFrame(index=pd.Index(np.asarray(names, dtype=str))))
            cells.var_names_make_unique()
            sc.tl.score_genes_cell_cycle(cells, s_genes=lists["s_genes"], g2m_genes=lists["g2m_genes"])
            cov = cells.obs[["S_score", "G2M_score"]].to_numpy(dtype=float)
        before = pc_regression(part, cov, n_comps)
        if not before > 0:
            msg = f"cell_cycle_conservation: the S/G2M scores explain no variance of the expression{f' in batch {k!r}' if k else ''}; the metric is undefined."
            raise ValueError(msg)
        scored[k] = (rows, cov, before)

    def score(E: np.ndarray) -> Score:
        values = [
            _conserved(before, pc_regression(E[rows], cov, n_comps)) for rows, cov, before in scored.values()
        ]
        return Score({"cell_cycle_conservation": float(np.mean(values))})

    return Prepared(
        score,
        metadata={
            "n_cells": int(sum(r.size for r, _, _ in scored.values())),
            "n_batches": len(scored),
            "n_s_genes": len(lists.get("s_genes", [])),
            "n_g2m_genes": len(lists.get("g2m_genes", [])),
            "scores": "stored" if stored is not None else "computed",
            "variance_before": {k: float(v[2]) for k, v in scored.items()},
            "input_scale": scale,
        },
        params={"normalize": action, **lists},
    )
