"""Settings read from the environment, shared by datasets and models."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path | None:
    """The folder named by ``SCMF_DATA_DIR`` (pre-fetched public datasets), or ``None``."""
    d = os.environ.get("SCMF_DATA_DIR")
    return Path(d) if d else None
