from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

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


@runtime_checkable
class Recipe(Protocol):
    """What a :class:`scmf.models.TokenizedModel` needs from its tokenizer: a model's input recipe.

    A recipe matches the data's genes to the model's vocabulary once per run and encodes row
    chunks of cells into padded token arrays. Everything optional a published recipe needs
    (a random stream that runs from cell to cell, a gene filter over the whole data, batches
    of fixed consecutive cells, per-cell annotations) is a hook of :class:`RecipeHooks`, whose
    defaults do nothing; recipes inherit it and override what they use. The one function that
    calls the hooks is :func:`scmf.models.plan_tokens` (with the chunk loop of
    ``TokenizedModel.embed_adata``), so every route through scmf (in memory, Dask blocks, a
    cluster, the training dataset) applies them alike.

    Attributes
    ----------
    vocab
        The :class:`~scmf.models.GeneVocab` the token ids index.
    kind
        What values the encoder expects (``"rank_value"``, ``"binned"``, ``"counts"``, ...);
        :func:`scmf.tl.embed` warns when the data look otherwise.
    add_cls, add_eos
        Whether each cell's tokens start with ``<cls>`` / end with ``<eos>`` (gene counts for
        the empty-cell check).
    """

    vocab: Any
    kind: str
    add_cls: bool
    add_eos: bool

    def match(
        self, var, var_names, *, gene_key: str | None = None, id_type: str = "auto"
    ) -> tuple[Any, np.ndarray]:
        """``(GeneMatch, per-gene scale)`` of the data's genes to :attr:`vocab`."""
        ...

    def encode(
        self, X, gene_tok: np.ndarray, gene_scale: np.ndarray | None = None, *, input_scale: str = "counts"
    ):
        """Row chunk ``X`` (CSR, cells x data genes) -> :class:`~scmf.models.Tokens`."""
        ...

    def config(self) -> dict:
        """The recipe's settings, recorded with every embedding."""
        ...


class RecipeHooks:
    """The optional steps of a :class:`Recipe`, with defaults that do nothing.

    ``uses_obs``
        ``encode`` also takes ``obs=`` (the chunk's cell annotations).
    ``batch_group``
        The model's output for a cell depends on its batch: cells go to the model in batches
        of exactly this many consecutive cells (``None``: batches of similar length).
    """

    uses_obs: bool = False
    batch_group: int | None = None

    def begin(self) -> None:
        """Called once at the start of every embedding run: restart random streams."""

    def restrict(self, match: Any, X: Any, n_obs: int) -> Any:
        """A gene filter computed on the whole data (after matching, before any chunk)."""
        return match

    def model_tokens(self, token_ids: np.ndarray) -> np.ndarray:
        """The ids the model's module reads for the data genes' matched ``token_ids`` (``-1`` kept):
        the same ids, unless the recipe indexes a gene table of its own (UCE)."""
        return token_ids

    def get_state(self) -> Any:
        """The state of the random stream that runs from cell to cell (``None``: the recipe draws nothing).

        A recipe with a state is run in the data's order, the state handed from one block of
        cells to the next, so that its embedding does not depend on how the cells are split.
        """
        return None

    def set_state(self, state: Any) -> None:
        """Continue the random stream from ``state`` (a value :meth:`get_state` returned)."""
