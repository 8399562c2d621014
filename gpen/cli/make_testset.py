"""`gpen-make-testset`: a fixed paired test set, the CelebA-Test recipe (GFP-GAN §4.1).

From a folder of HQ aligned faces (or N built-in synthetic faces) write

    OUTPUT/gt/<name>.png   HQ resized to --size
    OUTPUT/lq/<name>.png   degraded with the GFP-GAN model at --degradation-scale
    OUTPUT/manifest.json   seed, settings and the sampled degradation parameters of every image

Image i is degraded with the generator seeded by (seed, 0, i), i in sorted file-name order, with
no flip: the same inputs and seed give byte-identical output. The input folder is only read; an
output folder that is not empty is refused unless --overwrite is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gpen.cli.help import DefaultsHelpFormatter
from gpen.data.degradation import GFPGANDegradation
from gpen.data.folder import resize_square
from gpen.data.items import sample_rng
from gpen.data.scenarios import PRESETS
from gpen.data.synthetic import render_face
from gpen.utils.image_io import read_image, scan_images, write_image
from gpen.utils.validation import ConfigValueError, check_range

log = logging.getLogger("gpen-make-testset")
SYNTHETIC_TEST_FIRST_ID = 2_000_000  # training faces are ids 0.., validation faces 1,000,000..


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpen-make-testset", description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", type=Path, help="folder of HQ aligned faces (only read)")
    source.add_argument("--synthetic", type=int, metavar="N", help="use N built-in synthetic faces")
    parser.add_argument("--output", type=Path, required=True, help="output folder (gets gt/, lq/, manifest.json)")
    parser.add_argument("--seed", type=int, default=0, help="image i is degraded with the RNG of (seed, 0, i)")
    parser.add_argument("--first-id", type=int, default=SYNTHETIC_TEST_FIRST_ID,
                        help="id of the first synthetic face (default: disjoint from training and validation faces)")
    parser.add_argument("--degradation-scale", type=float, default=1.0,
                        help="degradation strength: 0 = LQ is GT, 1 = official, up to 1.5 (docs/degradation.md)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a scenario preset instead of the GFP-GAN model")
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


def hq_images(args: argparse.Namespace) -> Iterator[tuple[str, str, np.ndarray]]:
    """(name, source, HQ float RGB image at --size) in a fixed order."""
    if args.synthetic is not None:
        for i in range(args.synthetic):
            face_id = args.first_id + i
            yield f"synthetic_{i:05d}", f"synthetic:{face_id}", render_face(face_id, args.size)[0]
        return
    for path in scan_images(args.input, strict=args.strict):
        yield path.stem, path.name, resize_square(read_image(path), args.size)


def make_testset(args: argparse.Namespace, degradation: GFPGANDegradation | None = None) -> dict:
    """Write the pairs; `degradation` (default: --preset or the official model, at --degradation-scale) lets
    the end-of-training evaluation use a run's own degradation model."""
    if degradation is None:
        degradation = (PRESETS[args.preset] if args.preset else GFPGANDegradation)(degradation_scale=args.degradation_scale)
    entries = []
    for index, (name, source, gt) in enumerate(hq_images(args)):
        params = degradation.sample_params(sample_rng(args.seed, 0, index))
        lq = degradation.apply(gt, params)
        write_image(args.output / "gt" / f"{name}.png", gt)
        write_image(args.output / "lq" / f"{name}.png", lq)
        entries.append({"name": f"{name}.png", "source": source, "params": params})
    manifest = {
        "recipe": "GFP-GAN degradation (docs/degradation.md), CelebA-Test style fixed pairs",
        "seed": args.seed,
        "size": args.size,
        "degradation_scale": getattr(degradation, "degradation_scale", args.degradation_scale),
        "preset": args.preset,
        "degradation": {k: v for k, v in vars(degradation).items()},
        "count": len(entries),
        "images": entries,
    }
    (args.output / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True, default=list))
    return manifest


def write_synthetic_testset(output: Path, num_images: int, size: int, seed: int = 0,
                            degradation: GFPGANDegradation | None = None, degradation_scale: float = 1.0,
                            first_id: int = SYNTHETIC_TEST_FIRST_ID, preset: str | None = None) -> dict:
    """`gpen-make-testset --synthetic num_images` from Python, into a new or empty `output` folder."""
    check_output(output, None, overwrite=False)
    output.mkdir(parents=True, exist_ok=True)
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset={preset!r} is not a scenario preset (valid: {', '.join(sorted(PRESETS))}, null)")
    args = argparse.Namespace(input=None, synthetic=num_images, output=output, seed=seed, first_id=first_id,
                              degradation_scale=degradation_scale, size=size, strict=False, preset=preset)
    return make_testset(args, degradation)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    try:
        check_range("--size", args.size, 16, 4096)
        check_range("--degradation-scale", args.degradation_scale, 0.0, 1.5)
        if args.synthetic is not None:
            check_range("--synthetic", args.synthetic, 1, None)
    except ConfigValueError as err:
        raise SystemExit(f"error: {err}") from None
    check_output(args.output, args.input, args.overwrite)
    args.output.mkdir(parents=True, exist_ok=True)
    manifest = make_testset(args)
    log.info("wrote %d pairs to %s (gt/, lq/, manifest.json)", manifest["count"], args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
