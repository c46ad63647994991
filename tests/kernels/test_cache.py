"""Compiled kernels are cached where the user can write, also when the install is read-only,
and scmf still imports (compiling in each process, with a warning) where nothing is writable."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import scmf

pytestmark = pytest.mark.slow  # fresh processes compile a kernel

_RUN = (
    "import warnings, numpy as np\n"
    "warnings.simplefilter('always')\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    from scmf._kernels import _pairwise\n"
    "X = np.random.default_rng(0).random((20, 4)).astype(np.float32)\n"
    "_pairwise.neighbour_distances(X, np.zeros((20, 2), dtype=np.int64))\n"
    "f = _pairwise._neighbour_distances_rows\n"
    "print(len(f.stats.cache_hits), len(f.stats.cache_misses), sum('NUMBA_CACHE_DIR' in str(w.message) for w in caught))\n"
)


def _read_only_install(tmp_path: Path) -> Path:
    """A copy of the package whose own ``__pycache__`` folders cannot be created: each is taken
    by a file. A read-only site-packages behaves the same (this works as root too)."""
    site = tmp_path / "site"
    shutil.copytree(Path(scmf.__file__).parent, site / "scmf", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in [p for p in (site / "scmf").rglob("*") if p.is_dir()] + [site / "scmf"]:
        (folder / "__pycache__").write_text("not a folder")
    return site


def _run(site: Path, cache_home: Path) -> tuple[int, int, int]:
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(cache_home)}
    env.pop("NUMBA_CACHE_DIR", None)
    out = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    hits, misses, warned = map(int, out.stdout.split()[-3:])
    return hits, misses, warned


def test_read_only_install_caches_in_the_users_folder(tmp_path):
    site = _read_only_install(tmp_path)
    cache = tmp_path / "cache"
    assert _run(site, cache) == (0, 1, 0)  # compiled once, no warning
    assert list((cache / "numba").rglob("*_pairwise*.nbi"))  # kept in the user's cache folder
    assert not list(site.rglob("*.nbi"))
    assert _run(site, cache) == (1, 0, 0)  # the next process loads it: no recompile


def test_nowhere_to_cache_still_imports_and_says_so(tmp_path):
    site = _read_only_install(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    hits, _, warned = _run(site, blocked)
    assert (hits, warned) == (0, 1)  # compiled in the process, one warning naming NUMBA_CACHE_DIR
