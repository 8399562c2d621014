"""Benchmark the metrics: seconds per 1,000 images at 512×512, and the FID matrix square root.

    python experiments/bench_metrics.py                     # CPU, 16 images per run, 3 runs, medians
    python experiments/bench_metrics.py --device cuda --images 64

Networks whose weights are not on this machine (LPIPS VGG trunk, FID Inception, ArcFace) are built
with random weights: the compute is the same. Each metric is timed over `--images` random 512² images
in batches of `--batch-size`, `--runs` times after one warm-up batch; the median is reported, scaled
to 1,000 images. The FID square root compares our Cholesky + eigvalsh trace (float64) with
`scipy.linalg.sqrtm` on 2048×2048 covariances (scipy once only: it is slow).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import scipy.linalg
import torch

from gpen.metrics.fid import FID, as_feature_extractor, build_fid_inception, trace_sqrt_product
from gpen.metrics.identity import Deg
from gpen.metrics.niqe import NIQE
from gpen.metrics.perceptual import LPIPS, build_lpips
from gpen.metrics.pixel import PSNR, SSIM
from gpen.models.arcface import ResNetArcFace
from gpen.utils.machine import describe_machine


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_metric(metric, images: torch.Tensor, references: torch.Tensor, batch_size: int, runs: int,
                device: torch.device) -> float:
    """Median seconds per image of `metric.update` over all images, batched."""
    metric.update(images[:batch_size].to(device), references[:batch_size].to(device))  # warm-up
    times = []
    for _ in range(runs):
        metric.reset()
        sync(device)
        start = time.perf_counter()
        for i in range(0, len(images), batch_size):
            metric.update(images[i:i + batch_size].to(device), references[i:i + batch_size].to(device))
        sync(device)
        times.append((time.perf_counter() - start) / len(images))
    return statistics.median(times)


def bench_sqrt(device: torch.device, runs: int, dim: int = 2048) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((dim, 3000)), rng.standard_normal((dim, 3000)) * 0.5 + 0.1
    s1, s2 = np.cov(a), np.cov(b)  # realistic full-rank 2048² covariances
    t1, t2 = torch.from_numpy(s1).to(device), torch.from_numpy(s2).to(device)
    ours = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        value = trace_sqrt_product(t1, t2).item()
        sync(device)
        ours.append(time.perf_counter() - start)
    print(f"FID sqrt  ours (Cholesky + eigvalsh, float64, {device.type}): median {statistics.median(ours):.2f} s "
          f"of {runs} runs, tr sqrt = {value:.6f}")
    start = time.perf_counter()
    reference = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    print(f"FID sqrt  scipy.linalg.sqrtm (once): {time.perf_counter() - start:.2f} s, tr sqrt = {reference:.6f}, "
          f"relative difference {abs(value - reference) / reference:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--only", nargs="*", default=None, help="metric names to time (default: all)")
    parser.add_argument("--skip-scipy", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(describe_machine(device))
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(args.images, 3, args.size, args.size, generator=g)
    references = (images + 0.05 * torch.randn(images.shape, generator=g)).clamp(0, 1)
    metrics = {"PSNR": PSNR(), "SSIM": SSIM(), "LPIPS (VGG)": LPIPS(network=build_lpips("vgg")), "NIQE": NIQE(),
               "FID features": FID(reference_stats=None, network=as_feature_extractor(build_fid_inception())),
               "Deg (ArcFace)": Deg(network=ResNetArcFace())}
    print(f"{args.images} images of {args.size}x{args.size}, batch {args.batch_size}, {args.runs} runs, median")
    for name, metric in metrics.items():
        if args.only and name.split()[0] not in args.only:
            continue
        if isinstance(metric, FID):  # timed without reference statistics: features only
            metric.device = device
            metric.network = metric.network.to(device).eval()
        else:
            metric.setup(device)
        seconds = time_metric(metric, images, references, args.batch_size, args.runs, device)
        print(f"{name:14s} {seconds * 1000:8.1f} s / 1000 images  ({seconds * 1000:.1f} ms / image)", flush=True)
    if args.skip_scipy:
        return
    bench_sqrt(device, args.runs)


if __name__ == "__main__":
    main()
