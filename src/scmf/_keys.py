"""Default key names, in one place."""

from __future__ import annotations

EMBED_KEY = "X_scmf"
"""Default ``obsm`` key for a model's cell embedding."""

UNS_KEY = "scmf"
"""``uns`` key for embedding parameters: ``uns["scmf"]["params"][obsm_key]``."""

BENCH_KEY = "scmf_bench"
"""``uns`` key of the results store."""

PCA_BASELINE_KEY = "X_pca_baseline"
RANDOM_BASELINE_KEY = "X_random_baseline"

DEFAULT_DATASET = "dataset"
"""Dataset name used when a benchmark is called without ``dataset_name``."""
