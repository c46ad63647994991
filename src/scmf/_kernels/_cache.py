"""Where numba keeps the compiled kernels, and what happens when it can keep them nowhere.

numba looks for a writable cache folder in this order: ``NUMBA_CACHE_DIR`` when set, the
package's own ``__pycache__``, then the user's cache folder (``$XDG_CACHE_HOME/numba``, by
default ``~/.cache/numba``). A read-only install (a system site-packages, a container image)
therefore caches in the user's folder. Where none of them is writable (a read-only home in a
container), numba refuses ``cache=True`` outright; scmf then compiles its kernels in every
process (some seconds on the first call of each) and says so once, instead of failing to import.
"""

from __future__ import annotations

import warnings


def _probe() -> int:  # pragma: no cover - only decorated, never called
    return 0


def _cache_available() -> bool:
    """Whether numba finds a writable cache folder for this package's kernels (decorating
    compiles nothing; it only looks for the folder)."""
    from numba import njit

    try:
        njit(cache=True)(_probe)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return False
    return True


CACHE = _cache_available()
if not CACHE:
    from .._warnings import ScmfWarning

    warnings.warn(
        "numba has no writable cache folder (the package's __pycache__, $XDG_CACHE_HOME/numba and "
        "NUMBA_CACHE_DIR are all unwritable or unset): scmf's kernels are compiled in every process. "
        "Set NUMBA_CACHE_DIR to a writable folder to keep them.",
        ScmfWarning,
        stacklevel=2,
    )
