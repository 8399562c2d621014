"""Helpers of `gpen-make-testset`: the degradation preset for an output size, unique input names, and
an `--overwrite` that removes exactly the files an earlier run wrote (never anything else)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

#: The folder of the degradation presets (gfpgan.yaml, gfpgan_small.yaml, ...).
PRESETS = Path(__file__).resolve().parents[2] / "configs" / "degradation"
#: The size the official degradation ranges are given for.
OFFICIAL_SIZE = 512
AUTO = "auto"


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def load_preset(name: str) -> dict:
    """The constructor settings of a preset: a name in configs/degradation/ or a path to a .yaml file."""
    path = Path(name).expanduser()
    if path.suffix not in (".yaml", ".yml"):
        path = PRESETS / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"--degradation {name}: no preset {path}; choose one of {', '.join(preset_names())} "
                                "or give a .yaml path")
    with initialize_config_dir(config_dir=str(path.parent.resolve()), version_base="1.3"):
        return OmegaConf.to_container(compose(path.stem), resolve=True)  # resolves `defaults: [gfpgan]`


def scale_to_size(settings: dict, size: int) -> dict:
    """Scale the pixel-size ranges (blur kernel and sigma) from 512 px to `size`, as gfpgan_small.yaml does
    for 64 px; downsample factors, noise levels and JPEG qualities are relative and stay."""
    factor = size / OFFICIAL_SIZE
    scaled = dict(settings)
    kernel = settings.get("blur_kernel_size", 41) * factor
    scaled["blur_kernel_size"] = max(3, 2 * round((kernel - 1) / 2) + 1)  # the nearest odd size, at least 3
    scaled["blur_sigma"] = [max(1e-3, s * factor) for s in settings.get("blur_sigma", (0.1, 10.0))]
    return scaled


def degradation_for(preset: str, size: int, degradation_scale: float) -> tuple[Any, str]:
    """(degradation, its description for the manifest). `auto` = gfpgan, scaled to `size` unless 512.
    Scenario presets (film_scan, ...) scale their pixel ranges with the image themselves."""
    if preset == AUTO:
        settings, label = load_preset("gfpgan"), "gfpgan"
        if size != OFFICIAL_SIZE:
            settings, label = scale_to_size(settings, size), f"gfpgan scaled from {OFFICIAL_SIZE} to {size} px"
    else:
        settings, label = load_preset(preset), preset
    settings["degradation_scale"] = degradation_scale
    return instantiate(settings), label


def unique_stems(paths: Sequence[Path], folder: Path) -> list[Path]:
    """The paths, refused when two share a name without suffix (a.png, a.jpg would both become a.png)."""
    by_stem: dict[str, list[Path]] = {}
    for path in paths:
        by_stem.setdefault(path.stem, []).append(path)
    clashes = ["/".join(p.name for p in group) for group in by_stem.values() if len(group) > 1]
    if clashes:
        raise SystemExit(f"error: images of {folder} whose names differ only by suffix would overwrite each other "
                         f"as <name>.png: {', '.join(clashes)}; rename or remove one of each")
    return list(paths)


def _listed_files(folder: Path) -> set[Path]:
    """Files the earlier run wrote, from its manifest.json (empty when there is none)."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return set()
    try:
        names = [entry["name"] for entry in json.loads(manifest_path.read_text())["images"]]
    except (ValueError, KeyError, TypeError) as err:
        raise SystemExit(f"error: --overwrite: {manifest_path} is not a gpen-make-testset manifest ({err}); "
                         "choose an empty --output folder") from None
    return {manifest_path} | {folder / sub / name for sub in ("gt", "lq") for name in names}


def clear_previous_testset(folder: Path, dry_run: bool = False) -> list[Path]:
    """Remove the files of the test set an earlier run wrote into `folder` (as its manifest lists them).

    Refuses (SystemExit, nothing removed) when gt/ or lq/ hold a file the manifest does not list: that is
    not ours to delete, and leaving it would mix it into the new set. Other files in `folder` stay.
    """
    listed = _listed_files(folder)
    present = {p for sub in ("gt", "lq") if (folder / sub).is_dir() for p in (folder / sub).iterdir()}
    unknown = sorted(str(p) for p in present - listed)
    if unknown:
        raise SystemExit(f"error: --overwrite: {len(unknown)} file(s) in {folder} were not written by "
                         f"gpen-make-testset (not in its manifest.json): {', '.join(unknown[:5])}; move them "
                         "away or choose another --output folder (nothing was removed)")
    removed = sorted(p for p in listed if p.is_file())
    if not dry_run:
        for path in removed:
            path.unlink()
    return removed
