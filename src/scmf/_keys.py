"""Default key names, in one place."""

from __future__ import annotations

EMBED_KEY = "X_scmf"
GENE_EMBED_KEY = "X_scmf_genes"
"""Default ``obsm`` key for a model's cell embedding."""

UNS_KEY = "scmf"
"""``uns`` key for embedding parameters: ``uns["scmf"]["params"][obsm_key]``."""

BENCH_KEY = "scmf_bench"
"""``uns`` key of the results store."""

PCA_BASELINE_KEY = "X_pca_baseline"
RANDOM_BASELINE_KEY = "X_random_baseline"

DEFAULT_DATASET = "dataset"
"""Dataset name used when a benchmark is called without ``dataset_name``."""

BASELINES = ("pca", "random", "hvg", "harmony", "scvi")
"""The baselines :func:`scmf.tl.embed` knows by name (``"random"`` reads no data)."""

USES_BATCH = ("harmony", "scvi")
"""Baselines that read batch labels: integration methods, never zero-shot references."""


def baseline_key(name: str) -> str:
    """The ``obsm`` key :func:`scmf.tl.baselines` writes baseline ``name`` to: ``X_<name>_baseline``."""
    return f"X_{name}_baseline"


def baseline_of(rep: str) -> str | None:
    """The baseline a representation key names (``"X_harmony_baseline"`` -> ``"harmony"``), else None."""
    for name in BASELINES:
        if str(rep).endswith(baseline_key(name)):
            return name
    return None


def rep_kind(rep: str) -> str:
    """How tables label a representation: ``"model"``, ``"baseline"``, or ``"baseline (batch labels)"``.

    Read from the key (``X_<name>_baseline``, as :func:`scmf.tl.baselines` writes it; a
    ``"source · rep"`` name too): batch-aware baselines are integration methods, never
    zero-shot references.
    """
    name = baseline_of(rep)
    if name is None:
        return "model"
    return "baseline (batch labels)" if name in USES_BATCH else "baseline"
