from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from ._core import Assessment


class AssessmentCallback(pl.Callback):
    """Run scmf benchmarks on validation data every ``every_n_epochs`` during Lightning training.

    At the end of a training epoch (after its validation loop) it embeds the validation
    AnnData with the module being trained and logs ``assessment/{benchmark}/{dataset}/{metric}``
    through every logger of the trainer. It does nothing during the sanity-check pass and on
    ranks other than global rank zero, and leaves the module in the train mode and on the
    device it found it. Arguments are those of :class:`scmf.callbacks.Assessment`, plus
    ``module_attr``: the attribute of the LightningModule holding the model with ``encode``
    (default: the LightningModule itself if it has ``encode``, else ``.model``).
    """

    def __init__(self, config: Any, datasets: Any, *, module_attr: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.assessment = Assessment(config, datasets, **kwargs)
        self.module_attr = module_attr

    @property
    def history(self):
        return self.assessment.history

    def _module(self, pl_module):
        if self.module_attr is not None:
            return getattr(pl_module, self.module_attr)
        return pl_module if callable(getattr(pl_module, "encode", None)) else pl_module.model

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch
        if not self.assessment.should_run(epoch):
            return
        metrics = self.assessment.run(self._module(pl_module), epoch, step=trainer.global_step)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
