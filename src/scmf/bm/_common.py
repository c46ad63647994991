"""What every benchmark does the same way: names, storing, returning."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _store
from .._keys import DEFAULT_DATASET

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pandas as pd
    from anndata import AnnData


def dataset_name_or_default(dataset_name: str | None) -> str:
    name = DEFAULT_DATASET if dataset_name is None else dataset_name
    _store._check_key(name, "dataset_name")
    return name


def check_splits(test_size: float, n_splits: int) -> None:
    """The split settings every split-based benchmark shares: a fraction and a positive count."""
    if not 0.0 < float(test_size) < 1.0:
        msg = f"test_size must be a fraction in (0, 1), got {test_size!r}."
        raise ValueError(msg)
    if not isinstance(n_splits, int | np.integer) or isinstance(n_splits, bool) or n_splits < 1:
        msg = f"n_splits must be a positive integer, got {n_splits!r}."
        raise ValueError(msg)


def finish(
    adata: AnnData, results: Sequence[_store.Result], *, inplace: bool, key_added: str
) -> pd.DataFrame | None:
    """Store the results (``inplace``) or return them as the tidy table."""
    if inplace:
        _store.write(adata, results, key=key_added)
        return None
    for r in results:  # same checks as storing, so inplace=False fails alike
        r.to_uns()
    return _store.to_frame(results)
