"""AdaFace IR-50 face recognition backbone (Kim et al., CVPR 2022, arXiv 2204.00964), the NTIRE 2025
real-world face restoration challenge's identity checker.

The "IR" ResNet of ArcFace (Deng et al., CVPR 2019): a 3×3 stem, residual units of BN → conv3×3 →
BN → PReLU → conv3×3 (stride on the second conv) → BN, with an identity (stride via 1×1 max-pool) or
1×1 conv + BN shortcut, and an output head BN → dropout → flatten → linear to 512 → BN without
affine parameters. Input: (B, 3, 112, 112) aligned faces, BGR, (x/255 − 0.5)/0.5. Output: the
L2-normalised 512-d embedding (and its norm, AdaFace's image-quality proxy). Module names match the
released `adaface_ir50_*.ckpt` backbones, whose Lightning `state_dict` holds them under `model.`
(`gpen.models.loading.load_adaface`).
"""

from __future__ import annotations

import torch
from torch import nn

#: (output channels, residual units) of the four stages of IR-50; the first unit of each halves the size.
IR50_STAGES = ((64, 3), (128, 4), (256, 14), (512, 3))
EMBEDDING_DIM = 512
INPUT_SIZE = 112


class IRUnit(nn.Module):
    """One pre-activation residual unit of the IR ResNet (stride on the second 3×3 conv)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if in_channels == out_channels:
            self.shortcut_layer = nn.MaxPool2d(1, stride)  # identity, subsampled when stride 2
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                                nn.BatchNorm2d(out_channels))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.PReLU(out_channels),
            nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class AdaFaceIR(nn.Module):
    """IR ResNet backbone: (B, 3, 112, 112) BGR in [-1, 1] -> (unit embedding (B, 512), norm (B, 1))."""

    def __init__(self, stages: tuple[tuple[int, int], ...] = IR50_STAGES, stem_channels: int = 64) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, stem_channels, 3, 1, 1, bias=False),
                                         nn.BatchNorm2d(stem_channels), nn.PReLU(stem_channels))
        units, channels = [], stem_channels
        for out_channels, count in stages:
            for index in range(count):
                units.append(IRUnit(channels, out_channels, stride=2 if index == 0 else 1))
                channels = out_channels
        self.body = nn.Sequential(*units)
        side = INPUT_SIZE // 2 ** len(stages)  # 7 for four stages
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(channels), nn.Dropout(0.4), nn.Flatten(),
            nn.Linear(channels * side * side, EMBEDDING_DIM), nn.BatchNorm1d(EMBEDDING_DIM, affine=False))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.output_layer(self.body(self.input_layer(x)))  # (B, 512)
        norm = features.norm(p=2, dim=1, keepdim=True)
        return features / norm, norm
