"""Region-weighted blending and grain keeping (docs/knobs.md): texture control on top of any restorer.

Both need only the input face and a restored face of the same size, so they work on the output of our
generators and on a folder of another method's results alike.

- region blend: out = input + w(region) * (restored - input), w from feathered region masks;
  w = 0 keeps the input, 1 the restoration, up to 1.5 extrapolates past it;
- grain keeping: out + a * (hf(input) - hf(out)), hf = image - Gaussian low-pass, so with a = 1 the
  output's fine residual is the input's (film grain, skin texture), a = max(grain_strength, 1 - w).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from gpen.data.regions import REGION_NAMES
from gpen.restore.filters import gaussian_blur, high_pass


def weight_map(masks: torch.Tensor, weights: Mapping[str, float], feather: float = 0.0) -> torch.Tensor:
    """Region masks (B, R, H, W) + weight per region -> (B, 1, H, W) weights, edges blurred by `feather` px."""
    table = masks.new_tensor([float(weights.get(name, 1.0)) for name in REGION_NAMES]).view(1, -1, 1, 1)
    return gaussian_blur((masks * table).sum(1, keepdim=True), feather)


def region_blend(inputs: torch.Tensor, restored: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """input + w * (restored - input); weights (B, 1, H, W) broadcast over channels."""
    return inputs + weights * (restored - inputs)


def grain_amount(weights: torch.Tensor, strength: float) -> torch.Tensor:
    """How much of the input's grain to put back: the strength across the face, fully where w drops to 0."""
    return torch.maximum(torch.full_like(weights, float(strength)), (1.0 - weights).clamp(0.0, 1.0))


def keep_grain(inputs: torch.Tensor, output: torch.Tensor, amount: torch.Tensor | float,
               sigma: float = 1.5) -> torch.Tensor:
    """Replace `amount` of the output's high-frequency residual by the input's (images (B, C, H, W))."""
    return output + amount * (high_pass(inputs, sigma) - high_pass(output, sigma))
