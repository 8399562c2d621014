"""Measured evidence that each texture lever moves the texture measures the way docs/knobs.md claims.

Paired synthetic set: GT = built-in synthetic faces (exact region labels), input = GT degraded with the
film_scan preset (grain, fade, dust), "restorer" = a smoothed GT (a restoration that recovered the face
but lost the texture, the failure the levers address). Then:

1. region weight w on skin (region blend toward the input): HF ratio (skin) against GT, and Grain (skin);
2. keep_grain on/off and its strength: Grain (whole face) against the input;
3. latent refinement, for several degradation_scale s and step sizes eta: distance of the output to
   the input and to the feed-forward output, and HF ratio against the input, on
   (a) a "pixel generator" whose latent is the image itself and whose encoder smooths the input (a
       restorer that loses texture, with a prior that can represent any image), and
   (b) a small random GFP-GAN (untrained: only the direction of an effect means anything).

    python experiments/texture_levers.py [--faces 16] [--size 128] [--gan-size 64]
"""

from __future__ import annotations

import argparse

import torch

from gpen.data.items import sample_rng
from gpen.data.scenarios import FilmScan
from gpen.data.synthetic import render_face
from gpen.metrics.texture import GrainFidelity, HFRatio
from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.restore import RestoreSettings, restore_aligned, texture_controls
from gpen.restore.filters import gaussian_blur
from gpen.utils.machine import describe_machine


def paired_set(count: int, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GT (N, 3, S, S) and input in [0, 1], region ids (N, S, S)."""
    degradation = FilmScan()
    gts, lqs, regions = [], [], []
    for i in range(count):
        gt, region, _ = render_face(10_000 + i, size)
        lqs.append(torch.from_numpy(degradation.apply(gt, degradation.sample_params(sample_rng(0, 0, i)))))
        gts.append(torch.from_numpy(gt))
        regions.append(torch.from_numpy(region))
    to_bchw = lambda xs: torch.stack(xs).permute(0, 3, 1, 2).float()
    return to_bchw(gts), to_bchw(lqs), torch.stack(regions)


def measure(images: torch.Tensor, gt: torch.Tensor, lq: torch.Tensor) -> dict[str, float]:
    images = images.clamp(0, 1)
    return {"HF ratio (skin) vs GT": HFRatio("skin").score(images, gt).mean().item(),
            "HF ratio vs GT": HFRatio().score(images, gt).mean().item(),
            "Grain vs input": GrainFidelity().score(images, lq).mean().item(),
            "Grain (skin) vs input": GrainFidelity("skin").score(images, lq).mean().item()}


def row(label: str, values: dict[str, float]) -> None:
    print(f"| {label} | " + " | ".join(f"{v:+.3f}" for v in values.values()) + " |")


def levers_on_a_smoothed_restorer(gt: torch.Tensor, lq: torch.Tensor, regions: torch.Tensor) -> None:
    restored = gaussian_blur(gt, 1.0)  # texture lost
    to_pm1 = lambda x: x * 2 - 1
    header = measure(restored, gt, lq)
    print("\n| setting | " + " | ".join(header) + " |\n|---|" + "---|" * len(header))
    row("input (film_scan)", measure(lq, gt, lq))
    row("restored = GT smoothed (sigma 1 px)", header)
    for w in (0.75, 0.5, 0.25, 0.0):
        settings = RestoreSettings(region_weights={"skin": w, "forehead": w})
        out = texture_controls(to_pm1(lq), to_pm1(restored), settings, regions=regions)
        row(f"skin + forehead weight {w}", measure((out + 1) / 2, gt, lq))
    for strength in (0.5, 1.0):
        settings = RestoreSettings(keep_grain=True, grain_strength=strength)
        out = texture_controls(to_pm1(lq), to_pm1(restored), settings, regions=regions)
        row(f"keep_grain, strength {strength}", measure((out + 1) / 2, gt, lq))


class PixelGenerator(torch.nn.Module):
    """latent = the image; the "encoder" smooths the input: G(latent) = latent, any image representable."""

    def forward(self, x, latent=None, return_latents=False):
        latent = gaussian_blur(x, 1.0) if latent is None else latent
        return (latent, None, latent) if return_latents else (latent, None)


@torch.no_grad()
def refinement(generator: torch.nn.Module, lq: torch.Tensor, scales, etas, label: str) -> None:
    faces = lq * 2 - 1
    feed_forward = generator(faces)[0]
    print(f"\n{label}\n\n| s | eta | K | mean abs(out - input) | mean abs(out - feed-forward) | HF ratio vs input |"
          "\n|---|---|---|---|---|---|")

    def report(s, eta, k, out):
        hf = HFRatio().score(((out + 1) / 2).clamp(0, 1), lq).mean()
        print(f"| {s} | {eta} | {k} | {(out - faces).abs().mean():.4f} | {(out - feed_forward).abs().mean():.4f} "
              f"| {hf:+.3f} |")

    report("-", "-", 0, feed_forward)
    for s in scales:
        for eta in etas:
            out = restore_aligned(generator, faces, RestoreSettings(degradation_scale=s, latent_steps=10,
                                                                    latent_step=eta, latent_pull=0.0))
            report(s, eta, 10, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=16)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--gan-size", type=int, default=64)
    parser.add_argument("--gan-faces", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {describe_machine(torch.device('cpu'))}; {args.faces} synthetic faces at {args.size} px")
    gt, lq, regions = paired_set(args.faces, args.size)
    levers_on_a_smoothed_restorer(gt, lq, regions)
    refinement(PixelGenerator(), lq, (0.0, 0.5, 1.0), (0.02, 0.05, 0.1),
               f"Refinement, pixel generator ({args.faces} faces, {args.size} px)")
    torch.manual_seed(0)
    gan = GFPGANv1Clean(out_size=args.gan_size, num_style_feat=64, channel_multiplier=1, narrow=0.25).eval()
    _, small, _ = paired_set(args.gan_faces, args.gan_size)
    refinement(gan, small, (0.0, 1.0), (0.02, 0.1), f"Refinement, random GFPGANv1Clean ({args.gan_faces} faces, "
               f"{args.gan_size} px)")


if __name__ == "__main__":
    main()
