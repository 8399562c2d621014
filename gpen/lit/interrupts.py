"""Keep the work of a run that is interrupted (Ctrl-C) or crashes.

`SaveOnInterrupt`:
- the first Ctrl-C (SIGINT) lets the iteration in flight finish, saves `<dirpath>/last.ckpt` and stops
  cleanly (the EMA export then follows at the end of fit); a second Ctrl-C aborts at once;
- an exception (a KeyboardInterrupt raised elsewhere included) saves `last.ckpt` and the EMA export when
  the state is sound: between iterations, or inside one before the generator stepped. It saves nothing
  after a non-finite stop (the weights are suspect) or half-way through an iteration, and says so.
Single-process runs only save on exceptions: under DDP a crash on one rank would hang the others in the
collective save.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only

from gpen.lit.checkpointing import export_generator_ema
from gpen.lit.module import NonFiniteLossError

log = logging.getLogger(__name__)

#: Errors after which the weights are not worth saving.
UNSOUND = (NonFiniteLossError,)


class SaveOnInterrupt(pl.Callback):
    def __init__(self, dirpath: str, export_filename: str = "generator_ema.pth") -> None:
        self.dirpath = Path(dirpath)
        self.export_path = self.dirpath / export_filename
        self._interrupted = False
        self._previous: Any = None
        self._step_at_batch_start: int | None = None  # None: between iterations

    # ------------------------------------------------------------------ Ctrl-C
    @property
    def stopped_by_signal(self) -> bool:
        """Ctrl-C stopped training (the end-of-training evaluation then waits for the resumed run)."""
        return self._interrupted

    def _handler(self, _signum: int, _frame: Any) -> None:
        if self._interrupted:  # second Ctrl-C: abort now
            raise KeyboardInterrupt
        self._interrupted = True
        rank_zero_info("Ctrl-C: saving last.ckpt after this iteration, then stopping "
                       "(press Ctrl-C again to abort without saving).")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._previous = signal.signal(signal.SIGINT, self._handler)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self._step_at_batch_start = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._step_at_batch_start = None
        if not trainer.strategy.reduce_boolean_decision(self._interrupted, all=False):
            return
        path = self.dirpath / "last.ckpt"
        trainer.save_checkpoint(path)
        rank_zero_info(f"Ctrl-C: saved {path} at iteration {trainer.global_step}, stopping.")
        trainer.should_stop = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def _restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    # ------------------------------------------------------------------ crashes
    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()
        reason = self._unsound(trainer, exception)
        if reason:
            _warn(f"Not saving a checkpoint after {type(exception).__name__}: {reason}.")
            return
        try:
            path = self.dirpath / "last.ckpt"
            trainer.save_checkpoint(path)
            export_generator_ema(pl_module, self.export_path)
        except Exception as error:  # noqa: BLE001 - e.g. a full disk: report it, keep the original error
            _warn(f"Could not save the interrupted run: {error}")
            return
        _warn(f"{type(exception).__name__} at iteration {trainer.global_step}: saved {path} and "
                       f"{self.export_path}; resume with ckpt_path={path}")

    def _unsound(self, trainer: pl.Trainer, exception: BaseException) -> str | None:
        if isinstance(exception, UNSOUND):
            return "the weights of a run with non-finite losses are not worth keeping"
        if trainer.world_size > 1:
            return "saving after a crash is not possible with several processes"
        if self._step_at_batch_start is not None and trainer.global_step != self._step_at_batch_start:
            return "it came half-way through an iteration (generator stepped, the rest not)"
        if trainer.state.fn != TrainerFn.FITTING:
            return "it did not happen during training"
        return None


@rank_zero_only
def _warn(message: str) -> None:
    log.warning(message)
