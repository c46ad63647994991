from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn

from ._core import Assessment


class AssessmentCallback(pl.Callback):
    """Run scmf benchmarks on validation data every ``every_n_epochs`` during Lightning training.

    Once per assessed epoch, the validation AnnData are embedded with the module being
    trained and the configured benchmarks run on them. The metrics are logged through
    :meth:`~lightning.pytorch.LightningModule.log` as
    ``assessment/{benchmark}/{dataset}/{metric}``: every logger of the trainer receives them
    and they are in ``trainer.callback_metrics``, so ``EarlyStopping(monitor=...)`` and
    ``ModelCheckpoint(monitor=...)`` can use them (the evaluation guide's advice: stop and
    choose checkpoints on linear-probe accuracy).

    When the epoch ends with a validation loop, the assessment runs at the end of that loop
    (before the monitors look at the metrics); otherwise at the end of the training epoch
    (before the monitoring callbacks, which Lightning calls last). The computation happens on
    global rank zero only; under DDP the values are then broadcast so that every rank logs
    the same numbers and the monitors agree (no rank waits on another). Nothing runs during
    the sanity-check pass, and the module is left in the train mode and on the device it
    was found.

    Arguments are those of :class:`scmf.callbacks.Assessment` (including ``monitor``,
    ``patience``: :attr:`assessment` tracks the best value too), plus ``module_attr``: the
    attribute of the LightningModule holding the model with ``encode`` (default: the
    LightningModule itself if it has ``encode``, else ``.model``).

    With ``every_n_epochs > 1`` the metrics exist only on assessed epochs; give
    ``EarlyStopping`` ``check_on_train_epoch_end=True`` and ``strict=False`` then.

    Examples
    --------
    ::

        from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

        key = "assessment/linear_probe/val_data/accuracy"
        trainer = L.Trainer(callbacks=[
            scmf.callbacks.AssessmentCallback("eval.yaml", val_adata, tokenizer=tok),
            EarlyStopping(monitor=key, mode="max", patience=3),
            ModelCheckpoint(monitor=key, mode="max", save_top_k=1),
        ])
    """

    def __init__(self, config: Any, datasets: Any, *, module_attr: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.assessment = Assessment(config, datasets, **kwargs)
        self.module_attr = module_attr
        self._assessed_epoch: int | None = None

    @property
    def history(self):
        return self.assessment.history

    def _module(self, pl_module):
        if self.module_attr is not None:
            return getattr(pl_module, self.module_attr)
        return pl_module if callable(getattr(pl_module, "encode", None)) else pl_module.model

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        # only the validation run that closes the training epoch (not mid-epoch ones)
        if getattr(trainer.fit_loop.epoch_loop.batch_progress, "is_last_batch", True):
            self._assess(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._assess(trainer, pl_module)

    def _assess(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        if self._assessed_epoch == epoch or not self.assessment.should_run(epoch):
            return
        self._assessed_epoch = epoch
        payload: tuple[dict[str, float], str | None] = ({}, None)
        if trainer.is_global_zero:
            try:
                payload = (
                    self.assessment.run(self._module(pl_module), epoch, step=trainer.global_step),
                    None,
                )
            except Exception as e:  # reported on every rank after the broadcast, never a hang
                payload = ({}, f"{type(e).__name__}: {e}")
        metrics, error = trainer.strategy.broadcast(payload, src=0)
        if error is not None:
            msg = f"scmf assessment failed at epoch {epoch}: {error}"
            raise RuntimeError(msg)
        for key, value in metrics.items():
            pl_module.log(key, float(value), on_step=False, on_epoch=True, sync_dist=False)
