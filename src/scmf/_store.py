"""The results store: the only module that reads or writes ``adata.uns["scmf_bench"]``.

Layout (nested dicts, so that no key has to be parsed)::

    uns["scmf_bench"][benchmark][dataset][rep] = {
        "benchmark": str, "dataset": str, "rep": str,
        "metrics": {name: float},          # the mean over splits where there are several
        "metrics_std": {name: float},      # spread over splits ({} for a single split)
        "metadata": {...},                 # n_cells, n_classes, ... (as in the guide's JSON)
        "params": {...},                   # every parameter actually used, seed included
        "provenance": {...},               # scmf and library versions, UTC timestamp
        "artifacts": {...},                # compact arrays for plots (confusion matrix, ...)
    }

Every value is one that ``write_h5ad``/``write_zarr`` round-trip unchanged: dicts with
string keys, str, int, float, bool, None, and numpy arrays (lists of strings become object
arrays, the type that ``read_h5ad`` returns). Values are converted *before* anything is
written, so a result that cannot be stored leaves ``adata`` untouched.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import platform
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._keys import BENCH_KEY

if TYPE_CHECKING:
    from anndata import AnnData

logger = logging.getLogger("scmf")

TABLE_COLUMNS = ["benchmark", "dataset", "rep", "metric", "value", "std", "ci_low", "ci_high", "params"]
REPLICATE_COLUMNS = ["replicate_kind", "replicates", "test_train_ratio", "n_cells", "cells"]
CI_LEVEL = 0.95
_PROVENANCE_PACKAGES = (
    "scmf",
    "anndata",
    "scanpy",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "scib-metrics",
    "numba",
    "torch",
)


@cache
def _package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PROVENANCE_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def provenance() -> dict[str, str]:
    """Versions of scmf and its key libraries, plus the current UTC time (ISO 8601)."""
    out = dict(_package_versions())
    out["timestamp"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return out


@dataclass
class Result:
    """One benchmark result: one benchmark on one representation of one dataset."""

    benchmark: str
    dataset: str
    rep: str
    metrics: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    metrics_std: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=provenance)

    def to_uns(self) -> dict[str, Any]:
        """This result as an h5ad/zarr-safe dict (raises before anything is written)."""
        for name in ("benchmark", "dataset", "rep"):
            _check_key(getattr(self, name), name)
        return {
            "benchmark": self.benchmark,
            "dataset": self.dataset,
            "rep": self.rep,
            "metrics": {str(k): _to_float(v) for k, v in self.metrics.items()},
            "metrics_std": {str(k): _to_float(v) for k, v in self.metrics_std.items()},
            "metadata": encode(self.metadata, "metadata"),
            "params": encode(self.params, "params"),
            "provenance": encode(self.provenance, "provenance"),
            "artifacts": encode(self.artifacts, "artifacts"),
        }

    @classmethod
    def from_uns(cls, entry: Mapping[str, Any]) -> Result:
        """Read one stored entry back (values canonicalised, see :func:`canonical`)."""
        entry = canonical(entry)
        try:
            return cls(
                benchmark=entry["benchmark"],
                dataset=entry["dataset"],
                rep=entry["rep"],
                metrics=dict(entry["metrics"]),
                metadata=dict(entry.get("metadata", {})),
                params=dict(entry.get("params", {})),
                metrics_std=dict(entry.get("metrics_std", {})),
                artifacts=dict(entry.get("artifacts", {})),
                provenance=dict(entry.get("provenance", {})),
            )
        except KeyError as e:
            msg = f"A stored scmf result lacks the field {e}; the store may have been edited by hand."
            raise ValueError(msg) from None

    @property
    def replicate_kind(self) -> str | None:
        kind = self.artifacts.get("replicate_kind")
        return str(kind) if kind is not None and self.artifacts.get("replicates") else None

    @property
    def replicates(self) -> dict[str, np.ndarray]:
        """Per metric, its value on each split or bootstrap resample (empty for one evaluation)."""
        return {k: np.asarray(v, dtype=float) for k, v in dict(self.artifacts.get("replicates", {})).items()}

    @property
    def test_train_ratio(self) -> float:
        """n_test / n_train of split-based results (the resampled t-test's correction), else NaN."""
        n_test, n_train = self.metadata.get("n_test"), self.metadata.get("n_train")
        return float(n_test) / float(n_train) if n_test and n_train else float("nan")

    def interval(self, metric: str) -> tuple[float, float]:
        """The 95% confidence interval of ``metric`` (NaN, NaN without replicates).

        Splits: the mean over splits +- t * sd * sqrt(1/J + n_test/n_train), Nadeau and
        Bengio's correction for the overlap of the training sets of repeated splits.
        Bootstrap: the 2.5% and 97.5% quantiles of the resampled values' deviations from their
        mean, around the full-data value (the percentile interval re-centred on the estimate;
        see the statistics page for why).
        """
        return interval(
            self.replicates.get(metric), self.replicate_kind, self.test_train_ratio, self.metrics.get(metric)
        )

    def settings(self) -> dict[str, Any]:
        """The parameters that define the evaluation, i.e. all but the representation."""
        return {k: v for k, v in self.params.items() if k != "use_rep"}

    @property
    def benchmark_name(self) -> str:
        """The benchmark's name (the evaluation guide's field name)."""
        return self.benchmark

    @property
    def dataset_name(self) -> str:
        """The dataset's name (the evaluation guide's field name)."""
        return self.dataset

    def summary(self) -> str:
        """One line: ``[benchmark] dataset: metric=value, ...`` (metrics in name order, 4 decimals)."""
        values = ", ".join(f"{k}={v:.4f}" for k, v in sorted(self.metrics.items()))
        return f"[{self.benchmark}] {self.dataset}: {values}"

    def to_dict(self) -> dict[str, Any]:
        """The evaluation guide's JSON record (see :meth:`to_json_record`) as plain JSON types.

        Arrays become lists and NaN/inf ``None``, so ``json.dump`` writes it as strict JSON.
        """
        from ._io import json_safe

        return json_safe(self.to_json_record())

    def to_json_record(self) -> dict[str, Any]:
        """The evaluation guide's JSON record, plus ``rep``, ``params``, ``provenance`` and replicates."""
        reps = self.replicates
        rec = {
            "benchmark_name": self.benchmark,
            "dataset_name": self.dataset,
            "rep": self.rep,
            "metrics": dict(self.metrics),
            "metrics_std": dict(self.metrics_std),
            "metrics_ci": {
                m: list(self.interval(m)) for m in self.metrics if self.replicates.get(m) is not None
            },
            "metadata": self.metadata,
            "params": self.params,
            "provenance": self.provenance,
        }
        if self.replicate_kind:
            rec["replicate_kind"] = self.replicate_kind
            rec["replicates"] = reps
        return rec

    @classmethod
    def from_json_record(cls, rec: Mapping[str, Any]) -> Result:
        """Inverse of :meth:`to_json_record` (JSON ``null`` metrics become NaN)."""
        try:
            return cls(
                benchmark=rec["benchmark_name"],
                dataset=rec["dataset_name"],
                rep=rec.get("rep", ""),
                metrics={k: _to_float(v) for k, v in rec["metrics"].items()},
                metrics_std={k: _to_float(v) for k, v in rec.get("metrics_std", {}).items()},
                metadata=dict(rec.get("metadata", {})),
                params=dict(rec.get("params", {})),
                provenance=dict(rec.get("provenance", {})),
                artifacts=(
                    {"replicate_kind": rec["replicate_kind"], "replicates": dict(rec.get("replicates", {}))}
                    if rec.get("replicate_kind")
                    else {}
                ),
            )
        except (KeyError, AttributeError, TypeError) as e:
            msg = (
                "Not a scmf/evaluation-guide result record: each record needs 'benchmark_name', "
                f"'dataset_name' and a 'metrics' mapping ({e!r})."
            )
            raise ValueError(msg) from None


def _check_key(name: object, what: str) -> None:
    if not isinstance(name, str) or not name:
        msg = f"{what} must be a non-empty string, got {name!r}."
        raise TypeError(msg)
    if "/" in name:
        msg = f"{what} {name!r} contains '/', which h5ad and zarr read as a path separator; choose a name without '/'."
        raise ValueError(msg)


def _to_float(v: Any) -> float:
    return float("nan") if v is None else float(v)


def encode(value: Any, path: str = "value") -> Any:
    """Convert ``value`` to the form ``write_h5ad``/``read_h5ad`` return unchanged."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            _check_key(k, f"key in {path}")
            out[k] = encode(v, f"{path}[{k!r}]")
        return out
    if isinstance(value, list | tuple):
        if all(isinstance(v, str) for v in value):
            return np.array(list(value), dtype=object)
        if all(isinstance(v, bool | int | float | np.number | np.bool_) for v in value):
            return np.asarray(value)
        msg = f"{path}: lists may hold only strings or only numbers, got {value!r}."
        raise TypeError(msg)
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return np.ascontiguousarray(value)
        if value.dtype.kind in "UTSO":
            return np.asarray([str(v) for v in value.ravel()], dtype=object).reshape(value.shape)
    msg = f"{path}: cannot store a value of type {type(value).__name__} in .uns; convert it to str, number, list or array."
    raise TypeError(msg)


def canonical(value: Any) -> Any:
    """Normalise a value read from ``.uns`` (string arrays -> object arrays, numpy scalars -> Python)."""
    if isinstance(value, Mapping):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "UTS":
            return value.astype(object)
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def write(adata: AnnData, results: Iterable[Result], *, key: str = BENCH_KEY) -> None:
    """Store ``results`` in ``adata.uns[key]``, replacing only entries with the same (benchmark, dataset, rep)."""
    if adata.is_view:
        msg = (
            "adata is a view of another AnnData; results cannot be stored on it. "
            "Call `adata = adata.copy()` first, or pass inplace=False to get the results table."
        )
        raise ValueError(msg)
    encoded = [r.to_uns() for r in results]  # all conversions first: all or nothing
    store = adata.uns.get(key)
    if store is None:
        store = {}
    elif not isinstance(store, Mapping):
        msg = f"adata.uns[{key!r}] exists but is not a dict of scmf results; move it away or choose another key."
        raise TypeError(msg)
    store = dict(store)
    for entry in encoded:
        bench, ds, rep = entry["benchmark"], entry["dataset"], entry["rep"]
        by_ds = dict(store.get(bench, {}))
        by_rep = dict(by_ds.get(ds, {}))
        verb = "replaced" if rep in by_rep else "stored"
        by_rep[rep] = entry
        by_ds[ds] = by_rep
        store[bench] = by_ds
        logger.info("%s result %s/%s/%s in adata.uns[%r]", verb, bench, ds, rep, key)
    adata.uns[key] = store


def iter_results(adata: AnnData, *, key: str = BENCH_KEY) -> Iterator[Result]:
    """All stored results, in storage order.

    A store edited by hand or written by another tool is read entry by entry: an entry that is
    not a valid result (not nested ``benchmark/dataset/rep``, a field missing, a metric that is
    not a number, names that differ from its place in the store) is skipped with a warning that
    names it, and every other entry is still read.
    """
    store = adata.uns.get(key, {})
    if not isinstance(store, Mapping):
        _skip(key, f"adata.uns[{key!r}] is a {type(store).__name__}, not scmf's results store")
        return
    for bench, by_ds in store.items():
        if not isinstance(by_ds, Mapping):
            _skip(key, f"{bench}: not a mapping of datasets")
            continue
        for ds, by_rep in by_ds.items():
            if not isinstance(by_rep, Mapping):
                _skip(key, f"{bench}/{ds}: not a mapping of representations")
                continue
            for rep, entry in by_rep.items():
                where = f"{bench}/{ds}/{rep}"
                try:
                    r = Result.from_uns(entry) if isinstance(entry, Mapping) else None
                except (ValueError, TypeError) as e:
                    _skip(key, f"{where}: {e}")
                    continue
                if r is None:
                    _skip(key, f"{where}: not a result entry")
                    continue
                if (r.benchmark, r.dataset, r.rep) != (bench, ds, rep):
                    _skip(key, f"{where}: the entry says it is {r.benchmark}/{r.dataset}/{r.rep}")
                    continue
                bad = [
                    m for m, v in r.metrics.items() if not isinstance(v, int | float) or isinstance(v, bool)
                ]
                if bad:
                    _skip(key, f"{where}: metrics {bad} are not numbers")
                    continue
                yield r


def _skip(key: str, why: str) -> None:
    from ._warnings import warn

    warn(f"skipping a stored result in adata.uns[{key!r}] that is not scmf's ({why}); the others are read.")


def get(
    adata: AnnData,
    benchmark: str,
    *,
    dataset: str | None = None,
    rep: str | None = None,
    key: str = BENCH_KEY,
) -> Result:
    """One stored result; ``dataset``/``rep`` may be omitted when only one exists."""
    matches = [
        r
        for r in iter_results(adata, key=key)
        if r.benchmark == benchmark and dataset in (None, r.dataset) and rep in (None, r.rep)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        have = sorted({(r.benchmark, r.dataset, r.rep) for r in iter_results(adata, key=key)})
        msg = (
            f"No stored {benchmark!r} result for dataset={dataset!r}, rep={rep!r}; "
            f"run scmf.bm.{benchmark} first. Stored: {have or 'nothing'}."
        )
        raise KeyError(msg)
    options = [(r.dataset, r.rep) for r in matches]
    msg = f"Several {benchmark!r} results match; pass dataset= and rep= (one of {options})."
    raise ValueError(msg)


def interval(values, kind: str | None, ratio: float, point: float | None = None) -> tuple[float, float]:
    """95% confidence interval from replicates (see :meth:`Result.interval`)."""
    nan = (float("nan"), float("nan"))
    if values is None or kind is None:
        return nan
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return nan
    if kind == "bootstrap":
        # the spread of the resampled values, centred on the full-data estimate: resampling cells
        # with replacement shifts information and agreement scores (NMI, ARI: duplicated cells
        # look like signal), so the quantiles themselves can exclude the estimate
        lo, hi = np.quantile(v - v.mean(), [(1 - CI_LEVEL) / 2, (1 + CI_LEVEL) / 2])
        mid = float(v.mean()) if point is None else float(point)
        return mid + float(lo), mid + float(hi)
    from scipy import stats

    corr = 1.0 / v.size + (ratio if np.isfinite(ratio) else 0.0)
    half = float(stats.t.ppf((1 + CI_LEVEL) / 2, v.size - 1) * np.sqrt(corr * v.var(ddof=1)))
    mid = float(v.mean()) if point is None else float(point)
    return mid - half, mid + half


def settings_text(params: Mapping[str, Any]) -> str:
    """Canonical text of a result's parameters (all but ``use_rep``): equal text, equal settings."""
    return json.dumps(
        {k: v for k, v in params.items() if k != "use_rep"},
        sort_keys=True,
        default=_json_default,
        allow_nan=True,
    )


def _json_default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return str(v)


def cells_fingerprint(obs_names: Iterable[object]) -> str:
    """The identity of a set of cells in their order: a digest of their names (the same cells in
    another order, or other cells of the same number, give another). Stored with every result
    (metadata ``cells``) so that results of two files are only paired over the same cells."""
    import hashlib

    names = [str(name) for name in obs_names]
    digest = hashlib.blake2b(
        "".join(f"{n}\0" for n in names).encode("utf-8", "surrogatepass"), digest_size=12
    )
    return f"{len(names)}:{digest.hexdigest()}"


def to_frame(results: Iterable[Result], *, replicates: bool = False) -> pd.DataFrame:
    """The tidy long table: one row per (benchmark, dataset, rep, metric), sorted by those.

    Columns: ``value`` (the mean over splits, or the full-data value), ``std`` (spread over
    splits or resamples), ``ci_low``/``ci_high`` (95% interval, NaN without replicates) and
    ``params`` (the settings, as canonical JSON: rows with different text were computed
    differently). With ``replicates``, also ``replicate_kind``, ``replicates`` (array per row)
    ``test_train_ratio``, ``n_cells`` (the cells it was scored on, where recorded) and
    ``cells`` (the input cells' :func:`cells_fingerprint`, where recorded): what pairing
    results across files checks.
    """
    rows = []
    for r in results:
        reps, kind, ratio = r.replicates, r.replicate_kind, r.test_train_ratio
        setting = settings_text(r.params)
        for m, v in r.metrics.items():
            lo, hi = interval(reps.get(m), kind, ratio, v)
            row = [
                r.benchmark,
                r.dataset,
                r.rep,
                m,
                float(v),
                float(r.metrics_std.get(m, np.nan)),
                lo,
                hi,
                setting,
            ]
            if replicates:
                n = r.metadata.get("n_cells")
                row += [
                    kind if m in reps else None,
                    reps.get(m),
                    ratio,
                    float(n) if n is not None else np.nan,
                    r.metadata.get("cells"),
                ]
            rows.append(row)
    columns = TABLE_COLUMNS + (REPLICATE_COLUMNS if replicates else [])
    df = pd.DataFrame(rows, columns=columns).astype(
        {"value": float, "std": float, "ci_low": float, "ci_high": float}
    )
    # files store dict keys sorted, so sort here too: the same results give the same table
    return df.sort_values(TABLE_COLUMNS[:4], kind="stable", ignore_index=True)


def earlier_records(path: Path) -> list[dict]:
    """The records of an existing results file, or an error naming why it is not one."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as e:
        msg = f"{path} exists and is not a results JSON ({type(e).__name__}); choose another output, or overwrite it."
        raise ValueError(msg) from None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and "benchmark_name" in r and "dataset_name" in r for r in records
    ):
        msg = f"{path} exists and is not a list of scmf/guide result records; choose another output, or overwrite it."
        raise ValueError(msg)
    return records


def source_names(items: list[Any]) -> list[str]:
    """How results from ``items`` are named as sources (the one place that decides it): each
    file's stem (with parent folders where two files share a stem), ``adata<i>`` for an object."""
    import os

    paths = {i: Path(it) for i, it in enumerate(items) if isinstance(it, str | os.PathLike)}
    names = {i: f"adata{i}" for i in range(len(items)) if i not in paths}
    for depth in range(1, 1 + max((len(p.parts) for p in paths.values()), default=1)):
        trial = {
            i: "/".join([*p.parent.parts[len(p.parent.parts) - depth + 1 :], p.stem])
            for i, p in paths.items()
        }
        if len(set(trial.values())) == len(trial):
            break
    else:
        trial = {i: str(p) for i, p in paths.items()}
    names.update(trial)
    return [names[i] for i in range(len(items))]


class UnsHolder:
    """Just enough of an AnnData for the readers of stored results: ``.uns``."""

    def __init__(self, uns: dict):
        self.uns = uns


def read_file_uns(path: str | Path, keys: Iterable[str] = (BENCH_KEY,)) -> UnsHolder:
    """The ``uns`` entries ``keys`` of an ``.h5ad`` file or zarr store, without reading its
    expression (absent keys are left out)."""
    from anndata.io import read_elem

    path = Path(path)
    out: dict[str, Any] = {}
    try:
        if path.is_dir() or path.suffix == ".zarr":
            import zarr

            root = zarr.open_group(str(path), mode="r")
            uns = root["uns"] if "uns" in root else None
            out = {k: read_elem(uns[k]) for k in keys if uns is not None and k in uns}
        else:
            import h5py

            with h5py.File(path, "r") as f:
                uns = f["uns"] if "uns" in f else None
                out = {k: read_elem(uns[k]) for k in keys if uns is not None and k in uns}
    except (OSError, KeyError, ValueError) as e:
        msg = f"cannot read {str(path)!r} as .h5ad or zarr ({e}). Is the file complete?"
        raise ValueError(msg) from e
    return UnsHolder(out)
