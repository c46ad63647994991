"""scmf: evaluate single-cell foundation models on AnnData.

``scmf.tl`` puts embeddings (a model's or a baseline's) into ``adata.obsm``,
``scmf.bm`` benchmarks them into ``adata.uns["scmf_bench"]``, ``scmf.pl`` draws
the stored results. ``import scmf`` imports neither torch nor jax.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._warnings import ScmfWarning

try:
    __version__ = version("scmf")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0+unknown"

from . import bm, callbacks, datasets, models, pl, tl
from ._report import report

__all__ = ["ScmfWarning", "__version__", "bm", "callbacks", "datasets", "models", "pl", "report", "tl"]
