"""Progress bars for steps that take a while: one bar per call, advanced from wherever the work is.

A benchmark's runner opens a bar (:func:`bar`) sized in units its scoring steps report
(probe fits, Leiden resolutions, ...); code deep inside calls :func:`advance` without
knowing whether a bar is open. Bars are shown when ``progress=True``, or with
``progress=None`` when writing to a terminal and scanpy's verbosity is at least
``"warning"`` (its default); ``progress=False`` or ``sc.settings.verbosity = 0`` silence them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_CURRENT: ContextVar[Any] = ContextVar("scmf_progress", default=None)


def enabled(progress: bool | None) -> bool | None:
    """tqdm's ``disable`` flag inverted: ``True`` show, ``False`` hide, ``None`` terminal only."""
    if progress is not None:
        return bool(progress)
    sc = sys.modules.get("scanpy")
    if sc is not None:
        try:
            if int(sc.settings.verbosity) < 1:
                return False
        except (TypeError, ValueError):
            pass
    return None


def tqdm_kwargs(progress: bool | None) -> dict:
    show = enabled(progress)
    # an explicit progress=True keeps the finished bar on screen; automatic bars clear themselves
    return {"disable": None if show is None else not show, "leave": progress is True, "dynamic_ncols": True}


@contextlib.contextmanager
def bar(total: int, desc: str, *, progress: bool | None, unit: str = "step") -> Iterator[Any]:
    """Open a bar of ``total`` units for the duration of the block; :func:`advance` moves it."""
    from tqdm.auto import tqdm

    b = tqdm(total=total, desc=desc, unit=unit, **tqdm_kwargs(progress))
    token = _CURRENT.set(b)
    try:
        yield b
    finally:
        _CURRENT.reset(token)
        b.close()


def advance(n: int = 1) -> None:
    """Move the open bar by ``n`` units (nothing when no bar is open)."""
    b = _CURRENT.get()
    if b is not None:
        b.update(n)
