"""Global adversarial loss: non-saturating logistic GAN with lazy R1 (GFP-GAN §3.4, docs/training.md).

Generator: softplus(-D(G(x))) (weight 0.1). Discriminator: softplus(-D(y)) + softplus(D(G(x))), and
every `r1_interval` discriminator steps the R1 penalty on real images, scaled (γ/2)·R1·interval so its
average strength matches an R1 applied at every step (StyleGAN2 lazy regularisation).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from gpen.losses.base import AdversarialLoss, LossInputs
from gpen.utils.validation import check_range


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: mean softplus(-D(fake))."""
    return F.softplus(-fake_logits).mean()


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic discriminator loss: mean softplus(-D(real)) + mean softplus(D(fake))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1: mean over the batch of ||∇_x D(x)||² on real images (which must require grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.pow(2).reshape(grad.shape[0], -1).sum(1).mean()


class GANLoss(AdversarialLoss):
    """The StyleGAN2-discriminator adversarial term and its discriminator objective."""

    def __init__(self, discriminator: nn.Module, weight: float = 0.1, r1_gamma: float = 10.0,
                 r1_interval: int = 16, name: str = "gan") -> None:
        super().__init__(weight, name)
        self.discriminator = discriminator
        self.r1_gamma = float(check_range(f"loss.terms.{name}.r1_gamma", r1_gamma, 0.0))
        self.r1_interval = int(check_range(f"loss.terms.{name}.r1_interval", r1_interval, 1))

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return self.discriminator.parameters()

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        return {self.name: self.weight * g_nonsaturating_loss(self.discriminator(inputs.output))}

    def discriminator_loss(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        real = inputs.gt.detach()
        apply_r1 = self.r1_gamma > 0 and inputs.step % self.r1_interval == 0
        if apply_r1:
            real = real.requires_grad_(True)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(inputs.output.detach())
        losses = {f"d_{self.name}": d_logistic_loss(real_logits, fake_logits)}
        if apply_r1:
            losses[f"d_{self.name}_r1"] = self.r1_gamma / 2 * r1_penalty(real_logits, real) * self.r1_interval
        return losses
