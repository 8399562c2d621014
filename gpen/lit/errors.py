"""Messages of training stops that depend on what is on disk."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl


def saved_checkpoints(trainer: pl.Trainer) -> list[Path]:
    """Checkpoint files this run has (written by its checkpoint callbacks, or the one it resumed from)."""
    paths = [getattr(cb, attr, "") for cb in trainer.checkpoint_callbacks
             for attr in ("last_model_path", "best_model_path")]
    paths.append(trainer.ckpt_path or "")
    return sorted({Path(p) for p in paths if p and Path(p).is_file()}, key=lambda p: p.stat().st_mtime)


def checkpoint_note(trainer: pl.Trainer) -> str:
    """Where a run that stops now can be resumed from: the newest checkpoint, or that there is none."""
    saved = saved_checkpoints(trainer)
    if not saved:
        return "No checkpoint was written yet, so there is nothing to resume from"
    return f"The last checkpoint on disk ({saved[-1]}) is from before this"
