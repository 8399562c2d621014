"""Latent refinement (docs/knobs.md): K small steps on the generator's latent after the encoder.

Step k moves the latent by eta * gamma**k (relative to the start latent's norm) along the normalised
descent direction of

    mean |D_s(G(latent)) - x|  +  lambda * mean((latent - latent_0)**2)

where x is the degraded input, G the generator's decoder with the encoder's spatial conditions held
fixed, and D_s a differentiable degradation of strength s (Gaussian blur, then bilinear down- and
up-sampling; s = 0 is the identity). A small s says "the input is nearly clean": the output must then
match it closely. Starting from the mean latent instead of the encoder's gives the GAN-inversion baseline.
Works for any generator with `forward(x, latent=..., return_latents=True)`; GFP-GAN's `encode` /
`decode` are used when present so the encoder runs once.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from gpen.restore.filters import gaussian_blur
from gpen.restore.settings import RestoreSettings

Decoder = Callable[[torch.Tensor], torch.Tensor]


class DegradationOperator:
    """D_s: blur sigma = s * sigma_512 * S / 512, then down by r = 1 + (r_max - 1) s and back up (bilinear)."""

    def __init__(self, strength: float, sigma_512: float = 2.0, downsample: float = 4.0) -> None:
        self.strength, self.sigma_512, self.downsample = float(strength), float(sigma_512), float(downsample)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if self.strength == 0.0:
            return images
        size = images.shape[-1]
        out = gaussian_blur(images, self.strength * self.sigma_512 * size / 512.0)
        factor = 1.0 + (self.downsample - 1.0) * self.strength
        small = max(1, round(size / factor))
        if small < size:
            out = F.interpolate(out, size=(small, small), mode="bilinear", align_corners=False, antialias=True)
            out = F.interpolate(out, size=images.shape[-2:], mode="bilinear", align_corners=False)
        return out


def encode_for_refinement(generator: torch.nn.Module, faces: torch.Tensor) -> tuple[torch.Tensor, Decoder]:
    """(encoder latent, latent -> image) with the encoder's spatial conditions fixed."""
    with torch.no_grad():
        if hasattr(generator, "encode") and hasattr(generator, "decode"):
            latent, conditions, _ = generator.encode(faces, return_rgb=False)
            return latent, lambda w: generator.decode(w, conditions)
        latent = generator(faces, return_latents=True)[-1]
    return latent, lambda w: generator(faces, latent=w)[0]


def mean_latent(generator: torch.nn.Module, like: torch.Tensor, samples: int = 4096) -> torch.Tensor:
    """The generator's mean latent (seeded, so repeatable) broadcast to the shape of `like`."""
    owners = [generator, getattr(generator, "stylegan_decoder", None), getattr(generator, "generator", None)]
    owner = next((o for o in owners if hasattr(o, "mean_latent")), None)  # GFP-GAN: decoder; GPEN: generator
    if owner is None:
        raise ValueError(f"restore.latent_start=mean needs a generator with mean_latent(); "
                         f"{type(generator).__name__} has none")
    with torch.random.fork_rng(devices=[like.device] if like.device.type == "cuda" else []):
        torch.manual_seed(0)
        mean = owner.mean_latent(samples)  # (1, F)
    return mean.view(1, *([1] * (like.ndim - 2)), -1).expand_as(like).to(like.dtype).clone()


def refine_latent(decode: Decoder, start: torch.Tensor, target: torch.Tensor, operator: DegradationOperator,
                  steps: int, step: float, decay: float = 1.0, pull: float = 0.0) -> tuple[torch.Tensor, list]:
    """K normalised descent steps from `start` (B, ...); returns the latent and the data term per step."""
    latent = start.detach().clone()
    dims = tuple(range(1, start.ndim))
    scale = start.detach().flatten(1).norm(dim=1).clamp_min(1e-8).view(-1, *([1] * len(dims)))
    history = []
    with torch.enable_grad():
        for k in range(steps):
            latent.requires_grad_(True)
            data = (operator(decode(latent)) - target).abs().mean(dim=(1, 2, 3))  # (B,)
            loss = data + pull * (latent - start).pow(2).mean(dim=dims)
            (grad,) = torch.autograd.grad(loss.sum(), latent)
            norm = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view_as(scale)
            latent = (latent - step * decay**k * scale * grad / norm).detach()
            history.append(data.detach())
    return latent, history


def generate(generator: torch.nn.Module, faces: torch.Tensor, settings: RestoreSettings) -> torch.Tensor:
    """Generator output for aligned faces (B, 3, S, S) in [-1, 1], with latent refinement when K > 0."""
    if settings.latent_steps == 0 and settings.latent_start == "encoder":
        return generator(faces)[0]  # exactly the feed-forward model (in the caller's grad mode)
    latent, decode = encode_for_refinement(generator, faces)
    start = latent if settings.latent_start == "encoder" else mean_latent(generator, latent)
    operator = DegradationOperator(settings.degradation_scale, settings.operator_sigma, settings.operator_downsample)
    refined, _ = refine_latent(decode, start, faces, operator, settings.latent_steps, settings.latent_step,
                               settings.latent_step_decay, settings.latent_pull)
    with torch.no_grad():
        return decode(refined)
