"""Datasets: scanpy's built-in PBMC data and a seeded toy generator."""

from __future__ import annotations

from ._builtin import data_dir, pbmc68k, toy, toy_perturbation

__all__ = ["data_dir", "pbmc68k", "toy", "toy_perturbation"]
