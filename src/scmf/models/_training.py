"""Training scmf's reference model with a masked-gene objective (small, for CPUs and tests).

``TokenDataset`` tokenises an AnnData once; ``masked_gene_loss`` hides a share of each
cell's gene tokens and scores the model's guesses; ``ReferenceLitModule`` wraps both for
PyTorch Lightning (optional extra ``scmf[lightning]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from anndata import AnnData

    from ._reference import ReferenceModel
    from ._tokenizers import Tokenizer


class TokenDataset(torch.utils.data.Dataset):
    """All cells of ``adata`` tokenised once; items are (ids, values, length)."""

    def __init__(
        self, adata: AnnData, tokenizer: Tokenizer, *, gene_key=None, input_scale: str = "auto"
    ) -> None:
        from .._expression import expression_source, rows_csr
        from ._tokenizers import input_scale_of

        match, scale = tokenizer.match(adata.var, adata.var_names, gene_key=gene_key)
        X = rows_csr(expression_source(adata, None), 0, adata.n_obs)
        t = tokenizer.encode(
            X, match.token_ids, scale, input_scale=input_scale_of(X, input_scale, tokenizer.kind)
        )
        self.ids = torch.from_numpy(t.ids)
        self.values = torch.from_numpy(t.values)
        self.lengths = torch.from_numpy(t.lengths)

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, i):
        return self.ids[i], self.values[i], self.lengths[i]

    @staticmethod
    def collate(items):
        ids, values, lengths = map(torch.stack, zip(*items, strict=True))
        width = max(int(lengths.max()), 1)
        mask = torch.arange(width)[None, :] < lengths[:, None]
        return ids[:, :width], values[:, :width], mask


def masked_gene_loss(
    model: ReferenceModel, ids, values, mask, *, mask_id: int, p: float = 0.15, generator=None
) -> torch.Tensor:
    """Cross-entropy of the model's guesses for a random ``p`` of each cell's gene tokens.

    Examples
    --------
    >>> import torch
    >>> from scmf.models import ReferenceConfig, ReferenceModel, masked_gene_loss
    >>> model = ReferenceModel(ReferenceConfig(vocab_size=50, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_len=10))
    >>> ids = torch.randint(4, 50, (3, 11)); ids[:, 0] = 2  # <cls> first
    >>> mask = torch.ones(3, 11, dtype=torch.bool)
    >>> loss = masked_gene_loss(model, ids, torch.zeros(3, 11), mask, mask_id=1, p=0.5)
    >>> bool(loss > 0)
    True
    """
    genes = mask.clone()
    if model.config.cls:
        genes[:, 0] = False
    hide = (torch.rand(ids.shape, generator=generator, device=ids.device) < p) & genes
    hide[genes.any(1) & ~hide.any(1), 0] = False  # nothing to learn from cells without a hidden gene
    labels = torch.where(hide, ids, torch.full_like(ids, -100))
    logits = model.mlm_logits(ids.masked_fill(hide, mask_id), values, mask)
    if not hide.any():
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
    )


def lit_module(model: ReferenceModel, *, mask_id: int, lr: float = 1e-3, p: float = 0.15):
    """A LightningModule training ``model`` with :func:`masked_gene_loss` (AdamW).

    Examples
    --------
    >>> from scmf.models import ReferenceConfig, ReferenceModel, lit_module
    >>> model = ReferenceModel(ReferenceConfig(vocab_size=50, d_model=8, n_layers=1, n_heads=2, d_ff=16))
    >>> module = lit_module(model, mask_id=1, lr=1e-3)
    >>> module.model is model
    True
    """
    try:
        import lightning.pytorch as pl
    except ImportError as e:
        msg = 'training with Lightning needs the extra: pip install "scmf[lightning]"'
        raise ImportError(msg) from e

    class ReferenceLitModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model
            self.gen = torch.Generator().manual_seed(0)

        def encode(self, ids, values, mask):
            return self.model.encode(ids, values, mask)

        def training_step(self, batch, batch_idx):
            loss = masked_gene_loss(self.model, *batch, mask_id=mask_id, p=p, generator=self.gen)
            self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=False)
            return loss

        def validation_step(self, batch, batch_idx):
            g = torch.Generator().manual_seed(batch_idx)
            loss = masked_gene_loss(self.model, *batch, mask_id=mask_id, p=p, generator=g)
            self.log("val_loss", loss, on_step=False, on_epoch=True)
            return loss

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=lr)

    return ReferenceLitModule()
