"""`gpen-landmarks`: detect five facial landmarks in a folder of faces and store them (docs/training.md).

The datasets turn the stored points into component boxes (eyes, mouth) for the component losses,
for data that has no official landmark file. MTCNN from facenet-pytorch is used because its
weights ship inside the package, so this runs with no download. The input folder is only read; the
output file must lie outside it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gpen.cli.help import DefaultsHelpFormatter
from gpen.data.landmarks import FiveLandmarkDetector, write_landmarks
from gpen.utils.image_io import read_image, scan_images

log = logging.getLogger("gpen-landmarks")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpen-landmarks", description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--input", type=Path, required=True, help="folder of face images (only read)")
    parser.add_argument("--output", type=Path, required=True, help="landmarks JSON file to write")
    parser.add_argument("--device", default="cpu", help="torch device for the detector")
    parser.add_argument("--min-face-size", type=int, default=40, help="smallest face MTCNN looks for, px")
    parser.add_argument("--strict", action="store_true", help="stop on unreadable files instead of skipping")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    output, folder = args.output.resolve(), args.input.resolve()
    if folder in output.parents:
        raise SystemExit(f"error: --output {output} is inside the input folder {folder}; write it elsewhere")
    if output.exists() and not args.overwrite:
        raise SystemExit(f"error: {output} exists; pass --overwrite to replace it")
    paths = scan_images(args.input, strict=args.strict)
    detector = FiveLandmarkDetector(args.device, args.min_face_size).load()
    entries, undetected = {}, []
    for path in paths:
        image = read_image(path)
        points, score = detector.detect(image)
        if points is None:
            undetected.append(path.name)
        entries[path.name] = {
            "size": [image.shape[1], image.shape[0]],
            "landmarks": None if points is None else points.round(3).tolist(),
            "score": round(score, 5),
        }
    output.parent.mkdir(parents=True, exist_ok=True)
    write_landmarks(output, entries)
    if undetected:
        log.warning("no face found in %d image(s) (they will use template boxes): %s",
                    len(undetected), ", ".join(undetected[:20]))
    log.info("wrote landmarks of %d image(s) to %s", len(entries), output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
