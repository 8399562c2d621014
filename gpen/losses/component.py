"""Facial-component adversarial and style losses (GFP-GAN §3.4 "facial component loss", docs/training.md).

Left eye, right eye and mouth are cropped from output and GT with `torchvision.ops.roi_align`
(80x80 eyes, 120x120 mouth at 512, scaled with the face size), each judged by its own small
discriminator (non-saturating logistic loss, weight 1). The style term is L1 between Gram matrices of
the discriminator's two feature levels on output vs GT crops (first level x0.5), weight 200. Feature
matching (off by default; the paper's Fig. 7 compares it with the Gram style term) is L1 between the
same features themselves, with the same level weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from gpen.losses.adversarial import d_logistic_loss, g_nonsaturating_loss
from gpen.losses.base import AdversarialLoss, LossInputs, gram_matrix
from gpen.utils.validation import check_range

PAPER_CROP_SIZES = {"left_eye": 80, "right_eye": 80, "mouth": 120}  # at 512x512
MIN_CROP_SIZE = 16  # the component discriminator downsamples twice; smaller crops carry no detail


def crop_component(images: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) images and (B, 4) pixel boxes x1,y1,x2,y2 -> (B, 3, size, size) crops."""
    rois = torch.cat([torch.arange(len(boxes), device=boxes.device, dtype=boxes.dtype)[:, None], boxes], 1)
    return roi_align(images, rois.to(images.dtype), output_size=size)  # (B, 3, size, size)


LEVEL_WEIGHTS = (0.5, 1.0)  # the two discriminator feature levels, as in the official style term


def component_style_loss(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    """L1 between Gram matrices of two discriminator feature levels, the first weighted 0.5."""
    return sum(w * F.l1_loss(gram_matrix(f), gram_matrix(r.detach()))
               for w, f, r in zip(LEVEL_WEIGHTS, fake_feats, real_feats))


def feature_matching_loss(fake_feats: list[torch.Tensor], real_feats: list[torch.Tensor]) -> torch.Tensor:
    """L1 between the discriminator features of restored and real crops (same level weights)."""
    return sum(w * F.l1_loss(f, r.detach()) for w, f, r in zip(LEVEL_WEIGHTS, fake_feats, real_feats))


class ComponentGANLoss(AdversarialLoss):
    """One facial-component discriminator per part; `make_discriminator()` builds each of them."""

    def __init__(self, make_discriminator: Callable[[], nn.Module], out_size: int, weight: float = 1.0,
                 style_weight: float = 200.0, crop_sizes_at_512: Mapping[str, int] | None = None,
                 name: str = "comp", feature_match_weight: float = 0.0) -> None:
        super().__init__(weight, name)
        self.style_weight = float(check_range(f"loss.terms.{name}.style_weight", style_weight, 0.0))
        self.feature_match_weight = float(check_range(f"loss.terms.{name}.feature_match_weight",
                                                      feature_match_weight, 0.0))
        sizes = dict(crop_sizes_at_512 or PAPER_CROP_SIZES)
        self.crop_sizes = {part: max(MIN_CROP_SIZE, round(s * out_size / 512)) for part, s in sizes.items()}
        self.discriminators = nn.ModuleDict({part: make_discriminator() for part in self.crop_sizes})

    def discriminator_parameters(self) -> Iterator[nn.Parameter]:
        return self.discriminators.parameters()

    def _crops(self, images: torch.Tensor, inputs: LossInputs) -> dict[str, torch.Tensor]:
        missing = sorted(set(self.crop_sizes) - set(inputs.boxes))
        if missing:
            raise ValueError(f"the component loss needs boxes {missing} in the batch (loc_<part>); "
                             f"use a dataset with landmarks or set loss.terms.{self.name}.weight=0")
        return {p: crop_component(images, inputs.boxes[p], s) for p, s in self.crop_sizes.items()}

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        need_feats = self.style_weight > 0 or self.feature_match_weight > 0
        fake_crops = self._crops(inputs.output, inputs)
        real_crops = self._crops(inputs.gt, inputs) if need_feats else {}
        gan = style = matching = inputs.output.new_zeros(())
        for part, disc in self.discriminators.items():
            logits, fake_feats = disc(fake_crops[part], return_feats=need_feats)
            gan = gan + g_nonsaturating_loss(logits)
            if need_feats:
                with torch.no_grad():  # GT features are targets only
                    _, real_feats = disc(real_crops[part], return_feats=True)
                if self.style_weight > 0:
                    style = style + component_style_loss(fake_feats, real_feats)
                if self.feature_match_weight > 0:
                    matching = matching + feature_matching_loss(fake_feats, real_feats)
        losses = {f"{self.name}_gan": self.weight * gan}
        if self.style_weight > 0:
            losses[f"{self.name}_style"] = self.style_weight * style
        if self.feature_match_weight > 0:
            losses[f"{self.name}_fm"] = self.feature_match_weight * matching
        return losses

    def discriminator_loss(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        fake_crops = self._crops(inputs.output.detach(), inputs)
        real_crops = self._crops(inputs.gt.detach(), inputs)
        total = inputs.output.new_zeros(())
        for part, disc in self.discriminators.items():
            total = total + d_logistic_loss(disc(real_crops[part])[0], disc(fake_crops[part])[0])
        return {f"d_{self.name}": total}
