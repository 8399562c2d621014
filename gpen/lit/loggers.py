"""Logger construction that needs a decision at run time."""

from __future__ import annotations

import netrc
import os
from typing import Any

from pytorch_lightning.loggers import WandbLogger


def wandb_logged_in() -> bool:
    """True when wandb has credentials: WANDB_API_KEY or an api.wandb.ai entry in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def wandb_logger(save_dir: str, project: str = "gpen", offline: bool | None = None, **kwargs: Any) -> WandbLogger:
    """A WandbLogger that is offline unless the user is logged in (and WANDB_MODE is not 'offline')."""
    if offline is None:
        offline = os.environ.get("WANDB_MODE") in ("offline", "disabled") or not wandb_logged_in()
    return WandbLogger(save_dir=save_dir, project=project, offline=offline, **kwargs)
