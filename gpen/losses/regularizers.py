"""Lazy generator regularisers (StyleGAN2, Karras et al., CVPR 2020, §3.2 and appendix B).

A regulariser runs in its own generator step every `interval` iterations on a batch shrunk by
`batch_shrink`, and is scaled by `interval` so its average strength equals a per-step term (the
optimiser is scaled to match: `gpen.lit.optim.lazy_regularized_adam` with ratio k/(k+1)).

Path-length regularisation: for images G(w) and a random image-space direction y ~ N(0, I)/sqrt(H·W),
the Jacobian-vector norm |J_w^T y| (per sample, mean over the W+ layers of the squared norm) should
stay near its running mean a, updated as a ← a + decay·(mean|J^T y| − a).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from gpen.utils.validation import check_range


def path_lengths(images: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """images (B, 3, H, W) from latents (B, L, F) or (B, F) -> per-sample path length (B,), with graph."""
    noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), latents, create_graph=True)
    if grad.ndim == 2:
        grad = grad.unsqueeze(1)
    return grad.pow(2).sum(2).mean(1).sqrt()


class PathLengthRegularizer(nn.Module):
    """(lengths - running mean)² · weight · interval; the running mean is a buffer (checkpointed)."""

    def __init__(self, weight: float = 2.0, interval: int = 4, batch_shrink: int = 2, decay: float = 0.01,
                 name: str = "path_length") -> None:
        super().__init__()
        self.name = name
        self.weight = float(check_range(f"loss.regularizers.{name}.weight", weight, 0.0))
        self.interval = int(check_range(f"loss.regularizers.{name}.interval", interval, 1))
        self.batch_shrink = int(check_range(f"loss.regularizers.{name}.batch_shrink", batch_shrink, 1))
        self.decay = float(check_range(f"loss.regularizers.{name}.decay", decay, 0.0, 1.0))
        self.register_buffer("mean_path_length", torch.zeros(()))

    def active(self, step: int) -> bool:
        """step is 1-based: on at interval, 2·interval, ... (as the official lazy regularisation)."""
        return self.weight > 0 and step % self.interval == 0

    def shrunk(self, batch_size: int) -> int:
        return max(1, batch_size // self.batch_shrink)

    def forward(self, images: torch.Tensor, latents: torch.Tensor,
                reduce_mean: Callable[[torch.Tensor], torch.Tensor] = lambda t: t) -> dict[str, torch.Tensor]:
        """Losses for one regularisation step; updates the running mean (averaged over ranks by reduce_mean).

        The image term `0 * images[0, 0, 0, 0]` keeps every generator parameter in the graph (DDP)."""
        lengths = path_lengths(images, latents)
        mean = reduce_mean(lengths.detach().mean())
        target = self.mean_path_length + self.decay * (mean - self.mean_path_length)
        penalty = (lengths - target).pow(2).mean()
        self.mean_path_length.copy_(target.detach())
        loss = self.weight * self.interval * penalty + 0 * images[0, 0, 0, 0]
        return {self.name: loss}
