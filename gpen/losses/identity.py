"""Identity-preserving loss (GFP-GAN §3.4): L1 between ArcFace embeddings of output and GT.

Both faces are converted to gray (ITU-R 601 luma) and resized to 128x128, the ArcFace input; the GT
embedding is a target and is computed without a graph. Paper weight 10.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gpen.losses.base import LossInputs, LossTerm

LUMA = (0.2989, 0.5870, 0.1140)


def gray_resize(images: torch.Tensor, size: int = 128) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, size, size) gray, bilinear."""
    luma = torch.tensor(LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    gray = (images * luma).sum(1, keepdim=True)  # (B, 1, H, W)
    return F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False)


class IdentityLoss(LossTerm):
    """`arcface` maps (B, 1, 128, 128) gray faces to (B, 512) embeddings; it is frozen here."""

    def __init__(self, arcface: nn.Module, weight: float = 10.0, input_size: int = 128,
                 name: str = "identity") -> None:
        super().__init__(weight, name)
        self.arcface = arcface.requires_grad_(False).eval()
        self.input_size = input_size

    def train(self, mode: bool = True) -> IdentityLoss:
        super().train(mode)
        self.arcface.eval()  # batch-norm statistics stay those of the pretrained network
        return self

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        out_emb = self.arcface(gray_resize(inputs.output, self.input_size))
        with torch.no_grad():
            gt_emb = self.arcface(gray_resize(inputs.gt.detach(), self.input_size))
        return {self.name: self.weight * F.l1_loss(out_emb, gt_emb)}
