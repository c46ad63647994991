"""Does a cell's embedding depend on what it should not? A model re-embeds the same cells under controlled changes.

Every model (checkpoints, model objects, baselines) embeds one seeded sample of cells as the
reference, then again under each change: other batch-mates, fewer counts, the genes in another
order, another batch size, another seed. Per change, each cell's embedding is compared with its
reference (cosine) and each cell's neighbourhood with its reference neighbourhood (Jaccard of
the k nearest neighbours). The draws are the same for every model, so models are compared
cell for cell (:func:`scmf.bm.compare`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import sparse

from .._expression import expression_source, is_dask
from .._validate import get_labels, name_list
from .._warnings import warn
from ._benchmark import Prepared, Score, benchmark
from ._registry import Metric

if TYPE_CHECKING:
    from anndata import AnnData

CHECKS = ("context", "depth", "gene_order", "batch_size", "seed")
DEPTH_FRACTIONS = (0.5, 0.25)
STATS = ("cosine_mean", "cosine_p5", "knn_jaccard")
MEASURES = (
    "behaviour: whether a cell's embedding stays the same when what should not matter changes (its batch-mates, "
    "its counts' depth, the gene order, the batch size, the seed); it re-embeds cells with the model itself"
)
_WHAT = {
    "context_other": "among a random other set of cells instead of the sample alone",
    "context_own_type": "among only the cells of its own type",
    "context_alone": "alone (each of a few cells embedded by itself)",
    "gene_order": "with the genes (columns) permuted",
    "batch_size1": "in batches of one cell",
    "batch_size_max": "in one batch of every sampled cell",
    "seed": "with another seed",
}
_STAT_WHAT = {
    "cosine_mean": "mean over cells of the cosine to the cell's reference embedding",
    "cosine_p5": "5th percentile over cells of that cosine",
    "knn_jaccard": "mean Jaccard overlap of each cell's nearest neighbours with its reference ones",
}


def variants(checks: Sequence[str] = CHECKS, depth_fractions: Sequence[float] = DEPTH_FRACTIONS) -> list[str]:
    """The compared embeddings of ``checks``, by name (``depth0.5`` for each fraction)."""
    out = []
    for c in checks:
        if c == "context":
            out += ["context_other", "context_own_type", "context_alone"]
        elif c == "depth":
            out += [f"depth{f:g}" for f in depth_fractions]
        elif c == "batch_size":
            out += ["batch_size1", "batch_size_max"]
        else:
            out.append(c)
    return out


def _declare() -> list[Metric]:
    out = []
    for v in variants():
        what = _WHAT.get(v) or f"with counts thinned to {v[5:]} of each cell's"
        for s in STATS:
            out.append(Metric(f"{v}_{s}", "invariance", True, (-1.0, 1.0) if "cosine" in s else (0.0, 1.0),
                              f"{_STAT_WHAT[s]}, embedded {what}"))  # fmt: skip
    for f in DEPTH_FRACTIONS:
        out.append(Metric(f"depth{f:g}_probe_drop", "invariance", False, None,
                          f"linear-probe accuracy lost when the counts are thinned to {f:g} (reference minus thinned)",
                          aggregated=False))  # fmt: skip
    return out


def _models(model: Any) -> dict[str, Any]:
    """``model`` (one, a list, or ``{name: model}``) as ``{name: model}``, named as ``tl.embed`` records them."""
    from ..models import model_name

    if model is None:
        msg = "invariance re-embeds cells: pass model= (a checkpoint folder, 'pca', a model object, or several)."
        raise ValueError(msg)
    if isinstance(model, Mapping):
        items = [(str(k), v) for k, v in model.items()]
    else:
        many = isinstance(model, list | tuple)
        items = []
        for m in model if many else [model]:
            name = (
                Path(m).name
                if isinstance(m, Path) or (isinstance(m, str) and Path(m).is_dir())
                else model_name(m)
            )
            items.append((name, m))
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        msg = f"invariance: two models share a name ({names}); pass {{name: model}}."
        raise ValueError(msg)
    return dict(items)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            (na > 0) & (nb > 0), (a * b).sum(1) / (na * nb), np.where((na == 0) & (nb == 0), 1.0, 0.0)
        )


def _knn(E: np.ndarray, k: int) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=k + 1).fit(E).kneighbors(E, return_distance=False)
    return np.sort(idx[:, 1:], axis=1)


def _jaccard(a: np.ndarray, b: np.ndarray, k: int, na: np.ndarray | None = None) -> float:
    """Mean Jaccard overlap of each row's ``k`` nearest neighbours in ``a`` and in ``b`` (``na``: ``a``'s, known)."""
    if a.shape[0] < k + 2:
        return float("nan")
    na = _knn(a, k) if na is None else na
    nb = _knn(b, k)
    inter = np.array([np.intersect1d(x, y, assume_unique=True).size for x, y in zip(na, nb, strict=True)])
    return float(np.mean(inter / (2 * k - inter)))


@benchmark("invariance", _declare(), measures=MEASURES)
def invariance(
    adata: AnnData,
    model: Any = None,
    *,
    use_rep: str | Sequence[str] | None = None,
    cell_type_key: str | None = None,
    checks: str | Sequence[str] = CHECKS,
    n_cells: int = 2000,
    depth_fractions: Sequence[float] = DEPTH_FRACTIONS,
    n_neighbors: int = 15,
    n_alone: int = 32,
    layer: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    input_scale: str = "auto",
    n_comps: int = 50,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> Prepared:
    """Invariance: does a model embed the same cell the same way when what should not matter changes?

    A seeded sample of cells (``n_cells``, at most half the data) is embedded by each model as
    the reference: the sample alone, in the data's order, in batches of ``batch_size``. Then
    again, per check:

    ``context``
        ``context_other``: the sample mixed with as many other cells of the data, in a random
        order; ``context_own_type``: each cell type of the sample alone (``cell_type_key``);
        ``context_alone``: ``n_alone`` cells each embedded by itself.
    ``depth``
        Each cell's counts binomially thinned to each of ``depth_fractions`` (needs counts in
        ``X`` or ``layer``; the model's recipe then runs as usual). With ``cell_type_key``,
        also ``depth{f}_probe_drop``: a logistic-regression probe's accuracy on the reference
        minus that on the thinned embedding (the same stratified split).
    ``gene_order``
        The genes (columns) in a random order.
    ``batch_size``
        ``batch_size1``: batches of one cell; ``batch_size_max``: one batch of the whole sample.
    ``seed``
        Another seed (a recipe that samples genes, scGPT's ``max_length``, UCE's, a model's own
        randomness); a model object keeps the seed it was loaded with, so this needs a
        checkpoint folder or a baseline.

    Metrics per compared embedding ``v``: ``{v}_cosine_mean`` and ``{v}_cosine_p5`` (mean and
    5th percentile over cells of the cosine between a cell's embedding and its reference; 1:
    unchanged), ``{v}_knn_jaccard`` (the mean Jaccard overlap of each cell's ``n_neighbors``
    nearest neighbours with its reference ones). Each cell's cosine is in
    ``artifacts["cosine"]`` and is the replicate of ``{v}_cosine_mean``: every model sees the same
    cells, thinnings and permutations, so :func:`scmf.bm.compare` pairs them cell for cell. A
    change that cannot be made for a model (a baseline fitted on too few cells, a model object's
    seed) is left out and named in ``metadata["skipped"]``.

    Baselines are refitted where the change asks for it (PCA on the cells it is given), which is
    what makes a cell's PCA coordinates depend on its batch-mates. Each model is embedded about
    ten times (and ``n_alone`` times more for ``context_alone``): keep ``n_cells`` small for
    models that run in their own environment, where each embedding starts a process.

    Parameters
    ----------
    adata
        Cells x genes; the expression in ``X`` (or ``layer``). Never modified: the embeddings
        are made on private copies and not written to ``obsm``.
    model
        What :func:`scmf.tl.embed` takes (a checkpoint folder, ``"pca"``, ``"random"``, a model
        object), several as a list, or ``{name: model}``. Each is one row of results.
    use_rep
        Not used: the benchmark must re-embed (an error when given).
    cell_type_key
        ``obs`` column of cell types: ``context_own_type`` and the depth probe need it.
    checks
        Which checks to run (default all).
    n_cells
        Cells sampled (at most half the data, so that ``context_other`` has as many others).
    depth_fractions
        Fractions of the counts kept by the depth check.
    n_neighbors
        Neighbours of the Jaccard overlap.
    n_alone
        Cells embedded one by one for ``context_alone``.
    layer
        Expression layer (``None``: ``X``).
    batch_size, device, input_scale, n_comps, options
        As in :func:`scmf.tl.embed` (``options``: a checkpoint's loader options; ``input_scale``
        for models, ``n_comps`` for baselines).
    seed
        Seed of the sample, the other cells, the thinning, the permutation and the reference
        embedding (``seed + 1`` for the ``seed`` check).

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.invariance(adata, "pca", cell_type_key="bulk_labels", checks=("context", "gene_order"), n_cells=200)
    >>> m = scmf.bm.results(adata).set_index("metric")["value"]
    >>> bool(m["context_other_cosine_mean"] < 0.99)  # PCA refitted on other cells moves every cell
    True
    """
    from .. import tl
    from ..models import BASELINES, resolve

    func = "invariance"
    if use_rep is not None:
        msg = f"{func} re-embeds the cells with the model itself: pass model=, not use_rep={use_rep!r}."
        raise ValueError(msg)
    models = _models(model)
    wanted = (checks,) if isinstance(checks, str) else tuple(checks)
    unknown = sorted(set(wanted) - set(CHECKS))
    if unknown or not wanted:
        msg = f"checks must be some of {CHECKS}, got {checks!r}."
        raise ValueError(msg)
    for name, v, low in (("n_cells", n_cells, 2), ("n_neighbors", n_neighbors, 1), ("n_alone", n_alone, 1),
                         ("batch_size", batch_size, 1)):  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            msg = f"{name} must be an integer >= {low}, got {v!r}."
            raise ValueError(msg)
    fractions = tuple(float(f) for f in depth_fractions)
    if not fractions or any(not 0.0 < f < 1.0 for f in fractions):
        msg = f"depth_fractions must be fractions in (0, 1), got {depth_fractions!r}."
        raise ValueError(msg)
    n = adata.n_obs
    m = int(min(n_cells, n // 2))
    if m < n_neighbors + 2:
        msg = f"{func} needs at least {2 * (n_neighbors + 2)} cells (a sample and as many others); got {n}."
        raise ValueError(msg)
    types = get_labels(adata, cell_type_key, param="cell_type_key", func=func) if cell_type_key else None
    rng = np.random.default_rng([int(seed), 0x1A7])
    perm = rng.permutation(n)
    sample, others = np.sort(perm[:m]), np.sort(perm[m : 2 * m])
    mixed = rng.permutation(2 * m)  # the order of sample + others when embedded together
    gene_perm = rng.permutation(adata.n_vars)
    alone = sample[: min(n_alone, m)]

    import anndata as ad

    X = expression_source(adata, layer)
    rows = np.concatenate([sample, others])  # the sample, then the others
    srt = np.sort(rows)
    part = X[srt]  # only these rows are read (a backed file or a Dask array too)
    if is_dask(part):
        part = part.compute(scheduler="synchronous")
    part = sparse.csr_matrix(part, dtype=np.float32)
    block = part[np.searchsorted(srt, rows)]
    obs = adata.obs.iloc[rows].copy()
    var = adata.var.copy()

    def cells(r: np.ndarray, Xr=None, *, genes=None) -> ad.AnnData:
        """A private AnnData of rows ``r`` of the sample-then-others block (nothing of the user's touched)."""
        Xb = block[r] if Xr is None else Xr
        a = ad.AnnData(X=Xb.copy(), obs=obs.iloc[r].copy(), var=var.copy())
        if genes is not None:
            a = a[:, genes].copy()
        return a

    in_sample = np.arange(m)
    variant_list = variants(wanted, fractions)
    thinned: dict[str, sparse.csr_matrix] = {}
    skipped_all: dict[str, str] = {}
    if "depth" in wanted:
        S = block[:m]
        data = S.data
        if data.size and (data.min() < 0 or np.any(np.abs(data - np.round(data)) > 1e-6)):
            skipped_all.update(
                {f"depth{f:g}": "the expression is not counts (pass layer= naming counts)" for f in fractions}
            )
            warn(
                f"{func}: the depth check thins counts and the expression does not hold counts; it is left out (pass layer= naming a layer of counts)."
            )
        else:
            for i, f in enumerate(fractions):
                t = S.copy()
                t.data = (
                    np.random.default_rng([int(seed), 0xDE, i])
                    .binomial(np.round(data).astype(np.int64), f)
                    .astype(np.float32)
                )
                t.eliminate_zeros()
                thinned[f"depth{f:g}"] = t
    if "context" in wanted and types is None:
        skipped_all["context_own_type"] = "no cell_type_key"
    sample_types = None if types is None else np.asarray(types.full_codes())[sample]

    def run_model(name: str, mdl: Any) -> Score:
        baseline = isinstance(mdl, str) and mdl in BASELINES
        loaded = (
            mdl
            if baseline or not isinstance(mdl, str | Path)
            else resolve(mdl, seed=seed, **dict(options or {}))
        )
        skipped = dict(skipped_all)
        failed: list[str] = []
        n_embed = 0
        seconds = 0.0

        def embed(a: ad.AnnData, *, bs=batch_size, sd=seed, use=None) -> np.ndarray:
            nonlocal n_embed, seconds
            t0 = time.perf_counter()
            kw = {"n_comps": n_comps} if baseline else {"input_scale": input_scale}
            tl.embed(a, loaded if use is None else use, batch_size=int(bs), device=device, seed=int(sd),
                     progress=False, **kw)  # fmt: skip
            seconds += time.perf_counter() - t0
            n_embed += 1
            return np.asarray(a.obsm["X_scmf"], dtype=np.float64)

        ref = embed(cells(in_sample))
        ref_knn = _knn(ref, n_neighbors)
        metrics: dict[str, float] = {}
        replicates: dict[str, np.ndarray] = {}
        cos_store: dict[str, np.ndarray] = {}

        def record(v: str, idx: np.ndarray, new: np.ndarray) -> None:
            c = _cosine(ref[idx], new)
            metrics[f"{v}_cosine_mean"] = float(np.mean(c))
            metrics[f"{v}_cosine_p5"] = float(np.percentile(c, 5))
            k = min(n_neighbors, idx.size - 2)
            known = ref_knn if idx.size == m and k == n_neighbors else None  # the sample's, found once
            metrics[f"{v}_knn_jaccard"] = _jaccard(ref[idx], new, k, known) if idx.size > 3 else float("nan")
            cos_store[v] = c.astype(np.float32)
            if idx.size == m:
                replicates[f"{v}_cosine_mean"] = c

        for v in variant_list:
            if v in skipped:
                continue
            try:
                if v == "context_other":
                    E = embed(cells(np.arange(2 * m)[mixed]))
                    record(v, in_sample, E[np.argsort(mixed)][:m])
                elif v == "context_own_type":
                    new = np.empty_like(ref)
                    for t in np.unique(sample_types):
                        idx = np.flatnonzero(sample_types == t)
                        new[idx] = embed(cells(idx))
                    record(v, in_sample, new)
                elif v == "context_alone":
                    if baseline and mdl != "random":
                        skipped[v] = "a baseline fitted on one cell is undefined"
                        continue
                    idx = np.arange(alone.size)
                    new = np.vstack([embed(cells(np.array([i]))) for i in idx])
                    record(v, idx, new)
                elif v.startswith("depth"):
                    E = embed(cells(in_sample, thinned[v]))
                    record(v, in_sample, E)
                    if types is not None:
                        metrics[f"{v}_probe_drop"] = _probe(ref, E, sample_types, seed)
                elif v == "gene_order":
                    record(v, in_sample, embed(cells(in_sample, genes=gene_perm)))
                elif v == "batch_size1":
                    record(v, in_sample, embed(cells(in_sample), bs=1))
                elif v == "batch_size_max":
                    record(v, in_sample, embed(cells(in_sample), bs=m))
                elif v == "seed":
                    if not baseline and not isinstance(mdl, str | Path):
                        skipped[v] = (
                            "a model object keeps the seed it was loaded with (pass its checkpoint folder)"
                        )
                        continue
                    other = mdl if baseline else resolve(mdl, seed=seed + 1, **dict(options or {}))
                    record(v, in_sample, embed(cells(in_sample), sd=seed + 1, use=other))
            except (ValueError, RuntimeError) as e:
                skipped[v] = f"{type(e).__name__}: {e}"
                if not baseline:  # a baseline refitted on too few cells is a known limit, recorded
                    failed.append(v)
        if failed:
            warn(
                f"{func}: {name}: could not embed {name_list(failed)} ("
                + "; ".join(f"{k}: {skipped[k]}" for k in failed)
                + "); left out of its results."
            )
        return Score(
            metrics,
            replicates=replicates,
            replicate_kind="splits",
            metadata={"skipped": skipped, "n_embeddings": n_embed, "embedding_seconds": seconds},
            artifacts={"cosine": cos_store},
        )

    return Prepared(
        lambda E: Score({}),
        metadata={
            "n_cells": int(m),
            "n_others": int(m),
            "n_alone": int(alone.size),
            "checks": list(wanted),
            "variants": variant_list,
            "n_neighbors": int(n_neighbors),
        },
        params={
            "model": list(models),
            "checks": list(wanted),
            "depth_fractions": list(fractions),
            "options": dict(options or {}),
        },
        extra={name: (lambda name=name, mdl=mdl: run_model(name, mdl)) for name, mdl in models.items()},
    )


def _probe(ref: np.ndarray, thinned: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Accuracy of a logistic-regression probe on ``ref`` minus on ``thinned`` (one stratified split)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    keep = labels >= 0
    counts = pd.Series(labels[keep]).value_counts()
    keep &= np.isin(labels, counts.index[counts >= 2])
    idx = np.flatnonzero(keep)
    if np.unique(labels[idx]).size < 2:
        return float("nan")
    tr, te = train_test_split(idx, test_size=0.3, stratify=labels[idx], random_state=int(seed))

    def acc(E):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        return float(clf.fit(E[tr], labels[tr]).score(E[te], labels[te]))

    return acc(ref) - acc(thinned)
