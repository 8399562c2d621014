"""`gpen-fid-stats`: build FID reference statistics (mean, covariance of Inception pool features) once.

    gpen-fid-stats --input /data/ffhq512 --output experiments/fid_stats/ffhq512.npz

The file holds `mu` (2048,), `sigma` (2048, 2048) and metadata (number of images, source folder,
Inception weights file, creation time); `evaluate.py` reads it through metrics.fid.reference_stats.
Unreadable images are skipped and listed. The input folder is only read, and an existing output
file is replaced only with --overwrite.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from gpen.cli.help import DefaultsHelpFormatter
from gpen.data.testsets import ImagePairs, collate_same_size
from gpen.metrics.fid import (
    INCEPTION_FILE,
    feature_statistics,
    inception_features,
    load_fid_inception,
    save_stats,
)
from gpen.utils.pretrained import MissingWeightsError

log = logging.getLogger("gpen.fid_stats")


@torch.no_grad()
def folder_features(folder: Path, network: torch.nn.Module, batch_size: int, device: torch.device,
                    num_workers: int = 0, size: int | None = None) -> tuple[torch.Tensor, ImagePairs]:
    """(N, 2048) float64 Inception features of every readable image in `folder`."""
    dataset = ImagePairs(folder, size=size)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_same_size)
    network = network.to(device).eval()
    features = [inception_features(network, batch["image"].to(device)).cpu()
                for batch in tqdm(loader, desc="Inception features")]
    return torch.cat(features), dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpen-fid-stats", description=__doc__.split("\n")[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--input", required=True, type=Path, help="folder of HQ images (e.g. FFHQ 512)")
    parser.add_argument("--output", required=True, type=Path, help="statistics file to write (.npz)")
    parser.add_argument("--inception", default=INCEPTION_FILE,
                        help="pytorch-fid Inception weights (path, or a name in experiments/pretrained_models/)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per Inception batch")
    parser.add_argument("--num-workers", type=int, default=2, help="image-reading processes")
    parser.add_argument("--size", type=int, default=None, help="resize images to size x size first (optional)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="torch device; cuda when available (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parse_args(argv)
    output = args.output if args.output.suffix == ".npz" else args.output.with_suffix(".npz")
    if output.exists() and not args.overwrite:
        log.error("%s exists; pass --overwrite to replace it", output)
        return 2
    if output.resolve().is_relative_to(args.input.resolve()):
        log.error("refusing to write %s inside the input folder %s (it is only read)", output, args.input)
        return 2
    try:
        network = load_fid_inception(args.inception, config_key="--inception")
    except MissingWeightsError as error:
        log.error("%s", error)
        return 1
    features, dataset = folder_features(args.input, network, args.batch_size, torch.device(args.device),
                                        args.num_workers, args.size)
    mu, sigma = feature_statistics(features)
    save_stats(output, mu, sigma, num_images=len(dataset), source=str(args.input.resolve()),
               inception_weights=str(args.inception))
    log.info("wrote %s from %d images (%d unreadable skipped)", output, len(dataset),
             len(dataset.skipped.unreadable))
    return 0


if __name__ == "__main__":
    sys.exit(main())
