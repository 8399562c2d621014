"""GFPGANv1, the original GFP-GAN architecture (Wang et al. 2021, §3.1–3.3), in plain PyTorch ops.

A U-Net "degradation removal" module encodes the degraded face: its bottleneck is mapped to a W+ code
(latent code mapping, §3.2) and its decoder side yields, at every resolution 8…out_size, a toRGB image
(pyramid restoration loss) and a pair of spatial conditions (scale, shift). The pretrained StyleGAN2
generator decodes the W+ code, its features modulated by the conditions through (channel-split)
spatial feature transform (CS-SFT, §3.3). The encoder uses StyleGAN2 discriminator blocks (equalised
convs, FIR-blur downsampling); the U-Net decoder upsamples bilinearly.

Names follow the official `GFPGANv1` so `GFPGANv1.pth` (`params_ema`) loads strictly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from gpen.models.gfpgan_base import GFPGANBase
from gpen.models.stylegan2_ops import (
    SQRT2,
    ConvLayer,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    ResBlock,
    ScaledLeakyReLU,
)
from gpen.models.stylegan2_v1 import StyleGAN2Generator


class ConvUpLayer(nn.Module):
    """×2 bilinear upsampling then an equalised conv, with optional bias + LeakyReLU·sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 bias: bool = True, activate: bool = True):
        super().__init__()
        self.padding = padding
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias and not activate else None
        self.activation = (FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2)) if activate else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, 2H, 2W)
        out = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(out, self.weight * self.scale, self.bias, padding=self.padding)
        return out if self.activation is None else self.activation(out)


class ResUpBlock(nn.Module):
    """Residual ×2 upsampling block of the U-Net decoder side."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvUpLayer(in_channels, out_channels, 3, padding=1)
        self.skip = ConvUpLayer(in_channels, out_channels, 1, bias=False, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


def condition_branch(channels: int, out_channels: int, bias_init_val: float) -> nn.Sequential:
    """Two 3×3 equalised convs with LeakyReLU between: U-Net features -> SFT scale or shift map."""
    return nn.Sequential(EqualConv2d(channels, channels, 3, padding=1),
                         ScaledLeakyReLU(0.2),
                         EqualConv2d(channels, out_channels, 3, padding=1, bias_init_val=bias_init_val))


class GFPGANv1(GFPGANBase):
    """Original GFP-GAN generator: (B, 3, S, S) degraded face in [-1, 1] -> restored face + pyramid.

    Ablation switches: `sft_half` (CS-SFT vs SFT), `use_sft=False` (latent-only: no condition convs,
    the prior sees only the W+ code), `different_w` (W+ vs one W), `input_is_latent` (the code is W,
    not z through the mapping MLP), `fix_decoder` (frozen prior), `narrow`, `channel_multiplier`,
    and the fidelity knob `sft_strength` (docs/knobs.md), an attribute that may be changed at any time.
    The StyleGAN2 prior is loaded into `stylegan_decoder` by `gpen.models.loading.load_stylegan2_prior`.
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: float = 1,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1), fix_decoder: bool = True, num_mlp: int = 8,
                 lr_mlp: float = 0.01, input_is_latent: bool = True, different_w: bool = True, narrow: float = 1,
                 sft_half: bool = False, use_sft: bool = True, sft_strength: float = 1.0):
        super().__init__()
        ch, levels = self._configure(out_size, num_style_feat, channel_multiplier, narrow, input_is_latent,
                                     different_w, sft_half, use_sft, sft_strength)
        self.conv_body_first = ConvLayer(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(ch[2**i], ch[2 ** (i - 1)], resample_kernel) for i in range(self.log_size, 2, -1))
        self.final_conv = ConvLayer(ch[4], ch[4], 3)
        self.conv_body_up = nn.ModuleList(ResUpBlock(ch[r // 2], ch[r]) for r in levels)
        self.toRGB = nn.ModuleList(EqualConv2d(ch[r], 3, 1) for r in levels)
        self.final_linear = EqualLinear(ch[4] * 4 * 4, (self.num_latent if different_w else 1) * num_style_feat)

        self.stylegan_decoder = StyleGAN2Generator(out_size, num_style_feat, num_mlp, channel_multiplier,
                                                   resample_kernel, lr_mlp, narrow)
        if fix_decoder:
            self.stylegan_decoder.requires_grad_(False)
        if use_sft:
            width = self.condition_widths(ch, levels)
            self.condition_scale = nn.ModuleList(condition_branch(ch[r], width[r], 1.0) for r in levels)
            self.condition_shift = nn.ModuleList(condition_branch(ch[r], width[r], 0.0) for r in levels)
