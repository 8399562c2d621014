"""Honest step logs around skipped (non-finite) iterations.

Lightning logs each row of metrics.csv at the count of batches that went through `training_step`, and
re-logs every value of the epoch's last `self.log` call until it is logged again. With skipped
iterations that gives rows ahead of the real iteration and copies of the last finite losses. Here:

- `IterationStep` (callback, listed first): each batch logs at `trainer.global_step`, the index of the
  iteration it trains or tries (a skipped batch logs at the index of the iteration it failed to do).
- `forget_logged(module, prefix)`: a skipped iteration drops the values logged by earlier steps, so its
  row carries only what it measured (the skip counter), never stale losses.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl


class IterationStep(pl.Callback):
    """Keep the logger's step equal to the iteration (`global_step`), whatever batches were skipped."""

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        trainer.fit_loop.epoch_loop._batches_that_stepped = trainer.global_step


def forget_logged(module: pl.LightningModule, prefix: str) -> None:
    """Drop the step values logged under names starting with `prefix` (until they are logged again)."""
    results = module.trainer._results
    if results is None:
        return
    for result in results.values():
        if result.meta.name.startswith(prefix):
            result.reset()
