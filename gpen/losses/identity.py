"""Identity-preserving losses between ArcFace embeddings of output and GT.

GFP-GAN (§3.4): L1 between the embeddings, paper weight 10. GPEN's public trainer: 1 − cosine of the
L2-normalised embeddings, weight 1. Both faces are converted to gray (ITU-R 601 luma) and resized to
128x128, the input of our ArcFace (GFP-GAN's ResNet-18; GPEN's trainer uses an IR-SE50 on RGB crops,
whose weights we do not load); the GT embedding is a target and is computed without a graph.
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

    def embeddings(self, inputs: LossInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """(output embedding, GT embedding), each (B, D); only the first carries a graph."""
        out_emb = self.arcface(gray_resize(inputs.output, self.input_size))
        with torch.no_grad():
            gt_emb = self.arcface(gray_resize(inputs.gt.detach(), self.input_size))
        return out_emb, gt_emb

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        out_emb, gt_emb = self.embeddings(inputs)
        return {self.name: self.weight * F.l1_loss(out_emb, gt_emb)}


class CosineIdentityLoss(IdentityLoss):
    """GPEN's identity term: mean of 1 − cos(ArcFace(output), ArcFace(GT)) (weight 1 in its trainer)."""

    def __init__(self, arcface: nn.Module, weight: float = 1.0, input_size: int = 128,
                 name: str = "identity") -> None:
        super().__init__(arcface, weight, input_size, name)

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        out_emb, gt_emb = self.embeddings(inputs)
        cosine = F.cosine_similarity(out_emb, gt_emb, dim=1)  # normalises both: (B,)
        return {self.name: self.weight * (1.0 - cosine).mean()}
