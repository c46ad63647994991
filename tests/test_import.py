from __future__ import annotations

import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, scmf;"
        "heavy = [m for m in ('torch', 'jax', 'scanpy', 'scib_metrics', 'sklearn', 'numba') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_namespaces():
    import scmf

    for name in ("tl", "bm", "pl", "models", "datasets"):
        assert hasattr(scmf, name)
    assert callable(scmf.tl.embed) and callable(scmf.bm.linear_probe) and callable(scmf.bm.embedding_quality)
    assert scmf.__version__ != "0+unknown"
