"""Benchmark: GFP-GAN degradation throughput at 512 px, ours vs a BasicSR-style reference.

The reference is written here from the published recipe (docs/degradation.md) the way BasicSR's pipeline
does it: a dense 41x41 `cv2.filter2D` blur, float64 noise, JPEG through `cv2.imencode` of a float
image, torchvision colour jitter on tensors. Both draw from the same parameter distribution.
Reports images/s (wall) and CPU ms per image per core for 1 worker and for N worker processes, the
blur alone, synthetic-face rendering, and peak RSS; several runs, medians; prints the machine and
its load. On a shared machine the CPU-time figures are the ones to compare.

    python experiments/bench_degradation.py [--size 512] [--images 24] [--runs 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import resource
import statistics
import time

import cv2
import numpy as np
import torch
from torchvision.transforms.functional import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
)

from gpen.data.blur import blur, gaussian_kernel
from gpen.data.degradation import GFPGANDegradation
from gpen.data.synthetic import render_face
from gpen.utils.machine import describe_machine


def reference_degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """BasicSR-style GFP-GAN degradation of float32 BGR (H, W, 3) [0, 1] (official defaults)."""
    h, w = img.shape[:2]
    iso = rng.uniform() < 0.5
    sx = rng.uniform(0.1, 10)
    sy = sx if iso else rng.uniform(0.1, 10)
    theta = 0.0 if iso else rng.uniform(-math.pi, math.pi)
    lq = cv2.filter2D(img, -1, gaussian_kernel(41, sx, sy, theta))
    r = rng.uniform(0.8, 8)
    lq = cv2.resize(lq, (int(w // r), int(h // r)), interpolation=cv2.INTER_LINEAR)
    sigma = rng.uniform(0, 20) / 255.0
    lq = np.clip(lq + np.float32(rng.standard_normal(lq.shape)) * sigma, 0, 1)
    quality = int(rng.uniform(60, 100))
    _, encoded = cv2.imencode(".jpg", lq * 255.0, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    lq = cv2.imdecode(encoded, 1).astype(np.float32) / 255.0
    lq = cv2.resize(lq, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.uniform() < 0.3:
        lq = np.clip(lq + rng.uniform(-20 / 255, 20 / 255, 3).astype(np.float32), 0, 1)
    if rng.uniform() < 0.01:
        lq = np.tile(cv2.cvtColor(lq, cv2.COLOR_BGR2GRAY)[:, :, None], [1, 1, 3])
    tensor = torch.from_numpy(np.ascontiguousarray(lq[:, :, ::-1].transpose(2, 0, 1)))
    if rng.uniform() < 0.3:
        ops = [(adjust_brightness, (0.5, 1.5)), (adjust_contrast, (0.5, 1.5)),
               (adjust_saturation, (0.0, 1.5)), (adjust_hue, (-0.1, 0.1))]
        for i in rng.permutation(4):
            fn, (lo, hi) = ops[i]
            tensor = fn(tensor, float(rng.uniform(lo, hi)))
    return (torch.clamp((tensor * 255.0).round(), 0, 255) / 255.0).numpy()


OURS = GFPGANDegradation()  # official defaults


def ours_degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return OURS(img, rng)[0]


PIPELINES = {"ours": ours_degrade, "basicsr_style": reference_degrade}
_IMAGES: list[np.ndarray] = []


def init_worker(images: list[np.ndarray]) -> None:
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    _IMAGES[:] = images


def run_chunk(args: tuple[str, int, int]) -> tuple[int, float]:
    """Degrade `count` images; returns (count, CPU seconds this process spent)."""
    name, start, count = args
    fn = PIPELINES[name]
    cpu = time.process_time()
    for i in range(start, start + count):
        fn(_IMAGES[i % len(_IMAGES)], np.random.default_rng([1, i]))
    return count, time.process_time() - cpu


def throughput(name: str, n_images: int, workers: int, pool) -> tuple[float, float]:
    """(images per second of wall time, CPU ms per image) for one pass over n_images.

    The CPU time is what a core spends per image, the fair figure on a machine shared with other
    jobs, where wall time also counts the time other processes held the cores.
    """
    start = time.perf_counter()
    if workers == 1:
        done = [run_chunk((name, 0, n_images))]
    else:
        per = n_images // workers
        done = pool.map(run_chunk, [(name, w * per, per) for w in range(workers)])
    count = sum(c for c, _ in done)
    return count / (time.perf_counter() - start), 1e3 * sum(t for _, t in done) / count


def median_time_ms(fn, repeats: int) -> float:
    """Median CPU time of `fn` in ms (this process; threads are limited to one)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--images", type=int, default=24, help="images per run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    init_worker([render_face(i, args.size)[0][:, :, ::-1].copy() for i in range(8)])
    print(f"machine: {describe_machine()}; numpy {np.__version__}, opencv {cv2.__version__}")
    print(f"setup: {args.size}x{args.size}, {args.images} images per run, {args.runs} runs, medians")

    results = {}
    with mp.get_context("fork").Pool(args.workers, initializer=init_worker, initargs=(_IMAGES,)) as pool:
        for workers in sorted({1, args.workers}):
            for name in PIPELINES:
                runs = [throughput(name, args.images, workers, pool) for _ in range(args.runs)]
                rate = statistics.median(r for r, _ in runs)
                cpu_ms = statistics.median(c for _, c in runs)
                results[name, workers] = (rate, cpu_ms)
                print(f"{name:14s} workers={workers}: {rate:6.1f} images/s wall, {cpu_ms:6.1f} CPU ms/image/core "
                      f"(wall runs: {', '.join(f'{r:.1f}' for r, _ in runs)})")
        for workers in sorted({1, args.workers}):
            (ours_rate, ours_cpu), (ref_rate, ref_cpu) = results["ours", workers], results["basicsr_style", workers]
            print(f"speed-up ours / basicsr_style, workers={workers}: {ref_cpu / ours_cpu:.2f}x per core (CPU time), "
                  f"{ours_rate / ref_rate:.2f}x wall throughput")

    image = _IMAGES[0]
    rng = np.random.default_rng(0)
    kernels = []
    for _ in range(16):
        iso = rng.uniform() < 0.5
        sx = rng.uniform(0.1, 10)
        sy = sx if iso else rng.uniform(0.1, 10)
        kernels.append(gaussian_kernel(41, sx, sy, 0.0 if iso else rng.uniform(-math.pi, math.pi)))
    dense = median_time_ms(lambda: [cv2.filter2D(image, -1, k) for k in kernels], args.runs) / len(kernels)
    fast = median_time_ms(lambda: [blur(image, k) for k in kernels], args.runs) / len(kernels)
    print(f"blur alone, CPU time (16 kernels from the recipe): dense filter2D {dense:.1f} ms, ours {fast:.1f} ms "
          f"({dense / fast:.2f}x)")
    for size in (64, 512):
        cost = median_time_ms(lambda size=size: render_face(3, size), args.runs)
        print(f"render_face at {size}px: {cost:.1f} CPU ms")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: main process {own:.0f} MiB, largest worker {children:.0f} MiB")


if __name__ == "__main__":
    main()
