"""Benchmark the texture controls: latent refinement per face per step at 512 (and as a multiple of the
feed-forward pass), and the texture measures per 1,000 images at 512.

    python experiments/bench_texture.py                       # CPU, 1 face, K = 2 steps, 3 runs, medians
    python experiments/bench_texture.py --device cuda --faces 8 --steps 5

The generator is GFPGANv1Clean at the released v1.3/v1.4 size (512, channel multiplier 2) with random
weights (no download here; the compute is the same). Refinement time per step = (time with K steps -
feed-forward time) / K, both through `gpen.restore.latent.generate`, the path `restore_aligned` takes.
Texture measures: `update` over `--images` random 512² pairs in batches, scaled to 1,000 images.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from gpen.metrics.texture import LFD, GrainFidelity, HFRatio
from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.restore import RestoreSettings
from gpen.restore.latent import generate
from gpen.utils.machine import describe_machine


def median_seconds(run: Callable[[], object], runs: int, device: torch.device) -> float:
    run()  # warm-up
    times = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_refinement(device: torch.device, faces: int, steps: int, runs: int) -> None:
    generator = GFPGANv1Clean(out_size=512, channel_multiplier=2, sft_half=True).to(device).eval()
    batch = torch.rand(faces, 3, 512, 512, device=device) * 2 - 1
    feed_forward = RestoreSettings()
    refined = replace(feed_forward, latent_steps=steps, latent_step=0.05, latent_step_decay=0.9,
                      degradation_scale=0.7)

    def run(settings: RestoreSettings) -> Callable[[], object]:
        def restore() -> torch.Tensor:
            with torch.no_grad():  # as inference runs; refinement enables gradients for its latent only
                return generate(generator, batch, settings)
        return restore

    t0 = median_seconds(run(feed_forward), runs, device)
    tk = median_seconds(run(refined), runs, device)
    per_step = (tk - t0) / steps / faces
    print(f"| latent refinement, 512, {faces} face(s) per batch | feed-forward {t0 / faces:.2f} s/face | "
          f"K={steps}: {tk / faces:.2f} s/face | {per_step:.2f} s per face per step | "
          f"one step = {per_step / (t0 / faces):.2f}x the feed-forward pass |")


def bench_measures(device: torch.device, images: int, batch_size: int, runs: int) -> None:
    generator = torch.Generator().manual_seed(0)
    restored = torch.rand(images, 3, 512, 512, generator=generator).to(device)
    references = torch.rand(images, 3, 512, 512, generator=generator).to(device)
    for measure in (HFRatio(), HFRatio("skin"), LFD(), LFD("skin"), GrainFidelity(), GrainFidelity("skin")):
        measure = measure.to(device) if isinstance(measure, torch.nn.Module) else measure

        def run(measure=measure) -> None:
            measure.reset()
            for i in range(0, images, batch_size):
                measure.update(restored[i:i + batch_size], references[i:i + batch_size])

        seconds = median_seconds(run, runs, device)
        print(f"| {measure.name} | {seconds / images * 1000:.1f} s per 1,000 images at 512 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--faces", type=int, default=1, help="faces per refinement batch")
    parser.add_argument("--steps", type=int, default=2, help="K, latent refinement steps")
    parser.add_argument("--images", type=int, default=16, help="image pairs per texture-measure run")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(describe_machine(device))
    bench_refinement(device, args.faces, args.steps, args.runs)
    bench_measures(device, args.images, args.batch_size, args.runs)


if __name__ == "__main__":
    main()
