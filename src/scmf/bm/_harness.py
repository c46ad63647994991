"""Run configured benchmarks over datasets: embed once per dataset and model, then benchmark."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._keys import BASELINES, EMBED_KEY, USES_BATCH, baseline_key
from .._warnings import warn
from ._config import EvalConfig, load_config

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")


@dataclass
class EvalReport:
    """What :func:`scmf.bm.evaluate` did: the evaluated datasets and what failed."""

    datasets: dict[str, AnnData]
    failures: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["dataset", "benchmark", "error"])
    )

    def results(self) -> pd.DataFrame:
        """The tidy results table over all datasets (as :func:`scmf.bm.results`)."""
        from .. import _store

        return _store.to_frame(r for a in self.datasets.values() for r in _store.iter_results(a))

    def to_json(self, path: str | os.PathLike, *, merge: bool = False) -> int | None:
        """The evaluation guide's JSON for all datasets, failures included as ``error`` records
        (``merge``: keeping the records of ``path`` these do not replace; see :func:`scmf.bm.to_json`)."""
        from ._results import to_json

        return to_json(list(self.datasets.values()), path, failures=self.failures, merge=merge)


def read_dataset(path: str | os.PathLike) -> AnnData:
    """``anndata.read_h5ad`` (or ``read_zarr``) with one clear error for a missing or unreadable file."""
    import anndata as ad

    p = Path(path)
    if not p.exists():
        msg = f"data file {str(p)!r} does not exist."
        raise FileNotFoundError(msg)
    try:
        adata = ad.read_zarr(p) if p.is_dir() or p.suffix == ".zarr" else ad.read_h5ad(p)
    except Exception as e:
        msg = f"could not read {str(p)!r} as AnnData (truncated or not an .h5ad/.zarr?): {e}"
        raise ValueError(msg) from e
    from .._uns import dataset_name, write_dataset_name

    if dataset_name(adata) is None:
        write_dataset_name(adata, p.name[: -len(".zarr")] if p.name.endswith(".zarr") else p.stem)
    return adata


def as_datasets(datasets) -> dict[str, Any]:
    from anndata import AnnData

    if isinstance(datasets, AnnData):
        return {"dataset": datasets}
    if isinstance(datasets, Mapping):
        return dict(datasets)
    if isinstance(datasets, str | os.PathLike):
        datasets = [datasets]
    out: dict[str, Any] = {}
    for item in datasets:
        name = Path(item).stem if isinstance(item, str | os.PathLike) else f"dataset_{len(out)}"
        base, i = name, 2
        while name in out:
            name, i = f"{base}_{i}", i + 1
        out[name] = item
    return out


def _embed_on_cluster(path, adata, model, client, kw) -> None:
    """Embed the file at ``path`` read lazily on ``client``'s workers; store into ``adata``."""
    import numpy as np

    from .. import tl
    from .._uns import write_embedding_params
    from ..datasets import read_lazy

    lazy = read_lazy(path)
    tl.embed(lazy, model, client=client, **kw)
    key = kw["key_added"]
    adata.obsm[key] = np.asarray(lazy.obsm[key])
    write_embedding_params(adata, key, dict(lazy.uns["scmf"]["params"][key]))


