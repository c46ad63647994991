"""The one place a model argument becomes the model that runs.

Every route that embeds (``tl.embed`` in memory, on Dask blocks or on a cluster, the
harness, configs, the CLI, the training callback) passes what the user named through
:func:`resolve`, once, so a checkpoint path, its loader options and the seed of a recipe
that samples mean the same thing on every route.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: names of the embeddings scmf computes itself from the expression
from .._keys import BASELINES
from .._warnings import warn
from ._protocol import model_name

__all__ = ["BASELINES", "resolve"]


def resolve(model: Any, *, tokenizer: Any = None, seed: int | None = None, **options: Any) -> Any:
    """The model :func:`scmf.tl.embed` runs for ``model``.

    Parameters
    ----------
    model
        A baseline name (returned as it is), a checkpoint directory (loaded with
        :func:`scmf.models.load`), or a model object (returned as it is).
    tokenizer
        A :class:`~scmf.models.Tokenizer` to run the model with: a PyTorch module with
        ``encode`` becomes a :class:`~scmf.models.TokenizedModel`; a loaded checkpoint gets it in
        place of its own (same vocabulary; its ``max_len`` capped at the checkpoint's).
    seed
        Seed of the random draws of a checkpoint whose recipe samples (scGPT, UCE), given to
        its loader (``None``: the loader's default, 0). A model object keeps the seed it was
        loaded with.
    **options
        The checkpoint loader's options (see :func:`scmf.models.format_info`); only for a
        checkpoint directory.

    Examples
    --------
    >>> import scmf
    >>> scmf.models.resolve("pca")
    'pca'
    """
    if isinstance(model, str) and model in BASELINES:
        if options:
            msg = f"model options {sorted(options)} apply to checkpoint directories, not to the {model!r} baseline."
            raise ValueError(msg)
        return model  # baselines read the expression, never tokens
    if isinstance(model, str | os.PathLike):
        if not Path(model).exists():
            msg = (
                f"Unknown model {str(model)!r}: pass one of {list(BASELINES)}, a checkpoint directory, or a model "
                "object (see scmf.models)."
            )
            raise ValueError(msg)
        if "seed" in options:
            given = options.pop("seed")
            if seed is not None and given is not None and int(given) != int(seed):
                msg = f"two seeds for one model: seed={seed} and the loader option seed={given}; give one."
                raise ValueError(msg)
            seed = given if given is not None else seed
        from ._load import load

        model = load(model, seed=seed, **options)
    elif options:
        msg = f"model options {sorted(options)} apply to checkpoint directories; a model object is used as it is."
        raise ValueError(msg)
    if tokenizer is not None:
        model = _with_tokenizer(model, tokenizer)
    return model


def _with_tokenizer(model: Any, tokenizer: Any) -> Any:
    from dataclasses import replace

    import numpy as np

    from ._tokenizers import Tokenizer
    from ._torch import TokenizedModel

    if not isinstance(tokenizer, Tokenizer):
        msg = f"tokenizer must be a scmf.models.Tokenizer (see scmf.models.get_tokenizer), got {type(tokenizer).__name__}."
        raise TypeError(msg)
    if isinstance(model, TokenizedModel):
        own = model.tokenizer
        if len(own.vocab) != len(tokenizer.vocab) or not np.array_equal(
            own.vocab.tokens, tokenizer.vocab.tokens
        ):
            msg = "the tokenizer's vocabulary is not the checkpoint's; build it from the vocabulary loaded with the model."
            raise ValueError(msg)
        if tokenizer.max_len > own.max_len:
            warn(
                f"the checkpoint reads at most {own.max_len} gene tokens per cell; tokenizer max_len "
                f"{tokenizer.max_len} capped to {own.max_len}."
            )
            tokenizer = replace(tokenizer, max_len=own.max_len)
        return TokenizedModel(model.module, tokenizer, name=model.name, info=dict(model.info))
    return TokenizedModel(model, tokenizer, name=model_name(model))
