"""scmf's warning class and the one way scmf warns: pointing at the user's line."""

from __future__ import annotations

import sys
import warnings


class ScmfWarning(UserWarning):
    """A warning about the data or parameters that scmf worked around (documented fallback)."""


def _outside_scmf_level() -> int:
    """The ``stacklevel`` of the first frame outside scmf, counted from :func:`warn`'s caller."""
    frame = sys._getframe(2)  # the caller of warn()
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "scmf":
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = ScmfWarning) -> None:
    """Warn with the location of the first frame outside scmf: the user's line on every route
    (a direct call, ``get_benchmark().run``, :func:`scmf.bm.evaluate`, the CLI)."""
    warnings.warn(message, category, stacklevel=_outside_scmf_level())
