"""scmf's warning class and the one way scmf warns: pointing at the user's line."""

from __future__ import annotations

import contextlib
import contextvars
import sys
import warnings
from collections.abc import Iterator

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0, 9), *range(11, 32), 127]} | {
    c: f"\\x{c:02x}" for c in range(0x80, 0xA0)
}


def printable(text: object) -> str:
    r"""``text`` safe for a terminal: control characters (escape sequences, carriage returns,
    bells; C0 and C1 but tab and newline) written out as ``\xNN``, so a label from the data can
    neither move the cursor, retitle the window nor clear the screen.

    Examples
    --------
    >>> from scmf._warnings import printable
    >>> printable("T cell\x1b]0;pwned\x07\x1b[2J")
    'T cell\\x1b]0;pwned\\x07\\x1b[2J'
    """
    return str(text).translate(_CONTROL)


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


_RECORDED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("scmf_warnings", default=None)


def warn(message: str, category: type[Warning] = ScmfWarning) -> None:
    """Warn with the location of the first frame outside scmf: the user's line on every route
    (a direct call, ``get_benchmark().run``, :func:`scmf.bm.evaluate`, the CLI). Inside
    :func:`recording`, the text is also kept (whatever the user's warning filters do with it)."""
    message = printable(message)  # data (labels, names) never reach a terminal raw
    kept = _RECORDED.get()
    if kept is not None and message not in kept:
        kept.append(message)
    warnings.warn(message, category, stacklevel=_outside_scmf_level())


@contextlib.contextmanager
def recording() -> Iterator[list[str]]:
    """Collect the texts of the scmf warnings raised in the block (each once), e.g. to store
    them with a result; the warnings themselves are raised as usual."""
    kept: list[str] = []
    token = _RECORDED.set(kept)
    try:
        yield kept
    finally:
        _RECORDED.reset(token)
