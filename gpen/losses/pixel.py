"""Per-pixel restoration losses: the L1 pixel loss and the pyramid restoration loss (GFP-GAN §3.4), and
the SmoothL1 reconstruction term of GPEN's public trainer, all optionally weighted per face region
(docs/knobs.md).

Region weighting multiplies each pixel's L1 error by the weight of the face region it belongs to, so
`(w · |x - y|).mean()`: all weights 1.0 is exactly the plain L1 of the paper, 0.0 leaves a region to the
adversarial / perceptual terms (the generator is then free to keep the input's texture there).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gpen.data.regions import REGION_NAMES
from gpen.losses.base import ActiveUntil, LossInputs, LossTerm
from gpen.utils.validation import ConfigValueError, check_range


class RegionWeightMap(nn.Module):
    """Turns a (B, H, W) region-id map into a (B, 1, H, W) per-pixel weight map."""

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(REGION_NAMES))
        if unknown:
            raise ConfigValueError(f"loss.region_weights has unknown regions {unknown}; valid: {list(REGION_NAMES)}")
        table = [float(check_range(f"loss.region_weights.{n}", weights.get(n, 1.0), 0.0, 1.5)) for n in REGION_NAMES]
        self.register_buffer("table", torch.tensor(table), persistent=False)

    @property
    def is_uniform_one(self) -> bool:
        return bool((self.table == 1.0).all())

    def forward(self, regions: torch.Tensor) -> torch.Tensor:
        return self.table[regions].unsqueeze(1)  # (B, H, W) -> (B, 1, H, W)


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, weight_map: torch.Tensor | None) -> torch.Tensor:
    """Mean of `weight_map · |pred - target|`; plain L1 when `weight_map` is None."""
    if weight_map is None:
        return F.l1_loss(pred, target)
    if weight_map.shape[-2:] != pred.shape[-2:]:  # pyramid levels: area-average the weights
        weight_map = F.adaptive_avg_pool2d(weight_map, pred.shape[-2:])
    return (weight_map * (pred - target).abs()).mean()


def _weight_map(region_weights: RegionWeightMap | None, inputs: LossInputs) -> torch.Tensor | None:
    if region_weights is None or region_weights.is_uniform_one:
        return None
    if inputs.regions is None:
        raise ValueError("loss.region_weights are set but the batch has no 'regions' map; "
                         "use a dataset that provides region labels or set all region weights to 1.0")
    return region_weights(inputs.regions).to(inputs.output.dtype)


class PixelLoss(LossTerm):
    """L1 between restored face and GT (paper weight 0.1), region-weighted."""

    def __init__(self, weight: float = 0.1, region_weights: RegionWeightMap | None = None,
                 name: str = "pix") -> None:
        super().__init__(weight, name)
        self.region_weights = region_weights

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        wmap = _weight_map(self.region_weights, inputs)
        return {self.name: self.weight * weighted_l1(inputs.output, inputs.gt, wmap)}


class SmoothL1PixelLoss(PixelLoss):
    """SmoothL1 (Huber, threshold `beta`) between restored face and GT: GPEN's reconstruction term
    (public trainer: weight 1, β = 1), region-weighted like the L1 term."""

    def __init__(self, weight: float = 1.0, beta: float = 1.0, region_weights: RegionWeightMap | None = None,
                 name: str = "smooth_l1") -> None:
        super().__init__(weight, region_weights, name)
        self.beta = float(check_range(f"loss.terms.{name}.beta", beta, 0.0))

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        wmap = _weight_map(self.region_weights, inputs)
        if wmap is None:
            return {self.name: self.weight * F.smooth_l1_loss(inputs.output, inputs.gt, beta=self.beta)}
        errors = F.smooth_l1_loss(inputs.output, inputs.gt, reduction="none", beta=self.beta)
        return {self.name: self.weight * (wmap * errors).mean()}


def image_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """`levels` images, coarse -> fine, each half the size of the next (bilinear), the last = `image`."""
    pyramid = [image]
    for _ in range(levels - 1):
        pyramid.insert(0, F.interpolate(pyramid[0], scale_factor=0.5, mode="bilinear", align_corners=False))
    return pyramid


class PyramidLoss(LossTerm):
    """Pyramid restoration loss: L1 between each U-Net toRGB output and the downsampled GT.

    Switched off by `schedule` (paper: after iteration 50,000); while off it returns nothing, so the
    term disappears from the objective and the log.
    """

    def __init__(self, weight: float = 1.0, schedule: ActiveUntil | None = None,
                 region_weights: RegionWeightMap | None = None, name: str = "pyramid") -> None:
        super().__init__(weight, name)
        self.schedule = schedule or ActiveUntil(None)
        self.region_weights = region_weights

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        if not self.schedule(inputs.step):
            return {}
        if not inputs.out_rgbs:
            raise ValueError("the pyramid loss needs the generator's toRGB outputs (forward with return_rgb=True)")
        targets = image_pyramid(inputs.gt, len(inputs.out_rgbs))
        wmap = _weight_map(self.region_weights, inputs)
        total = sum(weighted_l1(rgb, target, wmap) for rgb, target in zip(inputs.out_rgbs, targets))
        return {self.name: self.weight * total}
