"""Small differentiable image filters shared by the texture controls and the texture measures."""

from __future__ import annotations

import math

import torch
import torchvision.transforms.v2.functional as TF


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian low-pass of (B, C, H, W) with reflect padding (torchvision); sigma <= 0 returns the input."""
    if sigma <= 0:
        return images
    side = min(images.shape[-2:])
    radius = min(math.ceil(3.0 * sigma), side - 1)  # reflect padding needs pad < image side
    return TF.gaussian_blur(images, kernel_size=[2 * radius + 1] * 2, sigma=[float(sigma)] * 2)


def high_pass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """The residual image - gaussian_blur(image, sigma): grain, pores, fine detail."""
    return images - gaussian_blur(images, sigma)


def luma(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) BT.601 luma (0.299 R + 0.587 G + 0.114 B)."""
    weights = images.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    return (images * weights).sum(1, keepdim=True)
