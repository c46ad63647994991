"""Benchmarks: AnnData in, ``adata.uns["scmf_bench"]`` out, one tidy table out of it."""

from __future__ import annotations

from ._embedding_quality import embedding_quality
from ._linear_probe import linear_probe
from ._results import collect, read_json, results, to_json

__all__ = ["collect", "embedding_quality", "linear_probe", "read_json", "results", "to_json"]
