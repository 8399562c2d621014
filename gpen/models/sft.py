"""Spatial feature transform (GFP-GAN §3.3): how U-Net conditions modulate the StyleGAN2 features.

Shared by the clean and the original GFP-GAN generators so both apply exactly the same rule.
"""

from __future__ import annotations

import torch


def spatial_feature_transform(features: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor,
                              channel_split: bool, strength: float = 1.0) -> torch.Tensor:
    """Return `features * scale + shift`, on the second half of the channels only if `channel_split`.

    `strength` is the fidelity knob α of docs/knobs.md: scale -> 1 + α(scale - 1), shift -> α·shift,
    so α = 0 leaves the prior's features untouched and α = 1 is the trained model.
    """
    if strength != 1.0:
        scale = 1.0 + strength * (scale - 1.0)
        shift = strength * shift
    if channel_split:  # CS-SFT: keep the first half (prior identity), modulate the second (fidelity)
        kept, modulated = features.chunk(2, dim=1)  # (B, C/2, H, W) each
        return torch.cat([kept, modulated * scale + shift], dim=1)
    return features * scale + shift
