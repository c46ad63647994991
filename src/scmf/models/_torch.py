"""Running a tokenised PyTorch model over cells: the adapter behind ``tl.embed``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._tokenizers import Tokenizer


def resolve_device(device: str | None = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available, else ``"mps"`` if available, else ``"cpu"``."""
    import torch

    if device in (None, "auto"):
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as e:
        msg = f"device={device!r} is not a torch device ('auto', 'cpu', 'cuda', 'cuda:1', 'mps')."
        raise ValueError(msg) from e
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        msg = f"device={device!r} requested but CUDA is not available here; use device='auto' or 'cpu'."
        raise ValueError(msg)
    return str(device)


@dataclass
class TokenizedModel:
    """A PyTorch module plus the tokenizer that feeds it: scmf's model protocol for transformers.

    ``module.encode(input_ids, values, attention_mask)`` takes ``(batch, length)`` tensors
    (int64, float32, bool) and returns ``(batch, d)`` cell embeddings. Any module with such a
    method works, with one of scmf's tokenizers; :func:`scmf.tl.embed` matches the genes once,
    tokenises batch by batch (padded to the longest cell, cells of similar length batched
    together), runs the module in eval mode under ``torch.inference_mode`` and restores
    its mode afterwards.
    """

    module: Any
    tokenizer: Tokenizer
    name: str = "model"
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not callable(getattr(self.module, "encode", None)):
            msg = f"{type(self.module).__name__} has no encode(input_ids, values, attention_mask) method."
            raise TypeError(msg)

    def params(self) -> dict:
        return {"model": self.name, "tokenizer": self.tokenizer.config(), **self.info}


def run_batches(model: TokenizedModel, batches, *, device: str, progress=None) -> list[np.ndarray]:
    """Embed pre-tokenised batches ``(ids, values, mask)`` (numpy) -> float32 arrays."""
    import torch

    module = model.module
    was_training = bool(getattr(module, "training", False))
    prev_device = _device_of(module)
    if prev_device is not None and str(prev_device) != device:
        module.to(device)
    if hasattr(module, "eval"):
        module.eval()
    out = []
    try:
        with torch.inference_mode():
            for ids, values, mask in batches:
                res = module.encode(
                    torch.from_numpy(ids).to(device),
                    torch.from_numpy(values).to(device),
                    torch.from_numpy(mask).to(device),
                )
                out.append(res.detach().to("cpu", torch.float32).numpy())
                if progress is not None:
                    progress.update(ids.shape[0])
    finally:
        if hasattr(module, "train"):
            module.train(was_training)
        if prev_device is not None and str(prev_device) != device:
            module.to(prev_device)
    return out


def _device_of(module):
    try:
        return next(module.parameters()).device
    except (StopIteration, AttributeError, TypeError):
        return None
