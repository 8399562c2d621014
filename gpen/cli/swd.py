"""`gpen-swd`: the multi-scale sliced Wasserstein distance between two folders of images.

    gpen-swd generated/ real/ --size 64

A distribution distance that needs no pretrained network (Karras et al., ICLR 2018): ×1e3 per Laplacian
pyramid level and their mean; 0 for identical sets, growing with blur, noise or colour shifts. The sets
need not be paired or of equal count. Images are resized to --size (default: the first image's size).
Unreadable images are skipped and listed; the folders are only read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from gpen.data.testsets import ImagePairs
from gpen.metrics.swd import sliced_wasserstein_distance


def load_folder(folder: Path, size: int | None) -> tuple[torch.Tensor, list[str]]:
    """(N, 3, S, S) in [0, 1] and the unreadable files."""
    images = ImagePairs(folder, size=size)
    if size is None and len({tuple(images[i]["image"].shape) for i in range(len(images))}) > 1:
        raise ValueError(f"images of {folder} differ in size; pass --size N to compare them at N×N")
    return torch.stack([images[i]["image"] for i in range(len(images))]), images.skipped.unreadable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gpen-swd", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("first", type=Path, help="a folder of images (e.g. generated or restored faces)")
    parser.add_argument("second", type=Path, help="a folder of images (e.g. real faces)")
    parser.add_argument("--size", type=int, default=None, help="resize every image to size×size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the patch positions and directions")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        first, bad_first = load_folder(args.first, args.size)
        second, bad_second = load_folder(args.second, args.size or first.shape[-1])
        result = sliced_wasserstein_distance(first, second, seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"gpen-swd: {error}", file=sys.stderr)
        return 2
    result |= {"num_first": len(first), "num_second": len(second), "skipped": bad_first + bad_second}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        levels = ", ".join(f"{k[4:]} px {v:.2f}" for k, v in result.items() if k.startswith("swd_"))
        print(f"SWD ×1e3: {result['swd']:.2f} (per level: {levels}); {len(first)} vs {len(second)} images")
        for path in result["skipped"]:
            print(f"  skipped (unreadable): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
