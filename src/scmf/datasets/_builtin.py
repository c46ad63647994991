from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from anndata import AnnData


def data_dir() -> Path | None:
    """The folder named by ``SCMF_DATA_DIR`` (pre-fetched public datasets), or ``None``.

    Examples
    --------
    >>> import os, scmf
    >>> scmf.datasets.data_dir() == (None if not os.environ.get("SCMF_DATA_DIR") else scmf.datasets.data_dir())
    True
    """
    d = os.environ.get("SCMF_DATA_DIR")
    return Path(d) if d else None


def pbmc68k() -> AnnData:
    """scanpy's ``pbmc68k_reduced``: 700 PBMCs x 765 genes, labels in ``obs["bulk_labels"]``.

    ``X`` is scaled (centred) expression; ``raw`` holds the log-normalised values.
    Ships with scanpy, so it needs no download. Results are stored under the name
    ``"pbmc68k"`` by default (``uns["scmf"]["dataset_name"]``).

    Examples
    --------
    >>> import scmf
    >>> scmf.datasets.pbmc68k().obs["bulk_labels"].nunique()
    10
    """
    import scanpy as sc

    from .._uns import write_dataset_name

    adata = sc.datasets.pbmc68k_reduced()
    write_dataset_name(adata, "pbmc68k")
    return adata


def toy(
    n_cells: int = 1000,
    n_dims: int = 32,
    *,
    n_labels: int = 5,
    n_batches: int = 2,
    label_sep: float = 3.0,
    batch_shift: float = 0.5,
    n_genes: int = 0,
    seed: int = 0,
) -> AnnData:
    """A seeded synthetic AnnData with a known structure, for tests and benchmarks.

    Cells get a label and a batch; ``obsm["X_scmf"]`` is a Gaussian mixture with label
    centres ``label_sep`` apart (in scale) plus a per-batch shift of scale ``batch_shift``.
    With ``n_genes > 0``, ``X`` holds Poisson counts driven by the labels (CSR, float32).

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy(100, 4, n_labels=3, seed=0)
    >>> adata.obsm["X_scmf"].shape, adata.obs["cell_type"].nunique()
    ((100, 4), 3)
    """
    from anndata import AnnData
    from scipy import sparse

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_labels, n_cells)
    batches = rng.integers(0, n_batches, n_cells)
    centres = rng.standard_normal((n_labels, n_dims)) * label_sep
    shifts = rng.standard_normal((n_batches, n_dims)) * batch_shift
    emb = centres[labels] + shifts[batches] + rng.standard_normal((n_cells, n_dims))
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical([f"type_{i}" for i in labels]),
            "batch": pd.Categorical([f"batch_{i}" for i in batches]),
        },
        index=[f"cell_{i}" for i in range(n_cells)],
    )
    if n_genes > 0:
        rates = rng.gamma(0.3, 2.0, (n_labels, n_genes))
        X = sparse.csr_matrix(rng.poisson(rates[labels]).astype(np.float32))
    else:
        X = sparse.csr_matrix((n_cells, 1), dtype=np.float32)
    adata = AnnData(X=X, obs=obs)
    adata.obsm["X_scmf"] = emb.astype(np.float32)
    return adata


def toy_perturbation(
    n_perturbations: int = 20,
    *,
    cells_per_perturbation: int = 40,
    n_control: int = 200,
    n_genes: int = 100,
    n_programs: int = 4,
    target_genes: bool = False,
    seed: int = 0,
) -> AnnData:
    """A seeded synthetic perturbation screen (log-normalised-like values, ``X`` dense float32).

    Each perturbation shifts expression along a mix of ``n_programs`` shared gene programs,
    so effects are related across perturbations and a linear map from a good embedding to
    the expression shift exists. ``obs["perturbation"]`` holds ``"control"`` or ``"P<i>"``.

    With ``target_genes``, each perturbation activates one gene and is named after it
    (``"gene_<j>"``): the target rises by 2 and the genes sharing its programs follow (the
    effect is the target's program loadings times the programs), and every cell's programs
    vary from cell to cell, so genes of a program co-vary in the control cells too. An unseen
    perturbation is then predictable from its gene alone, as
    :func:`scmf.bm.perturbation_response` asks.

    Examples
    --------
    >>> import scmf
    >>> adata = scmf.datasets.toy_perturbation(n_perturbations=5, seed=0)
    >>> sorted(adata.obs["perturbation"].unique())[:3]
    ['P0', 'P1', 'P2']
    """
    from anndata import AnnData

    rng = np.random.default_rng(seed)
    if target_genes and n_perturbations > n_genes:
        msg = f"target_genes needs n_perturbations <= n_genes, got {n_perturbations} > {n_genes}."
        raise ValueError(msg)
    programs = rng.standard_normal((n_programs, n_genes))
    mix = rng.standard_normal((n_perturbations, n_programs))
    if target_genes:
        targets = rng.choice(n_genes, n_perturbations, replace=False)
        mix = programs[:, targets].T / np.sqrt(n_programs)
    effects = mix @ programs * 0.5
    if target_genes:
        effects[np.arange(n_perturbations), targets] += 2.0
    base = rng.gamma(2.0, 1.0, n_genes)
    labels = np.concatenate(
        [np.full(n_control, -1), np.repeat(np.arange(n_perturbations), cells_per_perturbation)]
    )
    shift = np.zeros((labels.size, n_genes))
    shift[labels >= 0] = effects[labels[labels >= 0]]
    if target_genes:  # programs active to a different degree in every cell
        shift += rng.standard_normal((labels.size, n_programs)) @ programs * 0.3
    X = np.abs(base + shift + rng.standard_normal((labels.size, n_genes)) * 0.5).astype(np.float32)
    if target_genes:
        names = np.where(
            labels < 0, "control", np.char.add("gene_", targets[np.maximum(labels, 0)].astype(str))
        )
    else:
        names = np.where(labels < 0, "control", np.char.add("P", labels.astype(str)))
    obs = pd.DataFrame(
        {"perturbation": pd.Categorical(names)}, index=[f"cell_{i}" for i in range(labels.size)]
    )
    return AnnData(X=X, obs=obs, var=pd.DataFrame(index=[f"gene_{i}" for i in range(n_genes)]))
