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
  {"params_ema": EMA state dict, "gpen_generator": {"arch", "kwargs"}, "step"}, the file inference loads.
  For a prior run the file holds the StyleGAN2 decoder alone, in the released prior layout. An export
  is never replaced by one from an earlier step (a resumed run that stops early keeps the newer file).
- `TimeBudget`: stops a run after a wall-time budget counted from this process's start (a resumed run
  gets a fresh budget), saving `last.ckpt` at the stopping step and saying how to continue.
"""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import signal
import tempfile
import time
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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; the file gets the mode open() would give
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        full = _disk_full(error)
        if full is not None:
            raise OSError(full.errno, _disk_full_message(obj, path), str(path)) from None
        raise


#: errno values of a full disk or an exhausted quota.
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def _disk_full(error: BaseException | None) -> OSError | None:
    """The full-disk OSError in an exception chain (torch wraps it in RuntimeErrors), else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return error
        error = error.__cause__ or error.__context__
    return None


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def _disk_full_message(obj: Any, path: Path) -> str:
    free = shutil.disk_usage(path.parent).free
    return (f"No space left to write {path.name} in {path.parent}: it needs about "
            f"{_tensor_bytes(obj) / 1e6:.1f} MB, {free / 1e6:.1f} MB are free. The previous {path.name} (if any) "
            "is kept unchanged; free some space (or point paths.run_dir at a larger disk) and resume")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
        self.stopped_by_signal = False  # True once a signal stopped training (the final evaluation waits)

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
        self.stopped_by_signal = True
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


def exported_network(generator: torch.nn.Module) -> torch.nn.Module:
    """What the export holds: the generator, or for a prior model its StyleGAN2 decoder."""
    attribute = getattr(generator, "export_attribute", None)
    return getattr(generator, attribute) if attribute else generator


def export_step(path: str | os.PathLike) -> int | None:
    """The training step an existing export was written at (None: no file, or written before steps were kept)."""
    if not Path(path).is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True).get("step")
    except (OSError, RuntimeError, EOFError, ValueError, AttributeError, pickle.UnpicklingError):  # replaced, never trusted
        return None


def export_generator_ema(pl_module: pl.LightningModule, path: str | os.PathLike) -> Path:
    """Write the EMA generator, its constructor spec and the step to `path` (atomically)."""
    network = exported_network(pl_module.generator_ema)
    state = {k: v.detach().cpu() for k, v in network.state_dict().items()}
    atomic_torch_save({"params_ema": state, "gpen_generator": pl_module.generator_spec,
                       "step": int(pl_module.global_step)}, path)
    return Path(path)


class ExportGeneratorEMA(pl.Callback):
    """At the end of fit, export `<dirpath>/generator_ema.pth` (rank zero only), unless a newer one exists."""

    def __init__(self, dirpath: str, filename: str = "generator_ema.pth") -> None:
        self.path = Path(dirpath) / filename

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        existing = export_step(self.path)
        if existing is not None and existing > trainer.global_step:
            pl.utilities.rank_zero_warn(
                f"Kept {self.path} (step {existing}): this run ended at step {trainer.global_step}, "
                "and an export is never replaced by an older one.")
            return
        export_generator_ema(pl_module, self.path)
        pl.utilities.rank_zero_info(f"Exported EMA generator (step {trainer.global_step}) to {self.path}")


def parse_duration(value: str | float) -> float:
    """'DD:HH:MM:SS' (Lightning's max_time format) or seconds -> seconds."""
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        parts = [float(p) for p in str(value).split(":")]
        if len(parts) != 4:
            raise ValueError(f"callbacks.time_budget.max_time: expected DD:HH:MM:SS or seconds, got {value!r}")
        seconds = ((parts[0] * 24 + parts[1]) * 60 + parts[2]) * 60 + parts[3]
    if seconds <= 0:
        raise ValueError(f"callbacks.time_budget.max_time must be positive, got {value!r}")
    return seconds


class TimeBudget(pl.Callback):
    """Stop after `max_time` of training in this process; save last.ckpt at that step and say so.

    Lightning's own `max_time` stores the elapsed time in the checkpoint, so a resumed run inherits a
    spent timer, and it stops without saving. This budget starts afresh in every process."""

    def __init__(self, dirpath: str, max_time: str | float | None) -> None:
        self.dirpath = dirpath
        self.seconds = None if max_time is None else parse_duration(max_time)
        self._start: float | None = None
        self.stopped_at: int | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.monotonic()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if self.seconds is None or self._start is None or trainer.should_stop:
            return
        over = time.monotonic() - self._start >= self.seconds
        if not trainer.strategy.reduce_boolean_decision(over, all=False):
            return
        if trainer.global_step >= (trainer.max_steps if trainer.max_steps > 0 else float("inf")):
            return  # the run is complete anyway
        path = os.path.join(self.dirpath, "last.ckpt")
        trainer.save_checkpoint(path)
        self.stopped_at = trainer.global_step
        trainer.should_stop = True
        pl.utilities.rank_zero_warn(
            f"Stopped by the time budget (callbacks.time_budget.max_time={self.seconds:.0f} s) at iteration "
            f"{trainer.global_step} of {trainer.max_steps}; saved {path}. Continue with: python train.py "
            f"<same overrides> ckpt_path=last hydra.run.dir=<this run folder> (a fresh time budget), or raise "
            "callbacks.time_budget.max_time / set it to null.")
