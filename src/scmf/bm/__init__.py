"""Benchmarks: AnnData in, ``adata.uns["scmf_bench"]`` out, one tidy table out of it."""

from __future__ import annotations

from ._embedding_quality import embedding_quality
from ._grn import grn_inference
from ._linear_probe import linear_probe
from ._perturbation import perturbation
from ._results import collect, read_json, results, to_json

__all__ = [
    "collect",
    "embedding_quality",
    "grn_inference",
    "linear_probe",
    "perturbation",
    "read_json",
    "results",
    "to_json",
]
