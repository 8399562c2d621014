"""The run folder's train.log gets what the console shows (progress bars aside), the fatal error included.

Hydra writes `<run>/train.log` from the root logger, but Lightning's own logger (which carries every
`rank_zero_info` message: run folder, signals, the final summary) does not propagate to the root and
has its own console handler. `route_lightning_logs` adds Hydra's file handler to it. `log_fatal` writes a fatal
error with its traceback to the log files only (the console gets it from Hydra).
"""

from __future__ import annotations

import logging
from pathlib import Path

LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")


def route_lightning_logs() -> None:
    """Also write Lightning's messages to the root logger's log files (train.log); the console is unchanged."""
    files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if logger.propagate:
            continue  # its records reach the root logger's files already
        for handler in files:
            if handler not in logger.handlers:
                logger.addHandler(handler)


def log_fatal(error: BaseException, logger_name: str = "gpen.train") -> None:
    """Write the error and its traceback to the root logger's files (train.log), not to the console."""
    record = logging.getLogger(logger_name).makeRecord(
        logger_name, logging.ERROR, __file__, 0, f"Training stopped: {type(error).__name__}: {error}", (),
        (type(error), error, error.__traceback__))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
            handler.flush()


def remove_empty_folders(run_dir: Path) -> None:
    """Drop the empty sub-folders a failed run created (checkpoints/, samples/, ...); files are never touched."""
    for folder in sorted((p for p in run_dir.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only succeeds when empty
        except OSError:
            pass
