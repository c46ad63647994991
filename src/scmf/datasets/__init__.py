"""Datasets: the public datasets' registry and loaders, scanpy's PBMC data, seeded toy generators."""

from __future__ import annotations

from ._builtin import data_dir, pbmc68k, toy, toy_perturbation
from ._lazy import read_lazy
from ._registry import DatasetEntry, fetch, load, registry

__all__ = [
    "DatasetEntry",
    "data_dir",
    "fetch",
    "load",
    "pbmc68k",
    "read_lazy",
    "registry",
    "toy",
    "toy_perturbation",
]
