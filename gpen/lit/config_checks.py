"""Start-up checks of the composed training config, so a mistake stops the run before any work with
one message naming the key: unknown top-level keys (typos added with `+`), optimiser settings torch
would refuse only later, and a GPU accelerator on a machine without one."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from gpen.utils.validation import ConfigValueError

#: The entry config of train.py: its own keys and its config groups are the known top-level keys.
TRAIN_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train.yaml"


def known_top_level_keys(config_file: Path = TRAIN_CONFIG) -> set[str]:
    raw = OmegaConf.to_container(OmegaConf.load(config_file))
    groups = set()
    for entry in raw.pop("defaults", []):
        if isinstance(entry, Mapping):
            groups.update(str(k).removeprefix("override ").split("/")[0].split("@")[0] for k in entry)
    return set(raw) | groups | {"hydra"}


def check_top_level_keys(cfg: DictConfig, config_file: Path = TRAIN_CONFIG) -> None:
    """Refuse top-level keys the entry config does not define (e.g. `+modle.x=1`, a typo of `model`)."""
    known = known_top_level_keys(config_file)
    unknown = sorted(set(cfg.keys()) - known)
    if unknown:
        hints = [f"{key} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(key, known, 1)) else key
                 for key in unknown]
        raise ConfigValueError(f"unknown top-level config key(s): {', '.join(hints)}; known keys: "
                               f"{', '.join(sorted(known))}. Remove the `+` override or fix its name.")


def check_optimizers(optim: Mapping[str, Any], prefix: str = "optim") -> None:
    """Build every optimiser factory on a dummy parameter (and the scheduler on it), so lr=-1, betas
    outside [0, 1) or an unknown argument fail now, naming the key, instead of after the trainer started."""
    factories = {"generator": optim["generator"],
                 **{f"discriminators.{n}": f for n, f in (optim.get("discriminators") or {}).items()}}
    for name, factory in factories.items():
        try:
            optimizer = factory([torch.nn.Parameter(torch.zeros(1))])
            if optim.get("scheduler") is not None:
                optim["scheduler"](optimizer)
        except (ValueError, TypeError) as error:
            raise ConfigValueError(f"{prefix}.{name}: {error} (check {prefix}.{name}.lr / betas / eps / "
                                   f"weight_decay and {prefix}.scheduler)") from None


def check_accelerator(trainer_cfg: DictConfig) -> None:
    """A GPU trainer on a machine without a usable GPU: say how to run on CPU instead."""
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"trainer.accelerator={accelerator} but this machine has no usable GPU (torch.cuda.is_available() "
            "is False). Run on CPU with `trainer=cpu` (add `callbacks=cpu` for frequent checkpoints; slow at "
            "512 px), or install a CUDA build of torch on a GPU machine.")
