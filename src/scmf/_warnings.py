from __future__ import annotations


class ScmfWarning(UserWarning):
    """A warning about the data or parameters that scmf worked around (documented fallback)."""