def evaluate(
    datasets: AnnData | Mapping[str, AnnData | str | os.PathLike] | Sequence[str | os.PathLike] | None,
    config: str | os.PathLike | Mapping | Sequence | EvalConfig,
    *,
    model: Any = None,
    use_rep: str | Sequence[str] | None = None,
    baselines: bool | Sequence[str] = False,
    batch_key: str | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    key_added: str | None = None,
    input_scale: str = "auto",
    gene_key: str | None = None,
    client: Any = None,
    seed: int = 0,
    progress: bool | None = None,
) -> EvalReport:
    """Run the configured benchmarks over one or several datasets.

    For each dataset the model (if given) embeds the cells once, into ``obsm[key_added]``
    (with ``baselines=True`` the PCA and random baselines too), then every benchmark runs on
    those representations and stores into the dataset's ``uns["scmf_bench"]`` under the
    dataset's name. A benchmark that fails is recorded with its error and the others still
    run. The AnnData objects passed in receive the outputs (pass copies to keep them clean).

    Parameters
    ----------
    datasets
        One AnnData, ``{name: AnnData or path}``, or a list of ``.h5ad`` paths (named by
        file stem). ``None``: the datasets with a ``path`` in the config's ``datasets:``.
    config
        The evaluation guide's ``eval:`` block: a YAML path, a mapping, a list of
        ``{name, params}``, or an :class:`EvalConfig` (see :func:`scmf.bm.load_config`).
        Its ``datasets:`` settings (``cell_type_key``, ``batch_key``, ..., ``benchmarks``)
        apply to the dataset of that name.
    model
        Anything :func:`scmf.tl.embed` accepts (a checkpoint directory is loaded once), or
        ``None`` to benchmark representations already in ``obsm`` (``use_rep``). A tokenised
        model's input gene embeddings are written too (``varm["<key_added>_genes"]``, by
        :func:`scmf.tl.embed_genes`) for benchmarks that predict from gene representations
        (``perturbation_response``, the cz perturbation task), unless their ``gene_rep`` is set.
    use_rep
        Representation(s) in ``obsm`` to benchmark: alone when ``model`` is ``None``
        (default ``"X_scmf"``), beside the model's embedding otherwise.
    baselines
        Also compute and benchmark baselines (:func:`scmf.tl.baselines`): ``True`` for
        ``X_pca_baseline`` and ``X_random_baseline``, or the names to compute (``["pca",
        "random", "hvg", "harmony", "scvi"]``).
    batch_key
        ``obs`` column of the batches for the ``harmony`` and ``scvi`` baselines (default: the
        dataset's ``batch_key`` in the config's ``datasets:`` block).
    batch_size, device
        Embedding settings; default from the config (``batch_size``, ``device``).
    key_added
        ``obsm`` key for the model's embedding (default: ``X_<model_name>`` of the config's
        ``model_name:``, else ``"X_scmf"``).
    input_scale, gene_key
        Passed to :func:`scmf.tl.embed` for tokenised models.
    client
        A ``dask.distributed.Client`` for the embedding step: datasets given as paths are
        read lazily (:func:`scmf.datasets.read_lazy`) and embedded block by block on its
        workers; AnnData objects are sent to them block by block.
    seed
        Seed of the baselines and of a checkpoint directory whose recipe samples (scGPT,
        UCE), as in :func:`scmf.tl.embed`.
    progress
        Show a progress bar (``None``: when writing to a terminal).

    Returns
    -------
    An :class:`EvalReport`: ``.datasets`` (name -> evaluated AnnData), ``.failures``
    (dataset, benchmark, error), ``.results()`` (the tidy table), ``.to_json(path)``.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> report = scmf.bm.evaluate({"pbmc": adata}, [
    ...     {"name": "linear_probe", "params": {"cell_type_key": "bulk_labels"}}], model="pca", progress=False)
    >>> sorted(report.results()["metric"].unique())
    ['accuracy', 'balanced_accuracy', 'f1_macro', 'f1_weighted']
    """
    from tqdm.auto import tqdm

    from .. import tl
    from ._benchmark import lookup

    cfg = load_config(config)
    if datasets is None:
        datasets = {n: d.path for n, d in cfg.datasets.items() if d.path is not None}
        if not datasets:
            msg = "no datasets given, and the config's datasets: block names no file (path:)."
            raise ValueError(msg)
    named = as_datasets(datasets)
    unmatched = [n for n, d in cfg.datasets.items() if n not in named and d.path is None]
    if unmatched:
        msg = (
            f"the config's datasets: block names {unmatched}, which match no dataset given ({sorted(named)}; "
            "names are the files' stems): fix the names, or give those files a path:."
        )
        raise ValueError(msg)
    bs = int(batch_size if batch_size is not None else cfg.batch_size)
    dev = device if device is not None else cfg.device
    if model is not None:
        from ..models import resolve

        model = resolve(model, seed=seed)  # once, for every dataset
    key_added = key_added or cfg.model_key or EMBED_KEY
    extra = [] if use_rep is None else [use_rep] if isinstance(use_rep, str) else list(use_rep)
    reps = [key_added, *extra] if model is not None else (extra or [EMBED_KEY])
    methods = _baseline_methods(baselines)
    reps += [baseline_key(m) for m in methods]
    batch_of = {
        n: batch_key or (cfg.datasets[n].params.get("batch_key") if n in cfg.datasets else None)
        for n in named
    }
    model_uses_batch = isinstance(model, str) and model in USES_BATCH
    if model_uses_batch or any(m in USES_BATCH for m in methods):
        missing = [n for n, b in batch_of.items() if b is None]
        if missing:
            msg = (
                f"the {[m for m in [model, *methods] if m in USES_BATCH]} baselines correct for batches, and datasets {missing} "
                "have no batch_key: pass batch_key= (CLI: --batch-key) or set it in the config's datasets: block."
            )
            raise ValueError(msg)
    reps = list(dict.fromkeys(reps))  # a model named like a baseline is scored once
    specs = [(b, lookup(b.name)) for b in cfg.benchmarks]
    failures: list[dict] = []
    out: dict[str, AnnData] = {}
    steps = len(named) * (len(specs) + 1)
    bar = tqdm(
        total=steps, disable=progress is False if progress is not None else None, desc="scmf", unit="step"
    )
    try:
        for name, item in named.items():
            bar.set_description(f"{name}: loading/embedding")
            try:
                adata = read_dataset(item) if isinstance(item, str | os.PathLike) else item
                if model is not None:
                    kw = {"input_scale": input_scale, "gene_key": gene_key} if _tokenised(model) else {}
                    kw.update(batch_size=bs, device=dev, key_added=key_added, seed=seed, progress=False)
                    if model_uses_batch:
                        kw["batch_key"] = batch_of[name]
                    if client is not None and isinstance(item, str | os.PathLike):
                        _embed_on_cluster(item, adata, model, client, kw)
                    else:
                        tl.embed(adata, model, client=client, **kw)
                ds_reps = reps
                if methods and (adata.X is None or adata.n_vars == 0):  # an embedding-only file
                    skipped = [m for m in methods if m != "random"]
                    warn(
                        f"dataset {name!r} holds no expression (no genes): only the random baseline is computed; "
                        f"the {', '.join(skipped)} baseline(s) need the expression matrix."
                    )
                    if "random" in methods:
                        tl.baselines(adata, ["random"], seed=seed)
                    ds_reps = [r for r in reps if r not in {baseline_key(m) for m in skipped}]
                elif methods:
                    uses = any(m in USES_BATCH for m in methods)
                    tl.baselines(adata, methods, seed=seed, batch_key=batch_of[name] if uses else None)
            except Exception as e:
                logger.warning("dataset %r could not be prepared: %s", name, e)
                failures.append(
                    {"dataset": name, "benchmark": "<embed>", "error": f"{type(e).__name__}: {e}"}
                )
                bar.update(len(specs) + 1)
                continue
            out[name] = adata
            bar.update(1)
            ds = cfg.datasets.get(name)
            for b, spec in specs:
                bar.set_description(f"{name}: {b.name}")
                if ds is not None and not ds.runs(b.name):
                    bar.update(1)
                    continue
                try:
                    params = ds.params_for(spec, b.params) if ds is not None else b.params
                    if (
                        model is not None
                        and _tokenised(model)
                        and "gene_rep" in spec.params
                        and "gene_rep" not in params
                    ):
                        # a benchmark that predicts from gene representations gets the model's own
                        gene_key_added = f"{key_added}_genes"
                        if gene_key_added not in adata.varm:
                            tl.embed_genes(
                                adata, model, key_added=gene_key_added, device=dev, gene_key=gene_key
                            )
                        params = {**params, "gene_rep": gene_key_added}
                    spec.run(adata, use_rep=ds_reps, dataset_name=name, params=params)
                except Exception as e:  # recorded; the other benchmarks still run
                    logger.warning("benchmark %r on %r failed: %s", b.name, name, e)
                    failures.append(
                        {"dataset": name, "benchmark": b.name, "error": f"{type(e).__name__}: {e}"}
                    )
                bar.update(1)
    finally:
        bar.close()
    return EvalReport(out, pd.DataFrame(failures, columns=["dataset", "benchmark", "error"]))


def _tokenised(model) -> bool:
    from ..models import TokenizedModel

    return isinstance(model, TokenizedModel)


def _baseline_methods(baselines: bool | Sequence[str]) -> list[str]:
    """The baselines ``evaluate(baselines=...)`` computes: ``True`` -> PCA and random."""
    if baselines is True:
        return ["pca", "random"]
    if not baselines:
        return []
    names = [baselines] if isinstance(baselines, str) else list(baselines)
    unknown = [m for m in names if m not in BASELINES]
    if unknown:
        msg = f"unknown baseline(s) {unknown}; scmf computes {list(BASELINES)}."
        raise ValueError(msg)
    return list(dict.fromkeys(names))
