"""`gpen-make-testset`: a fixed paired test set, the CelebA-Test recipe (GFP-GAN §4.1).

From a folder of HQ aligned faces (or N built-in synthetic faces) write

    OUTPUT/gt/<name>.png   HQ resized to --size
    OUTPUT/lq/<name>.png   degraded with the GFP-GAN model (--degradation preset) at --degradation-scale
    OUTPUT/manifest.json   seed, settings and the sampled degradation parameters of every image

Image i is degraded with the generator seeded by (seed, 0, i), i in sorted file-name order, with
no flip: the same inputs and seed give byte-identical output. Synthetic test faces start at id
2,000,000, disjoint from the training (0...) and validation (1,000,000...) faces. The default
degradation is the official one with its pixel ranges (blur kernel, sigma) scaled by size/512.
The input folder is only read; an output folder that is not empty is refused unless --overwrite is
given, and --overwrite removes only the files the previous run listed in its manifest.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from gpen.cli.help import DefaultsHelpFormatter
from gpen.cli.testset_output import clear_previous_testset, degradation_for, unique_stems
from gpen.data.degradation import GFPGANDegradation
from gpen.data.folder import resize_square
from gpen.data.items import sample_rng
from gpen.data.scenarios import PRESETS
from gpen.data.synthetic import render_face
from gpen.utils.image_io import read_image, scan_images, write_image
from gpen.utils.validation import ConfigValueError, check_range

log = logging.getLogger("gpen-make-testset")

#: First synthetic face id of a test set: training uses ids 0.., validation 1,000,000.. (configs/data/synthetic.yaml).
SYNTHETIC_FIRST_ID = 2_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpen-make-testset", description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="folder of HQ aligned faces (only read)")
    source.add_argument("--synthetic", type=int, metavar="N", help="use N built-in synthetic faces")
    parser.add_argument("--output", type=Path, required=True, help="output folder (gets gt/, lq/, manifest.json)")
    parser.add_argument("--seed", type=int, default=0, help="image i is degraded with the RNG of (seed, 0, i)")
    parser.add_argument("--degradation", default="auto", metavar="PRESET",
                        help="degradation preset: a name in configs/degradation/ (gfpgan, gfpgan_small, ...) or a "
                             ".yaml path; auto (default) = gfpgan with blur ranges scaled by size/512")
    parser.add_argument("--degradation-scale", type=float, default=1.0,
                        help="degradation strength: 0 = LQ is GT, 1 = the preset as is, up to 1.5 (docs/degradation.md)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a scenario preset (same as --degradation NAME)")
    parser.add_argument("--size", type=int, default=512, help="output side in pixels")
    parser.add_argument("--strict", action="store_true", help="stop on unreadable input files instead of skipping")
    parser.add_argument("--overwrite", action="store_true", help="allow writing into a non-empty output folder")
    return parser.parse_args(argv)


def check_output(output: Path, source: Path | None, overwrite: bool) -> None:
    """Refuse outputs that would write into the input, or over earlier files without --overwrite."""
    output = output.resolve()
    if source is not None:
        source = source.resolve()
        if output == source or source in output.parents or output in source.parents:
            raise SystemExit(f"error: --output {output} overlaps --input {source}; choose a separate folder")
    if output.exists() and not output.is_dir():
        raise SystemExit(f"error: --output {output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise SystemExit(f"error: --output {output} is not empty; pass --overwrite to replace a test set there")
    if output.is_dir() and overwrite:
        clear_previous_testset(output, dry_run=True)  # refuse before anything is written or removed


def hq_sources(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], np.ndarray]]]:
    """(name, source, loader of the HQ float RGB image at --size) in a fixed order, all checked up front."""
    if args.synthetic is not None:
        ids = range(SYNTHETIC_FIRST_ID, SYNTHETIC_FIRST_ID + args.synthetic)
        return [(f"synthetic_{i:05d}", f"synthetic:{face_id}", partial(_render, face_id, args.size))
                for i, face_id in enumerate(ids)]
    paths = unique_stems(scan_images(args.input, strict=args.strict), args.input)
    return [(path.stem, path.name, partial(_load, path, args.size)) for path in paths]


def _render(face_id: int, size: int) -> np.ndarray:
    return render_face(face_id, size)[0]


def _load(path: Path, size: int) -> np.ndarray:
    return resize_square(read_image(path), size)


def make_testset(args: argparse.Namespace, sources: list, degradation: GFPGANDegradation, preset: str) -> dict:
    entries = []
    for index, (name, source, load) in enumerate(sources):
        gt = load()
        params = degradation.sample_params(sample_rng(args.seed, 0, index))
        lq = degradation.apply(gt, params)
        write_image(args.output / "gt" / f"{name}.png", gt)
        write_image(args.output / "lq" / f"{name}.png", lq)
        entries.append({"name": f"{name}.png", "source": source, "params": params})
    manifest = {
        "recipe": "GFP-GAN degradation (docs/degradation.md), CelebA-Test style fixed pairs",
        "seed": args.seed,
        "size": args.size,
        "degradation_preset": preset,
        "degradation_scale": args.degradation_scale,
        "preset": args.preset,
        "degradation": {k: v for k, v in vars(degradation).items()},
        "count": len(entries),
        "images": entries,
    }
    if args.synthetic is not None:
        manifest["synthetic_first_id"] = SYNTHETIC_FIRST_ID
    (args.output / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True, default=list))
    return manifest


def write_synthetic_testset(output: Path, num_images: int, size: int, seed: int = 0,
                            degradation: GFPGANDegradation | None = None, degradation_scale: float = 1.0,
                            preset: str | None = None) -> dict:
    """`gpen-make-testset --synthetic num_images` from Python, into a new or empty `output` folder.
    `degradation` (a built model, e.g. a training run's own) is used as given; otherwise `preset` or the
    default ("auto") at `degradation_scale`."""
    check_output(output, None, overwrite=False)
    args = argparse.Namespace(input=None, synthetic=num_images, output=output, seed=seed, size=size, strict=False,
                              degradation_scale=degradation_scale, preset=preset, degradation="auto")
    if degradation is None:
        degradation, name = degradation_for(preset or "auto", size, degradation_scale)
    else:
        name = f"{type(degradation).__name__} (given)"
    output.mkdir(parents=True, exist_ok=True)
    return make_testset(args, hq_sources(args), degradation, name)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        check_range("--size", args.size, 16, 4096)
        check_range("--degradation-scale", args.degradation_scale, 0.0, 1.5)
        if args.synthetic is not None:
            check_range("--synthetic", args.synthetic, 1, None)
        if args.preset and args.degradation != "auto":
            raise SystemExit(f"error: give --preset or --degradation, not both ({args.preset}, {args.degradation})")
        degradation, preset = degradation_for(args.preset or args.degradation, args.size, args.degradation_scale)
    except (ConfigValueError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    check_output(args.output, args.input, args.overwrite)
    sources = hq_sources(args)  # every input is checked before anything is removed or written
    if args.output.is_dir():
        clear_previous_testset(args.output)
    args.output.mkdir(parents=True, exist_ok=True)
    manifest = make_testset(args, sources, degradation, preset)
    log.info("wrote %d pairs to %s (gt/, lq/, manifest.json)", manifest["count"], args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
