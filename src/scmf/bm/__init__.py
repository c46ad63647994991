"""Benchmarks: AnnData in, ``adata.uns["scmf_bench"]`` out, one tidy table out of it."""

from __future__ import annotations

from ._benchmark import Metric, Prepared, Score, benchmark, metric_info
from ._compare import compare, rank_summary, summary
from ._config import BenchmarkConfig, EvalConfig, load_config
from ._cz import cz_batch_integration, cz_clustering, cz_embedding, cz_label_prediction
from ._embedding_quality import embedding_quality
from ._grn import grn_inference
from ._harness import EvalReport, evaluate
from ._linear_probe import linear_probe
from ._perturbation import perturbation
from ._registry import BenchmarkSpec, benchmarks, get_benchmark, register_benchmark
from ._results import collect, read_json, results, to_json

__all__ = [
    "Metric",
    "Prepared",
    "Score",
    "benchmark",
    "compare",
    "metric_info",
    "rank_summary",
    "summary",
    "BenchmarkConfig",
    "BenchmarkSpec",
    "EvalConfig",
    "EvalReport",
    "benchmarks",
    "collect",
    "cz_batch_integration",
    "cz_clustering",
    "cz_embedding",
    "cz_label_prediction",
    "embedding_quality",
    "evaluate",
    "get_benchmark",
    "grn_inference",
    "linear_probe",
    "load_config",
    "perturbation",
    "read_json",
    "register_benchmark",
    "results",
    "to_json",
]
