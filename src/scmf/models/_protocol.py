from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class EmbeddingModel(Protocol):
    """What :func:`scmf.tl.embed` needs from a model.

    Any object with an ``embed(X, var_names)`` method qualifies: ``X`` is a batch of cells
    (a ``scipy.sparse.csr_matrix`` or a dense ``numpy`` array, cells x genes, in the order of
    ``var_names``) and the return value is a ``(n_cells, d)`` float array (numpy, or anything
    ``numpy.asarray`` accepts). ``d`` must be the same for every batch, and the result for a
    cell must not depend on the other cells of its batch. An optional ``name`` attribute is
    recorded in ``adata.uns["scmf"]["params"]``.

    A model that reads the AnnData itself (to match genes once, stream a backed file, sort
    cells by length, as :class:`scmf.models.TokenizedModel` does) may also define
    ``embed_adata(adata, *, layer, batch_size, device, gene_key, id_type, input_scale,
    progress) -> (embedding, params)``; :func:`scmf.tl.embed` calls it when present.
    """

    def embed(self, X, var_names: np.ndarray) -> np.ndarray: ...


def model_name(model: object) -> str:
    """The name recorded for ``model``: a string as is, else its ``name`` attribute or class name.

    Examples
    --------
    >>> from scmf.models import model_name
    >>> model_name("pca")
    'pca'
    """
    if isinstance(model, str):
        return model
    return str(getattr(model, "name", type(model).__name__))
