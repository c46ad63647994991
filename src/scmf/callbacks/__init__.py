"""Evaluation during training: a framework-agnostic core and a PyTorch Lightning callback.

``Assessment`` embeds validation AnnData with the model being trained every
``every_n_epochs`` and runs the configured benchmarks, returning metrics named
``assessment/{benchmark}/{dataset}/{metric}`` and keeping a tidy history (one row per
epoch and metric; ``write_history`` stores it in ``adata.uns["scmf"]["history"]``). ``AssessmentCallback`` (needs
``scmf[lightning]``) calls it from a Lightning ``Trainer``.
"""

from __future__ import annotations

from typing import Any

from ._core import Assessment

__all__ = ["Assessment", "AssessmentCallback"]


def __getattr__(name: str) -> Any:
    if name == "AssessmentCallback":
        try:
            from ._lightning import AssessmentCallback
        except ImportError as e:
            msg = f'scmf.callbacks.AssessmentCallback needs PyTorch Lightning: pip install "scmf[lightning]" ({e})'
            raise ImportError(msg) from e
        return AssessmentCallback
    msg = f"module 'scmf.callbacks' has no attribute {name!r}"
    raise AttributeError(msg)
