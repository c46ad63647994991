"""The report's inputs: evaluated files and objects as named sources, with what plots read."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import _store
from .._keys import BENCH_KEY, UNS_KEY


@dataclass
class Source:
    name: str
    kind: str  # "AnnData", "h5ad", "zarr", "JSON"
    holder: Any = None  # what plots read stored results from (an AnnData or its uns)
    file: Path | None = None
    size: int | None = None
    table: pd.DataFrame | None = None
    embed_params: dict = field(default_factory=dict)
    _stored: dict | None = None

    @property
    def stored(self) -> dict[tuple[str, str, str], Any]:
        """Each stored result by (benchmark, dataset, rep), read once."""
        if self._stored is None:
            found = _store.iter_results(self.holder) if self.holder is not None else []
            self._stored = {(r.benchmark, r.dataset, r.rep): r for r in found}
        return self._stored

    def plotted(self, bench: str, dataset: str) -> Any:
        """What plots read for one benchmark on one dataset: only those entries (plots search
        what they are given, so a large store is not read once per figure)."""
        store = self.holder.uns.get(BENCH_KEY, {})
        entries = store.get(bench, {}).get(dataset) if isinstance(store, Mapping) else None
        if not isinstance(entries, Mapping):
            return self.holder
        return _store.UnsHolder({BENCH_KEY: {bench: {dataset: dict(entries)}}})


def read_sources(data: Any, notes: list[str]) -> list[Source]:
    from anndata import AnnData

    if isinstance(data, str | os.PathLike | AnnData):
        data = [data]
    if isinstance(data, Mapping):
        named = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, Sequence) and not isinstance(data, str):
        named = list(zip(_store.source_names(list(data)), data, strict=True))
    else:
        msg = (
            "report: data must be evaluated files, AnnData objects, a list of them or a mapping "
            f"{{name: item}}, got {type(data).__name__}."
        )
        raise TypeError(msg)
    out = []
    for name, item in named:
        src = _source(name, item, notes)
        if src is None:
            continue
        if src.table.empty:
            notes.append(
                f"{_label(src)} holds no scmf results (run a scmf.bm benchmark on it first); left out."
            )
            continue
        out.append(src)
    return out


def _source(name: str, item: Any, notes: list[str]) -> Source | None:
    from anndata import AnnData

    from ..bm import read_json

    if isinstance(item, AnnData):
        return _from_store(Source(name, "AnnData", holder=item))
    if not isinstance(item, str | os.PathLike):
        notes.append(f"source {name!r} is a {type(item).__name__}, not an AnnData or a file; left out.")
        return None
    p = Path(item)
    if not p.exists():
        notes.append(f"{p} does not exist; left out.")
        return None
    size = _size(p)
    try:
        if p.suffix == ".json":
            src = Source(name, "JSON", file=p, size=size)
            src.table = read_json(p, replicates=True)
            return src
        holder = _store.read_file_uns(p, (BENCH_KEY, UNS_KEY))
        kind = "zarr" if p.is_dir() or p.suffix == ".zarr" else "h5ad"
        return _from_store(Source(name, kind, holder=holder, file=p, size=size))
    except (ValueError, OSError, TypeError, json.JSONDecodeError) as e:
        notes.append(f"{p} could not be read ({e}); left out.")
        return None


def _from_store(src: Source) -> Source:
    """``src`` with its table, its results by key and its embeddings' parameters, from one read
    of its store."""
    found = list(_store.iter_results(src.holder))
    src._stored = {(r.benchmark, r.dataset, r.rep): r for r in found}
    src.table = _store.to_frame(found, replicates=True)
    embedded = src.holder.uns.get(UNS_KEY, {})
    src.embed_params = dict(embedded.get("params", {})) if isinstance(embedded, Mapping) else {}
    return src


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def _label(src: Source) -> str:
    return f"{src.file}" if src.file is not None else f"the AnnData {src.name!r}"


def context_name(source: str, dataset: str) -> str:
    return f"{source} · {dataset}" if source else str(dataset)


def inputs_table(sources: list[Source]) -> list[dict[str, Any]]:
    out = []
    for s in sources:
        stamps = sorted(_timestamps(s))
        out.append(
            {
                "name": s.name or "(one input)", "kind": s.kind, "file": str(s.file) if s.file else "in memory",
                "size": _human(s.size) if s.size is not None else "–", "n_results": int(s.table.groupby(["benchmark", "dataset", "rep"]).ngroups),
                "evaluated": f"{stamps[0]} – {stamps[-1]}" if len(stamps) > 1 else (stamps[0] if stamps else "not recorded"),
                "versions": ", ".join(sorted(versions(s))) or "not recorded",
            }
        )  # fmt: skip
    return out


def _provenances(s: Source) -> list[dict]:
    return [r.provenance for r in s.stored.values()]


def _timestamps(s: Source) -> set[str]:
    return {str(p["timestamp"]) for p in _provenances(s) if p.get("timestamp")}


def versions(s: Source) -> set[str]:
    return {str(p["scmf"]) for p in _provenances(s) if p.get("scmf")}


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)  # pragma: no cover
