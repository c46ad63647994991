"""Plots that only read what the benchmarks stored."""

from __future__ import annotations

__all__: list[str] = []
