"""Trajectory conservation (scIB's definition): does a diffusion pseudotime on the embedding's
kNN graph order the cells as a reference pseudotime does?"""

from __future__ import annotations

import numpy as np
import pandas as pd


def trajectory_conservation(
    X: np.ndarray,
    labels: np.ndarray,
    pseudotime: np.ndarray,
    *,
    batches: np.ndarray | None = None,
    n_neighbors: int = 15,
    root_dims: int = 3,
) -> float:
    """``(spearman(reference pseudotime, DPT on the embedding) + 1) / 2``, scIB's score.

    The embedding's kNN graph (scanpy's ``pp.neighbors``, ``n_neighbors``) is built on all cells
    and restricted to those with a reference pseudotime (NaN: left out). On it, the root is a cell of the label whose mean
    reference pseudotime is lowest, chosen within the graph's largest connected component by
    a vote over the first ``root_dims`` diffusion components (the most extreme such cell on
    each, towards the side its label lies on); scanpy's ``tl.dpt`` from that root gives the
    embedding's pseudotime (cells outside the component, and values above 1, count as 0).
    With ``batches`` the correlation is computed per batch and averaged. Returns 0 when the
    root label has no cell in the largest component (as scIB does).
    """
    import scanpy as sc
    from anndata import AnnData
    from scipy.sparse.csgraph import connected_components

    pseudotime = np.asarray(pseudotime, dtype=float)
    keep = np.isfinite(pseudotime)
    every = AnnData(
        obs=pd.DataFrame(index=pd.Index([str(i) for i in range(len(pseudotime))])),
        obsm={"rep": np.asarray(X)},
    )
    sc.pp.neighbors(every, n_neighbors=int(n_neighbors), use_rep="rep")  # the graph of all cells
    emb = every[keep].copy()  # ... restricted to the cells with a reference pseudotime
    obs = emb.obs
    obs["label"] = np.asarray(labels)[keep]
    obs["pt"] = pseudotime[keep]
    if batches is not None:
        obs["batch"] = np.asarray(batches)[keep]
    _, piece = connected_components(emb.obsp["connectivities"], directed=False, return_labels=True)
    largest = piece == np.bincount(piece).argmax()
    start = obs.groupby("label", observed=True)["pt"].mean().idxmin()
    candidates = np.flatnonzero((obs["label"].to_numpy() == start)[largest])  # positions within the component
    if candidates.size == 0:
        return 0.0
    sub = emb[largest].copy()
    sc.tl.diffmap(sub)
    votes = np.zeros(candidates.size)
    for dim in range(int(root_dims)):
        comp = sub.obsm["X_diffmap"][:, dim]
        pick = np.argmin if comp[candidates].mean() < comp.mean() else np.argmax
        votes[pick(comp[candidates])] += 1
    sub.uns["iroot"] = int(candidates[np.argmax(votes)])
    sc.tl.dpt(sub)
    after = pd.Series(0.0, index=obs.index)
    dpt = sub.obs["dpt_pseudotime"].to_numpy(dtype=float)
    after[sub.obs_names] = np.where(dpt > 1, 0.0, dpt)
    if batches is None:
        corr = obs["pt"].corr(after, method="spearman")
    else:
        corr = np.mean([obs["pt"][obs["batch"] == b].corr(after[obs["batch"] == b], method="spearman")
                        for b in pd.unique(obs["batch"])])  # fmt: skip
    return float((corr + 1.0) / 2.0)
