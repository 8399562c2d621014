"""Perceptual and style loss on VGG19 features (GFP-GAN §3.4, docs/training.md).

L1 between pre-ReLU VGG19 features of output and GT (conv1_2 0.1, conv2_2 0.1, conv3_4 1, conv4_4 1,
conv5_4 1), plus a Gram-matrix style term (weight 50). The VGG trunk is ~48% of a paper training step's
FLOPs, so the GT side runs under `torch.no_grad()`: its features are targets and need no graph. Running
output and GT as one concatenated VGG batch would be one call instead of two, but it would record the
graph (and keep the activations) for the GT half too — see experiments/bench_training.py.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from gpen.losses.base import LossInputs, LossTerm, gram_matrix
from gpen.utils.validation import check_range

PAPER_LAYER_WEIGHTS = {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0, "conv5_4": 1.0}


class PerceptualLoss(LossTerm):
    """Weighted L1 on VGG features (`name`) and on their Gram matrices (`name_style`).

    `extractor` maps a [-1, 1] image to a dict of features (gpen.models.vgg.VGGFeatureExtractor with
    range_norm=True); it is frozen here.
    """

    def __init__(self, extractor: nn.Module, weight: float = 1.0, style_weight: float = 50.0,
                 layer_weights: Mapping[str, float] | None = None, name: str = "percep") -> None:
        super().__init__(weight, name)
        self.style_weight = float(check_range(f"loss.terms.{name}.style_weight", style_weight, 0.0))
        self.layer_weights = dict(layer_weights or PAPER_LAYER_WEIGHTS)
        for layer, w in self.layer_weights.items():
            check_range(f"loss.terms.{name}.layer_weights.{layer}", w, 0.0)
        self.extractor = extractor.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.extractor.eval()  # a fixed feature extractor, never in training mode
        return self

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        out_feats = self.extractor(inputs.output)
        with torch.no_grad():
            gt_feats = self.extractor(inputs.gt.detach())
        percep = inputs.output.new_zeros(())
        style = inputs.output.new_zeros(())
        for layer, w in self.layer_weights.items():
            percep = percep + w * F.l1_loss(out_feats[layer], gt_feats[layer])
            if self.style_weight > 0:
                style = style + w * F.l1_loss(gram_matrix(out_feats[layer]), gram_matrix(gt_feats[layer]))
        losses = {self.name: self.weight * percep}
        if self.style_weight > 0:
            losses[f"{self.name}_style"] = self.style_weight * style
        return losses
