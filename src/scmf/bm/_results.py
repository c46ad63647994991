"""Results out of the store: the tidy table, many files at once, the guide's JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import _store
from .._io import json_safe, write_text_atomic
from .._keys import BENCH_KEY

if TYPE_CHECKING:
    from anndata import AnnData


def results(
    adata: AnnData,
    *,
    benchmark: str | None = None,
    dataset: str | None = None,
    rep: str | None = None,
    key: str = BENCH_KEY,
    replicates: bool = False,
) -> pd.DataFrame:
    """All stored results of ``adata`` as one tidy long table.

    Parameters
    ----------
    adata
        AnnData evaluated by ``scmf.bm.*`` (in memory, or read back from ``.h5ad``/zarr).
    benchmark, dataset, rep
        Keep only these (``None``: all).
    key
        ``uns`` key of the results store.
    replicates
        Add the columns ``replicate_kind``, ``replicates`` (each metric's value per split or
        bootstrap resample), ``test_train_ratio`` and ``n_cells`` (where recorded), which
        :func:`scmf.bm.compare` needs.

    Returns
    -------
    DataFrame with one row per metric and the columns ``benchmark``, ``dataset``, ``rep``,
    ``metric``, ``value`` (the mean over splits, or the value on all cells), ``std`` (spread
    over splits or bootstrap resamples, NaN for a single evaluation), ``ci_low``/``ci_high``
    (95% confidence interval: see :doc:`/statistics`) and ``params`` (the settings as
    canonical JSON; rows with different text were computed with different parameters).
    Empty (same columns) when nothing is stored. For reading, :func:`scmf.bm.summary` gives
    one compact wide table.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.baselines(adata)
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep="X_pca_baseline")
    >>> list(scmf.bm.results(adata).columns)
    ['benchmark', 'dataset', 'rep', 'metric', 'value', 'std', 'ci_low', 'ci_high', 'params']
    """
    selected = [
        r
        for r in _store.iter_results(adata, key=key)
        if benchmark in (None, r.benchmark) and dataset in (None, r.dataset) and rep in (None, r.rep)
    ]
    return _store.to_frame(selected, replicates=replicates)


def collect(
    items: Sequence[Any] | Mapping[str, Any], *, key: str = BENCH_KEY, replicates: bool = False
) -> pd.DataFrame:
    """One results table over many evaluated objects and files.

    Parameters
    ----------
    items
        AnnData objects and/or paths to ``.h5ad`` files, zarr stores or scmf JSON results,
        as a list, or as a mapping ``{source name: item}``. Files are read without loading
        their expression matrix (only the results store is read).
    key
        ``uns`` key of the results store.
    replicates
        Keep each metric's replicates (see :func:`scmf.bm.results`), for :func:`scmf.bm.compare`.

    Returns
    -------
    The :func:`scmf.bm.results` table with a first column ``source``: the mapping key, the
    file's name without its suffix (with its folder where two files share a name), or
    ``"adata<i>"`` for an in-memory object at position ``i``. Tables and plots keep rows of
    different sources apart.

    Examples
    --------
    >>> import scanpy as sc, scmf
    >>> a, b = sc.datasets.pbmc68k_reduced(), sc.datasets.pbmc68k_reduced()
    >>> for ad, name in [(a, "pca"), (b, "random")]:
    ...     scmf.tl.embed(ad, name)
    ...     scmf.bm.linear_probe(ad, "bulk_labels")
    >>> table = scmf.bm.collect({"model_a": a, "model_b": b})
    >>> sorted(table["source"].unique())
    ['model_a', 'model_b']
    """
    from anndata import AnnData

    if isinstance(items, str | os.PathLike | AnnData):
        items = [items]
    named = (
        list(items.items())
        if isinstance(items, Mapping)
        else list(zip(_store.source_names(items), items, strict=True))
    )
    frames = []
    for source, item in named:
        if isinstance(item, AnnData):
            df = results(item, key=key, replicates=replicates)
        elif isinstance(item, str | os.PathLike):
            df = _results_from_path(Path(item), key=key, replicates=replicates)
        else:
            msg = f"collect: items must be AnnData objects or paths, got {type(item).__name__}."
            raise TypeError(msg)
        df.insert(0, "source", str(source))
        frames.append(df)
    if not frames:
        cols = _store.TABLE_COLUMNS + (_store.REPLICATE_COLUMNS if replicates else [])
        return pd.DataFrame(columns=["source", *cols])
    return pd.concat(frames, ignore_index=True)


def _results_from_path(path: Path, *, key: str, replicates: bool = False) -> pd.DataFrame:
    if not path.exists():
        msg = f"collect: no such file {str(path)!r}."
        raise FileNotFoundError(msg)
    if path.suffix == ".json":
        return read_json(path, replicates=replicates)
    return results(_store.read_file_uns(path, (key,)), key=key, replicates=replicates)  # type: ignore[arg-type]


def to_json(
    adata: AnnData | Sequence[AnnData],
    path: str | os.PathLike,
    *,
    key: str = BENCH_KEY,
    failures: pd.DataFrame | None = None,
    merge: bool = False,
) -> int | None:
    """Write all stored results as the evaluation guide's JSON, atomically.

    The file is a list of records ``{benchmark_name, dataset_name, metrics, metadata}`` plus
    ``rep``, ``metrics_std``, ``params`` and ``provenance``. It is strict JSON: NaN and
    infinities are written as ``null``. It is written to a temporary file in the same folder
    and renamed, so a reader never sees half a file.

    Parameters
    ----------
    adata
        One evaluated AnnData or several.
    path
        Output file.
    key
        ``uns`` key of the results store.
    failures
        Benchmarks that failed (columns ``dataset, benchmark, error``, as in
        :class:`scmf.bm.EvalReport`): written as records with an ``error`` field and empty
        ``metrics``, which :func:`read_json` skips.
    merge
        Keep the records already in ``path`` that these results do not replace (same
        benchmark, dataset and representation; a failure record is replaced by any record of
        its benchmark and dataset), as storing into ``uns`` does. A ``path`` that is not such
        a file is refused, not overwritten.

    Returns
    -------
    With ``merge``, the number of earlier records kept; otherwise ``None``.

    Examples
    --------
    >>> import scanpy as sc, scmf, tempfile, os
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.tl.embed(adata, "pca")
    >>> scmf.bm.linear_probe(adata, "bulk_labels")
    >>> path = os.path.join(tempfile.mkdtemp(), "results.json")
    >>> scmf.bm.to_json(adata, path)
    >>> scmf.bm.read_json(path).equals(scmf.bm.results(adata))
    True
    """
    adatas = [adata] if not isinstance(adata, Sequence) else list(adata)
    records = [json_safe(r.to_json_record()) for a in adatas for r in _store.iter_results(a, key=key)]
    if failures is not None:
        records += [
            {
                "benchmark_name": f.benchmark,
                "dataset_name": f.dataset,
                "error": str(f.error),
                "metrics": {},
                "metadata": {},
            }
            for f in failures.itertuples()
        ]
    kept = []
    if merge and Path(path).exists():
        new = {(r["benchmark_name"], r["dataset_name"], r.get("rep")) for r in records}
        touched = {(b, d) for b, d, _ in new}
        for r in _store.earlier_records(Path(path)):
            k = (r.get("benchmark_name"), r.get("dataset_name"), r.get("rep"))
            if k in new or ("error" in r and k[:2] in touched):
                continue
            kept.append(r)
    text = json.dumps(kept + records, indent=2, allow_nan=False)
    write_text_atomic(Path(path), text + "\n")
    return len(kept) if merge else None


def read_json(path: str | os.PathLike, *, replicates: bool = False) -> pd.DataFrame:
    """Read results written by :func:`scmf.bm.to_json` (or the guide's plain JSON) into the tidy table.

    Examples
    --------
    >>> import scanpy as sc, scmf, tempfile, os
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> scmf.bm.linear_probe(adata, "bulk_labels", use_rep="X_pca")
    >>> path = os.path.join(tempfile.mkdtemp(), "results.json")
    >>> scmf.bm.to_json(adata, path)
    >>> scmf.bm.read_json(path)[["benchmark", "rep", "metric"]].iloc[0].tolist()
    ['linear_probe', 'X_pca', 'accuracy']
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        msg = f"{str(path)!r} is not valid JSON ({e}); was it truncated?"
        raise ValueError(msg) from e
    if isinstance(records, Mapping):
        records = [records]
    if not isinstance(records, list):
        msg = f"{str(path)!r}: expected a list of result records."
        raise ValueError(msg)
    return _store.to_frame(
        (_store.Result.from_json_record(r) for r in records if not (isinstance(r, Mapping) and "error" in r)),
        replicates=replicates,
    )
