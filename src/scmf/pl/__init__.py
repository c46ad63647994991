"""Plots of stored benchmark results (matplotlib; they read ``adata.uns["scmf_bench"]`` only)."""

from __future__ import annotations

from ._plots import (
    benchmark_comparison,
    confusion_matrix,
    embedding,
    embedding_quality,
    f1_per_class,
    grn_curves,
    invariance,
    label_efficiency,
    perturbation,
    perturbation_response,
    perturbation_vs_baseline,
    rank_summary,
    training_history,
)
from ._table import results_table

__all__ = [
    "benchmark_comparison",
    "confusion_matrix",
    "embedding",
    "embedding_quality",
    "f1_per_class",
    "grn_curves",
    "invariance",
    "label_efficiency",
    "perturbation",
    "perturbation_response",
    "perturbation_vs_baseline",
    "rank_summary",
    "results_table",
    "training_history",
]
