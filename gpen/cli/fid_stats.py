"""`gpen-fid-stats`: build FID reference statistics (mean, covariance of Inception pool features) once,
and optionally the features themselves (KID, precision / recall).

    gpen-fid-stats --input /data/ffhq512 --output experiments/fid_stats/ffhq512.npz \
        --features experiments/fid_stats/ffhq512_features.npz

The statistics file holds `mu` (2048,), `sigma` (2048, 2048) and metadata (number of images, source
folder, Inception weights file, creation time); `evaluate.py` reads it through
metrics.fid.reference_stats. With --features, the same pass also writes every image's 2048-d features
(`features`, float32, 8 KiB per image: 573 MB for FFHQ's 70k) for metrics.reference_features
(metrics=pmrf). Unreadable images are skipped and listed. The input folder is only read, and an
existing output file is replaced only with --overwrite.
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
    save_features,
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
    parser.add_argument("--features", type=Path, default=None,
                        help="also write the reference features here (.npz, 8 KiB per image) for KID and "
                             "precision / recall (metrics.reference_features)")
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
    output = _npz(args.output)
    features_file = None if args.features is None else _npz(args.features)
    problem = _output_problem([output] + ([features_file] if features_file else []), args.input, args.overwrite)
    if problem:
        log.error("%s", problem)
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
    if features_file is not None:
        save_features(features_file, features, source=str(args.input.resolve()), inception_weights=str(args.inception))
        log.info("wrote %s (%d x %d features, %.1f MB)", features_file, *features.shape,
                 features_file.stat().st_size / 1e6)
    return 0


def _npz(path: Path) -> Path:
    return path if path.suffix == ".npz" else path.with_suffix(".npz")


def _output_problem(outputs: list[Path], input_folder: Path, overwrite: bool) -> str | None:
    """Why the output files cannot be written (one exists, one lies in the input folder), else None."""
    if len({p.resolve() for p in outputs}) < len(outputs):
        return f"--output and --features name the same file {outputs[0]}"
    for output in outputs:
        if output.exists() and not overwrite:
            return f"{output} exists; pass --overwrite to replace it"
        if output.resolve().is_relative_to(input_folder.resolve()):
            return f"refusing to write {output} inside the input folder {input_folder} (it is only read)"
    return None


if __name__ == "__main__":
    sys.exit(main())
