"""ArcFace ResNet-18 identity network used by the GFP-GAN identity-preserving loss (GFP-GAN §3.4).

The embedding network of ArcFace (Deng et al., CVPR 2019) in the "IR" ResNet variant that GFP-GAN
ships as `arcface_resnet18.pth`: gray 128×128 faces in, a 512-d embedding out. Module and parameter
names match the released file so it loads strictly (`gpen.models.loading.load_arcface`).
"""

from __future__ import annotations

import torch
from torch import nn

#: Output channels of the four residual stages; the first stage keeps the resolution.
STAGE_CHANNELS = (64, 128, 256, 512)


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class SqueezeExcite(nn.Module):
    """Channel attention: global average -> bottleneck MLP -> sigmoid gate (optional in IR blocks)."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channels, channels // reduction), nn.PReLU(),
                                nn.Linear(channels // reduction, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc(self.avg_pool(x).flatten(1))  # (B, C)
        return x * gate[:, :, None, None]


class IRBlock(nn.Module):
    """Improved residual block: BN -> conv -> BN -> PReLU -> conv(stride) -> BN (+ SE), plus shortcut.

    One PReLU is shared by the inner activation and the output activation, as in the released model.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, use_se: bool = False):
        super().__init__()
        self.bn0 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv3x3(in_channels, in_channels)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.prelu = nn.PReLU()
        self.conv2 = conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.se = SqueezeExcite(out_channels) if use_se else None
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.prelu(self.bn1(self.conv1(self.bn0(x))))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.prelu(out + shortcut)


class ResNetArcFace(nn.Module):
    """ArcFace embedding network: (B, 1, 128, 128) gray faces in [-1, 1] -> (B, 512) embeddings.

    `layers` gives the number of IR blocks per stage ((2, 2, 2, 2) = ResNet-18, 25.63M parameters).
    `block` exists for config compatibility with the official options; only "IRBlock" is built.
    """

    def __init__(self, block: str = "IRBlock", layers: tuple[int, ...] = (2, 2, 2, 2), use_se: bool = False,
                 input_size: int = 128, embedding_dim: int = 512):
        super().__init__()
        if block != "IRBlock":
            raise ValueError(f"ResNetArcFace: block={block!r} is not supported; only 'IRBlock' is built")
        if len(layers) != len(STAGE_CHANNELS):
            raise ValueError(f"ResNetArcFace: layers={tuple(layers)!r} must give {len(STAGE_CHANNELS)} stages")
        if input_size % 16:
            raise ValueError(f"ResNetArcFace: input_size={input_size} must be a multiple of 16")
        self.input_size = input_size
        self.conv1 = nn.Conv2d(1, STAGE_CHANNELS[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_CHANNELS[0])
        self.prelu = nn.PReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        in_channels = STAGE_CHANNELS[0]
        for index, (channels, num_blocks) in enumerate(zip(STAGE_CHANNELS, layers)):
            stride = 1 if index == 0 else 2
            blocks = [IRBlock(in_channels, channels, stride, use_se)]
            blocks += [IRBlock(channels, channels, 1, use_se) for _ in range(num_blocks - 1)]
            self.add_module(f"layer{index + 1}", nn.Sequential(*blocks))
            in_channels = channels
        feature_size = input_size // 16  # maxpool + three stride-2 stages
        self.bn4 = nn.BatchNorm2d(in_channels)
        self.dropout = nn.Dropout()
        self.fc5 = nn.Linear(in_channels * feature_size * feature_size, embedding_dim)
        self.bn5 = nn.BatchNorm1d(embedding_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_normal_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[-2:] != (self.input_size, self.input_size):
            raise ValueError(f"ResNetArcFace expects gray faces (B, 1, {self.input_size}, {self.input_size}), "
                             f"got {tuple(x.shape)}")
        x = self.maxpool(self.prelu(self.bn1(self.conv1(x))))  # (B, 64, S/2, S/2)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, S/16, S/16)
        x = self.dropout(self.bn4(x)).flatten(1)  # (B, 512·(S/16)²)
        return self.bn5(self.fc5(x))  # (B, 512)
