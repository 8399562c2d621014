"""Checkpoint safety for long GAN runs: atomic writes, a preemption handler and the EMA export.

- `AtomicCheckpointIO`: every checkpoint is written to a temporary file in the same folder and then
  `os.replace`d, so a crash or kill mid-write never leaves a half-written `.ckpt` behind (Lightning's
  own writer opens the final path directly).
- `PreemptionCheckpoint`: SIGTERM (SLURM's time limit, preemption), SIGUSR1 and SIGUSR2 save `last.ckpt`
  at the next step boundary and stop cleanly. Under SLURM with auto-requeue, Lightning's SLURMEnvironment
  keeps SIGUSR1. A handler that was there before (submitit's SIGUSR2 "requeue and exit", under
  hydra-submitit-launcher) runs after the save instead of interrupting the step, so a requeued job resumes
  from the step it reached (train.py ckpt_path=auto).
- `export_generator_ema` / `ExportGeneratorEMA`: `<run>/checkpoints/generator_ema.pth` =
  {"params_ema": EMA state dict, "gpen_generator": {"arch", "kwargs"}}, the file inference loads.
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.environments import SLURMEnvironment
from pytorch_lightning.plugins.io import TorchCheckpointIO


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save` to a temp file next to `path`, then rename over it (atomic on POSIX)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic_torch_save(checkpoint, path)


class PreemptionCheckpoint(pl.Callback):
    """On SIGTERM/SIGUSR1/SIGUSR2: save `<dirpath>/last.ckpt` after the current step, then stop (and
    hand the signal on to a handler installed before training, except SIGTERM's: Lightning's own)."""

    def __init__(self, dirpath: str, signals: tuple[str, ...] = ("SIGTERM", "SIGUSR1", "SIGUSR2")) -> None:
        self.dirpath = dirpath
        self.signals = [getattr(signal, name) for name in signals]
        self._received: int | None = None
        self._previous: dict[int, Any] = {}
        self.preempted = False  # True once a signal stopped training (the final evaluation then waits)

    def _handler(self, signum: int, _frame: Any) -> None:
        self._received = signum

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        environment = getattr(trainer.strategy, "cluster_environment", None)
        slurm_requeue = isinstance(environment, SLURMEnvironment) and environment.auto_requeue
        for sig in self.signals:
            if sig == signal.SIGUSR1 and slurm_requeue:
                continue  # Lightning saves and requeues on SLURM's signal
            self._previous[sig] = signal.signal(sig, self._handler)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if not trainer.strategy.reduce_boolean_decision(self._received is not None, all=False):
            return
        trainer.save_checkpoint(os.path.join(self.dirpath, "last.ckpt"))
        pl.utilities.rank_zero_info(f"Signal {self._received}: saved {self.dirpath}/last.ckpt, stopping.")
        trainer.should_stop = True
        self.preempted = True
        previous = self._previous.get(self._received)
        if callable(previous) and self._received != signal.SIGTERM:
            previous(self._received, None)  # e.g. submitit: requeue this job, then exit

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


def find_resume_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest of `<run>/checkpoints/last.ckpt` and Lightning's SLURM `<run>/hpc_ckpt_*.ckpt`, or None."""
    run_dir = Path(run_dir)
    candidates = [p for p in (run_dir / "checkpoints" / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")) if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def export_generator_ema(pl_module: pl.LightningModule, path: str | os.PathLike) -> Path:
    """Write the EMA generator and its constructor spec to `path` (atomically)."""
    state = {k: v.detach().cpu() for k, v in pl_module.generator_ema.state_dict().items()}
    atomic_torch_save({"params_ema": state, "gpen_generator": pl_module.generator_spec}, path)
    return Path(path)


class ExportGeneratorEMA(pl.Callback):
    """At the end of fit, export `<dirpath>/generator_ema.pth` (rank zero only)."""

    def __init__(self, dirpath: str, filename: str = "generator_ema.pth") -> None:
        self.path = Path(dirpath) / filename

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            export_generator_ema(pl_module, self.path)
            pl.utilities.rank_zero_info(f"Exported EMA generator to {self.path}")
