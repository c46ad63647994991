"""The only writer/reader of ``adata.uns["scmf"]``: embedding parameters and training history.

``uns["scmf"]["params"][obsm_key]`` holds the parameters of each embedding written by
:func:`scmf.tl.embed`; ``uns["scmf"]["history"]`` the benchmark history of a training run
(:meth:`scmf.callbacks.Assessment.write_history`). Values are encoded like the results store's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._keys import UNS_KEY
from ._store import encode

if TYPE_CHECKING:
    from anndata import AnnData

HISTORY_KEY = "history"
NAME_KEY = "dataset_name"


def write_dataset_name(adata: AnnData, name: str) -> None:
    """Record the name results of ``adata`` are stored under by default (see :func:`dataset_name`)."""
    uns = dict(adata.uns.get(UNS_KEY, {}))
    uns[NAME_KEY] = str(name)
    adata.uns[UNS_KEY] = uns


def dataset_name(adata: AnnData) -> str | None:
    """The data's own name: recorded by scmf's loaders, else the stem of a backed file, else ``None``."""
    name = adata.uns.get(UNS_KEY, {}).get(NAME_KEY) if hasattr(adata, "uns") else None
    if name:
        return str(name)
    filename = getattr(adata, "filename", None) if getattr(adata, "isbacked", False) else None
    if filename:
        from pathlib import Path

        return Path(filename).stem
    return None


def check_writable(adata: AnnData) -> None:
    """Refuse, before anything is written, an ``uns["scmf"]`` that another tool uses otherwise."""
    from collections.abc import Mapping

    uns = adata.uns.get(UNS_KEY, {})
    if not isinstance(uns, Mapping) or not isinstance(uns.get("params", {}), Mapping):
        msg = (
            f"adata.uns[{UNS_KEY!r}] holds something that is not scmf's ({type(uns).__name__}); scmf records "
            f"embedding parameters there. Move it (adata.uns['other'] = adata.uns.pop({UNS_KEY!r})) and retry."
        )
        raise ValueError(msg)


def write_embedding_params(adata: AnnData, key: str, params: dict[str, Any]) -> None:
    """Record the parameters of ``obsm[key]`` (replacing only that key's)."""
    check_writable(adata)
    uns = dict(adata.uns.get(UNS_KEY, {}))
    all_params = dict(uns.get("params", {}))
    all_params[key] = encode(params, "params")
    uns["params"] = all_params
    adata.uns[UNS_KEY] = uns


def embedding_params(adata: AnnData, key: str) -> dict[str, Any]:
    """The recorded parameters of ``obsm[key]`` (empty when scmf did not make it)."""
    return dict(adata.uns.get(UNS_KEY, {}).get("params", {}).get(key, {}))


def write_history(adata: AnnData, columns: dict[str, Any]) -> None:
    """Store a training history as h5ad-safe columns."""
    uns = dict(adata.uns.get(UNS_KEY, {}))
    uns[HISTORY_KEY] = {c: v.astype(str) if v.dtype == object else v for c, v in columns.items()}
    adata.uns[UNS_KEY] = uns


def read_history(adata: AnnData) -> dict[str, Any] | None:
    """The stored training history columns, or ``None``."""
    return adata.uns.get(UNS_KEY, {}).get(HISTORY_KEY)
