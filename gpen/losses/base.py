"""Shared pieces of the GFP-GAN training objective (GFP-GAN §3.4, docs/training.md).

Every generator-side loss term is a small `nn.Module` that receives one `LossInputs` bundle and returns
a dict of *already weighted* named losses, so the training module can sum them and log each one as
`train/loss_<name>`. Terms with a trainable discriminator also derive from `AdversarialLoss`, which adds
the discriminator-side objective; the training module owns their optimisers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from gpen.utils.validation import check_range


@dataclass
class LossInputs:
    """Everything a loss term may look at for one generator step."""

    output: torch.Tensor                      # (B, 3, H, W) restored face in [-1, 1]
    gt: torch.Tensor                          # (B, 3, H, W) ground truth in [-1, 1]
    out_rgbs: list[torch.Tensor] = field(default_factory=list)  # U-Net toRGB pyramid, coarse -> fine
    regions: torch.Tensor | None = None       # (B, H, W) int64 region ids (gpen.data.regions)
    boxes: dict[str, torch.Tensor] = field(default_factory=dict)  # component name -> (B, 4) x1,y1,x2,y2
    step: int = 0                             # training iteration, for schedules


class ActiveUntil:
    """Schedule: a term is on for iterations `step <= last_step` (pyramid loss: off after 50k)."""

    def __init__(self, last_step: int | None) -> None:
        if last_step is not None:
            check_range("loss.schedule.last_step", last_step, 0)
        self.last_step = last_step

    def __call__(self, step: int) -> bool:
        return self.last_step is None or step <= self.last_step

    def __repr__(self) -> str:
        return f"ActiveUntil(last_step={self.last_step})"


class LossTerm(nn.Module):
    """A weighted generator loss term; `weight` is validated here so a bad config fails at start-up."""

    def __init__(self, weight: float, name: str) -> None:
        super().__init__()
        self.weight = float(check_range(f"loss.terms.{name}.weight", weight, 0.0))
        self.name = name

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


class AdversarialLoss(LossTerm):
    """A loss term that trains its own discriminator(s) in a separate optimiser step."""

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        raise NotImplementedError  # pragma: no cover - abstract

    def discriminator_loss(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        """Named discriminator losses (already weighted); their sum is back-propagated."""
        raise NotImplementedError  # pragma: no cover - abstract


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrix normalised by C·H·W (style statistics)."""
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)
