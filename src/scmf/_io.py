"""Files scmf writes: atomically (temporary file + rename) and with the permissions the user expects."""

from __future__ import annotations

import contextlib
import contextvars
import math
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np


def _default_mode(path: Path) -> int:
    """Mode for ``path``: an existing file keeps its own; a new one gets ``0o666 & ~umask`` (as ``open`` gives)."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        pass
    return 0o666 & ~_umask()


def write_atomic(path: str | os.PathLike, write: Callable[[str], None], *, suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` on a temporary file next to ``path``, then rename it to ``path``.

    A reader never sees half a file, and a failed write leaves an earlier file untouched. A
    symlink is written through (its target replaced atomically, the link kept); a path that
    exists but is not a regular file (FIFO, device, folder) is refused.
    ``tempfile`` creates the temporary file ``0600``; it gets the mode a plain ``open`` would
    have given (umask respected; an existing file's mode kept) before the rename.
    """
    path = Path(path)
    if path.is_symlink():  # write the file the link names (atomically, beside it); the link stays
        path = path.resolve()
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (a FIFO, socket or device)"
        msg = f"{path} is {kind}; scmf writes regular files only and would replace it. Choose a file path."
        raise ValueError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path, suffix)
    mode = _default_mode(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    with _terminate_as_interrupt():
        try:
            write(tmp)
            os.chmod(tmp, mode)
            staged = _GROUP.get()
            if staged is None:
                os.replace(tmp, path)
            else:  # renamed with the group's other outputs at its end
                staged.append((tmp, path))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


_GROUP: contextvars.ContextVar[list | None] = contextvars.ContextVar("scmf_write_group", default=None)


@contextlib.contextmanager
def all_or_nothing():
    """Within the block, every :func:`write_atomic` writes its temporary file only; at the end all
    are renamed into place together. If anything fails first (a full disk on the last file), no
    output is replaced and the temporaries are removed."""
    staged: list[tuple[str, Path]] = []
    token = _GROUP.set(staged)
    try:
        with _terminate_as_interrupt():
            yield
    except BaseException:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _GROUP.reset(token)
    for tmp, path in staged:
        os.replace(tmp, path)


class Terminated(BaseException):
    """SIGTERM received while writing (raised so that the temporary file is removed)."""


@contextlib.contextmanager
def _terminate_as_interrupt():
    """While writing, SIGTERM (``timeout``, Slurm, ``docker stop``) unwinds like Ctrl-C, so the
    temporary file is removed; then the process exits with the signal's status as it would have."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not settable here (embedded interpreter)
        yield
        return
    try:
        yield
    except Terminated:
        signal.signal(signal.SIGTERM, previous)
        os.kill(os.getpid(), signal.SIGTERM)  # the termination that was asked for
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _remove_stale_temporaries(path: Path, suffix: str) -> None:
    """Remove temporaries of ``path`` left by a writer that was killed (its process is gone)."""
    for tmp in path.parent.glob(f".{path.name}.*{suffix}"):
        parts = tmp.name[len(path.name) + 2 :].split(".")
        if not parts or not parts[0].isdigit():
            continue
        pid = int(parts[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            if tmp.is_dir() and not tmp.is_symlink():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        except PermissionError:
            continue  # alive, another user's


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike):
    """A temporary folder next to ``path`` that becomes ``path`` when the block succeeds.

    The folder-sized :func:`write_atomic`: ``path`` must not exist or be an empty folder
    (nothing is replaced); a reader sees no folder or the whole one, and a failed or killed
    write (SIGTERM included) leaves nothing behind. Files inside are written directly (the
    folder is the unit). Yields the temporary folder's path.
    """
    import shutil

    path = check_new_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path, ".dir.tmp")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".dir.tmp", dir=path.parent))
    with _terminate_as_interrupt():
        try:
            yield tmp
            os.chmod(tmp, 0o777 & ~_umask())
            os.replace(tmp, path)  # POSIX renames a folder onto an empty one
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


def check_new_folder(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it does not exist or is an empty folder; else FileExistsError (checked
    before any work, so that a long run does not end in it)."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        msg = (
            f"{path} exists and is not an empty folder; scmf writes a new folder there and replaces "
            "nothing. Remove it or choose another path."
        )
        raise FileExistsError(msg)
    return path


def write_folder_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)`` in a :func:`staged_folder` for ``path``; returns ``path``."""
    with staged_folder(path) as tmp:
        write(tmp)
    return Path(path)


def _umask() -> int:
    mask = os.umask(0)  # read the umask (there is no getter) and put it back
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`write_atomic`)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return write_atomic(path, write)


def json_safe(value: Any) -> Any:
    """``value`` with arrays as lists, numpy scalars as Python ones, NaN/inf as ``None`` (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_h5ad(path: str | os.PathLike, adata) -> Path:
    """Write ``adata`` to ``path`` as ``.h5ad``, atomically (see :func:`write_atomic`).

    Pandas' nullable string columns (``"string"`` dtype, the default for text in pandas 3) are
    written, not refused: anndata asks for an opt-in (``allow_write_nullable_strings``) because
    anndata < 0.11 cannot read them back; scmf requires a newer anndata, so it opts in.
    """
    import anndata

    def write(tmp: str) -> None:
        settings = anndata.settings
        if hasattr(settings, "allow_write_nullable_strings"):
            with settings.override(allow_write_nullable_strings=True):
                adata.write_h5ad(tmp)
        else:  # pragma: no cover - older anndata writes them unasked
            adata.write_h5ad(tmp)

    return write_atomic(path, write, suffix=".h5ad.tmp")
