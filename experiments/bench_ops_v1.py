"""Speed of the original-architecture StyleGAN2 ops and discriminators: ours vs the official code (CPU/GPU).

- `upfirdn2d` (FIR blur / resampling) on generator-sized feature maps: ours (depthwise conv2d) vs
  BasicSR's `upfirdn2d_native`, the path the official code takes on CPU;
- StyleGAN2Discriminator (512, cm1, batch 4) and FacialComponentDiscriminator (80×80 eye crops,
  batch 12): forward+backward of the input and the weights (a D step), ours vs official.

Median of `--runs` after one warm-up. The GFPGANv1 generator itself is benchmarked, with peak memory,
by experiments/bench_generator.py (`--archs v1 --official`).

    PYTHONPATH=/tmp/ref_v1 python experiments/bench_ops_v1.py [--runs 5] [--device cuda]

The official code is imported as in check_official_parity_v1.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from gpen.models.discriminators import FacialComponentDiscriminator, StyleGAN2Discriminator
from gpen.models.stylegan2_ops import make_resample_kernel, upfirdn2d
from gpen.utils.machine import describe_machine

HERE = Path(__file__).resolve().parent


def median_ms(fn: Callable[[], object], runs: int, device: torch.device) -> float:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    times = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def bench_upfirdn2d(runs: int, device: torch.device) -> None:
    from basicsr.ops.upfirdn2d.upfirdn2d import upfirdn2d_native

    kernel = make_resample_kernel((1, 3, 3, 1)).to(device)
    for shape, up in [((1, 32, 512, 512), 1), ((1, 64, 256, 256), 1), ((1, 256, 64, 64), 1), ((4, 3, 256, 256), 2)]:
        x = torch.randn(shape, device=device)
        k = kernel * 4 if up == 2 else kernel
        native = median_ms(lambda x=x, k=k, up=up: upfirdn2d_native(x, k, up, up, 1, 1, 2, 1, 2, 1), runs, device)
        ours = median_ms(lambda x=x, k=k, up=up: upfirdn2d(x, k, up=up, pad=(2, 1)), runs, device)
        print(f"upfirdn2d up={up} {tuple(shape)!s:<20} basicsr native {native:9.2f} ms   ours {ours:9.2f} ms   "
              f"ours/official {ours / native:.2f}")


def d_step(net: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        net.zero_grad(set_to_none=True)
        x.grad = None
        out = net(x)
        out = out[0] if isinstance(out, tuple) else out
        torch.nn.functional.softplus(out).mean().backward()
    return step


def bench_discriminators(stylegan2_arch, gfpganv1_arch, runs: int, device: torch.device) -> None:
    cases = {"StyleGAN2Discriminator 512 cm1, batch 4": (
                 lambda: stylegan2_arch.StyleGAN2Discriminator(512, channel_multiplier=1),
                 lambda: StyleGAN2Discriminator(512, channel_multiplier=1), (4, 3, 512, 512)),
             "FacialComponentDiscriminator 80x80, batch 12": (
                 gfpganv1_arch.FacialComponentDiscriminator, FacialComponentDiscriminator, (12, 3, 80, 80))}
    for label, (official_cls, ours_cls, shape) in cases.items():
        torch.manual_seed(0)
        x = torch.randn(shape, device=device, requires_grad=True)
        official = median_ms(d_step(official_cls().to(device), x), runs, device)
        ours = median_ms(d_step(ours_cls().to(device), x), runs, device)
        print(f"{label:<45} fwd+bwd: official {official:9.1f} ms   ours {ours:9.1f} ms   "
              f"ours/official {ours / official:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    sys.path.insert(0, str(HERE))
    from check_official_parity_v1 import import_official

    stylegan2_arch, gfpganv1_arch = import_official()
    print(describe_machine(device))
    bench_upfirdn2d(args.runs, device)
    bench_discriminators(stylegan2_arch, gfpganv1_arch, args.runs, device)


if __name__ == "__main__":
    main()
