"""Locating pretrained weight files on machines without internet (experiments/pretrained_models/README.md).

Every pretrained network (VGG19, LPIPS, Inception, ArcFace, the StyleGAN2 prior, face detection and
parsing) is loaded from an explicit path or from the cache folder. Nothing is downloaded behind the
user's back: a missing file stops with one message naming the file, where to put it, and the config
key that points elsewhere or switches the term off.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Default cache folder; override with the environment variable GPEN_PRETRAINED_DIR.
DEFAULT_PRETRAINED_DIR = Path("experiments/pretrained_models")
#: Weights gpen trained itself and ships inside the package (the small synthetic-face prior).
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


class MissingWeightsError(FileNotFoundError):
    """A pretrained weight file is not on disk and cannot be downloaded here."""


def pretrained_dir() -> Path:
    return Path(os.environ.get("GPEN_PRETRAINED_DIR", DEFAULT_PRETRAINED_DIR))


def resolve_weights(path_or_name: str | os.PathLike, *, what: str, config_key: str,
                    url: str | None = None, disable_hint: str | None = None) -> Path:
    """Return the weight file for `path_or_name`, or raise one clear `MissingWeightsError`.

    A bare file name is looked up in the cache folder, the working folder and then among the weights
    shipped with gpen; a path (absolute or with a folder) is used as given. `what` says which network needs it, `config_key` which key points elsewhere.
    """
    candidate = Path(path_or_name).expanduser()
    searched = [candidate]
    if not candidate.is_absolute() and candidate.parent == Path("."):
        searched = [pretrained_dir() / candidate.name, candidate, SHIPPED_WEIGHTS_DIR / candidate.name]
    for path in searched:
        if path.is_file():
            return path
    folder = next((p for p in searched if p.is_dir()), None)
    if folder is not None:
        inside = sorted(p.name for p in folder.iterdir() if p.suffix in (".pth", ".ckpt", ".pt"))[:5]
        raise MissingWeightsError(f"{what}: {folder} is a folder, not a weight file; point the config key "
                                  f"`{config_key}` at the file itself"
                                  + (f" (weight files there: {', '.join(inside)})" if inside else ""))
    lines = [
        f"Missing pretrained weights for {what}: {candidate.name}",
        f"  looked in: {', '.join(str(p) for p in searched)}",
        f"  fix: put the file at {searched[0]} (cache folder: {pretrained_dir()}, env GPEN_PRETRAINED_DIR)",
        f"       or point the config key `{config_key}` at it",
    ]
    if url:
        lines.append(f"  official download (needs internet): {url}")
    if disable_hint:
        lines.append(f"  or switch it off: {disable_hint}")
    raise MissingWeightsError("\n".join(lines))
