"""Start-up checks of a resume (`ckpt_path`): the file is one of our training checkpoints, readable, and
was trained with the generator settings of this run's config. Each problem is one clear error, found
before the dataset scan and before Lightning's own loader."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpen.models.loading import SPEC_KEY, UnreadableCheckpointError, read_checkpoint


def check_resume_checkpoint(path: str | Path, spec: Mapping[str, Any], config_prefix: str = "model.generator") -> None:
    """Refuse a `ckpt_path` that cannot be read or whose generator differs from `spec` = {"arch", "kwargs"}."""
    checkpoint = read_checkpoint(path, weights_only=False)  # our own Lightning checkpoint, as Lightning loads it
    if "state_dict" not in checkpoint:
        raise UnreadableCheckpointError(f"ckpt_path={path} is not a training checkpoint (no `state_dict`; keys "
                                        f"{sorted(checkpoint)[:6]}); to fine-tune from weights use pretrained.generator")
    trained = checkpoint.get(SPEC_KEY)
    if not trained:
        return
    differences = architecture_differences(trained, spec, config_prefix)
    if differences:
        raise ValueError(f"ckpt_path={path} was trained with another generator than this run's config:\n  "
                         + "\n  ".join(differences)
                         + "\n  resume with the checkpoint's settings (the overrides above), or start a new run")


def architecture_differences(trained: Mapping[str, Any], spec: Mapping[str, Any], prefix: str) -> list[str]:
    """One line per setting the checkpoint was trained with that this run's config sets differently."""
    lines = []
    if trained.get("arch") != spec.get("arch"):
        lines.append(f"architecture: checkpoint {trained.get('arch')!r}, config {spec.get('arch')!r} "
                     f"(config: model=gfpgan_{'clean' if trained.get('arch') == 'clean' else 'v1'})")
    old, new = dict(trained.get("kwargs", {})), dict(spec.get("kwargs", {}))
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            lines.append(f"{key}: checkpoint {key}={old.get(key)!r}, config {key}={new.get(key)!r} "
                         f"(override: {prefix}.{key}={old.get(key)})")
    return lines
