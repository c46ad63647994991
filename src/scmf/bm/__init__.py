"""Benchmarks: AnnData in, ``adata.uns["scmf_bench"]`` out, one tidy table out of it."""

from __future__ import annotations

from .._store import Result
from ._benchmark import Prepared, Score, benchmark, benchmarks, declaration, register_benchmark
from ._cell_cycle import cell_cycle_conservation
from ._compare import AggregateTable, aggregate_table, compare, comparison_table, rank_summary, summary
from ._config import BenchmarkConfig, EvalConfig, load_config
from ._cz import CZ_TASKS as CZ_TASKS  # package-level table for the CLI
from ._cz import cz_batch_integration, cz_clustering, cz_embedding, cz_label_prediction
from ._cz_perturbation import cz_perturbation_expression_prediction
from ._cz_species import (
    cz_cross_species_integration,
    cz_cross_species_label_prediction,
    cz_sequential_organization,
)
from ._embedding_quality import embedding_quality
from ._grn import grn_inference
from ._guide import Benchmark, EvalHarness, get_benchmark
from ._harness import EvalReport, evaluate
from ._harness import as_datasets as as_datasets  # package-level helpers for the CLI
from ._harness import read_dataset as read_dataset
from ._invariance import invariance
from ._label_efficiency import label_efficiency
from ._label_prediction import label_prediction
from ._label_transfer import label_transfer
from ._linear_probe import linear_probe
from ._metrics import knn as neighbors
from ._perturbation import perturbation
from ._perturbation_response import perturbation_response
from ._registry import BenchmarkSpec, Metric
from ._results import collect, read_json, results, to_json
from ._scib import pre_integration_pca, scib, scib_table
from ._trajectory import trajectory_conservation

__all__ = [
    "AggregateTable",
    "Benchmark",
    "BenchmarkConfig",
    "BenchmarkSpec",
    "EvalConfig",
    "EvalHarness",
    "EvalReport",
    "Metric",
    "Prepared",
    "Result",
    "Score",
    "aggregate_table",
    "benchmark",
    "benchmarks",
    "cell_cycle_conservation",
    "collect",
    "compare",
    "comparison_table",
    "cz_batch_integration",
    "cz_clustering",
    "cz_cross_species_integration",
    "cz_cross_species_label_prediction",
    "cz_embedding",
    "cz_label_prediction",
    "cz_perturbation_expression_prediction",
    "cz_sequential_organization",
    "declaration",
    "embedding_quality",
    "evaluate",
    "get_benchmark",
    "grn_inference",
    "invariance",
    "label_efficiency",
    "label_prediction",
    "label_transfer",
    "linear_probe",
    "load_config",
    "neighbors",
    "perturbation",
    "perturbation_response",
    "pre_integration_pca",
    "rank_summary",
    "read_json",
    "register_benchmark",
    "results",
    "scib",
    "scib_table",
    "summary",
    "to_json",
    "trajectory_conservation",
]
