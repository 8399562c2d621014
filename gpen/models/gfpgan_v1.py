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

from gpen.models.sft import spatial_feature_transform
from gpen.models.stylegan2_ops import (
    SQRT2,
    ConvLayer,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    ResBlock,
    ScaledLeakyReLU,
    stylegan2_channels,
)
from gpen.models.stylegan2_v1 import RESOLUTIONS, StyleGAN2Generator
from gpen.utils.validation import check_choice, check_range


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


class GFPGANv1(nn.Module):
    """Original GFP-GAN generator: (B, 3, S, S) degraded face in [-1, 1] -> restored face + pyramid.

    Ablation switches: `sft_half` (CS-SFT vs SFT), `use_sft=False` (latent-only: no condition convs,
    the prior sees only the W+ code), `different_w` (W+ vs one W), `input_is_latent` (the code is W,
    not z through the mapping MLP), `fix_decoder` (frozen prior), `narrow`, `channel_multiplier`,
    and the fidelity knob `sft_strength` (DESIGN §6.5), an attribute that may be changed at any time.
    The StyleGAN2 prior is loaded into `stylegan_decoder` by `gpen.models.loading.load_stylegan2_prior`.
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: float = 1,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1), fix_decoder: bool = True, num_mlp: int = 8,
                 lr_mlp: float = 0.01, input_is_latent: bool = True, different_w: bool = True, narrow: float = 1,
                 sft_half: bool = False, use_sft: bool = True, sft_strength: float = 1.0):
        super().__init__()
        check_choice("out_size", out_size, RESOLUTIONS[2:])  # 32 … 1024
        check_range("channel_multiplier", channel_multiplier, 0.0625, 8)
        check_range("narrow", narrow, 0.0, 8)
        self.sft_strength = float(check_range("sft_strength", sft_strength, 0.0, None))
        self.input_is_latent, self.different_w = input_is_latent, different_w
        self.sft_half, self.use_sft = sft_half, use_sft
        self.num_style_feat = num_style_feat
        self.log_size = int(math.log2(out_size))
        ch = stylegan2_channels(channel_multiplier, narrow * 0.5)  # the U-Net is half as wide as the prior
        levels = [2**i for i in range(3, self.log_size + 1)]  # decoder resolutions 8 … out_size

        self.conv_body_first = ConvLayer(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(ch[2**i], ch[2 ** (i - 1)], resample_kernel) for i in range(self.log_size, 2, -1))
        self.final_conv = ConvLayer(ch[4], ch[4], 3)
        self.conv_body_up = nn.ModuleList(ResUpBlock(ch[r // 2], ch[r]) for r in levels)
        self.toRGB = nn.ModuleList(EqualConv2d(ch[r], 3, 1) for r in levels)
        num_latent = self.log_size * 2 - 2
        self.final_linear = EqualLinear(ch[4] * 4 * 4, (num_latent if different_w else 1) * num_style_feat)

        self.stylegan_decoder = StyleGAN2Generator(out_size, num_style_feat, num_mlp, channel_multiplier,
                                                   resample_kernel, lr_mlp, narrow)
        if fix_decoder:
            self.stylegan_decoder.requires_grad_(False)
        if use_sft:  # CS-SFT modulates half of the prior's channels (= the U-Net width), SFT all of them
            width = {r: ch[r] * (1 if sft_half else 2) for r in levels}
            self.condition_scale = nn.ModuleList(condition_branch(ch[r], width[r], 1.0) for r in levels)
            self.condition_shift = nn.ModuleList(condition_branch(ch[r], width[r], 0.0) for r in levels)

    def encode(self, x: torch.Tensor, return_rgb: bool = True
               ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], list[torch.Tensor]]:
        """Degraded face (B, 3, S, S) -> (W+ code (B, L, F), [(scale, shift)] per level 8…S, [toRGB images])."""
        size = 2**self.log_size
        if x.ndim != 4 or x.shape[1:] != (3, size, size):
            raise ValueError(f"GFPGANv1 (out_size={size}) takes faces of shape (B, 3, {size}, {size}), got "
                             f"{tuple(x.shape)}; align and resize the faces to out_size first")
        feat = self.conv_body_first(x)  # (B, C_S, S, S)
        skips = []
        for down in self.conv_body_down:
            feat = down(feat)
            skips.insert(0, feat)  # coarse (4×4) first
        feat = self.final_conv(feat)  # (B, C4, 4, 4)
        latent = self.style_code_to_wplus(self.final_linear(feat.flatten(1)))

        conditions, out_rgbs = [], []
        for i, up in enumerate(self.conv_body_up):
            feat = up(feat + skips[i])  # (B, C_r, r, r), r = 8 … S
            if self.use_sft:
                conditions.append((self.condition_scale[i](feat), self.condition_shift[i](feat)))
            if return_rgb:
                out_rgbs.append(self.toRGB[i](feat))
        return latent, conditions, out_rgbs

    def style_code_to_wplus(self, code: torch.Tensor) -> torch.Tensor:
        """final_linear output (B, L·F) or (B, F) -> W+ (B, L, F), through the mapping MLP unless latent."""
        decoder = self.stylegan_decoder
        if self.different_w:
            code = code.view(code.shape[0], -1, self.num_style_feat)  # (B, L, F)
        return decoder.styles_to_wplus([code], input_is_latent=self.input_is_latent)

    def decode(self, latent: torch.Tensor, conditions: Sequence[tuple[torch.Tensor, torch.Tensor]],
               randomize_noise: bool | None = None) -> torch.Tensor:
        """W+ (B, L, F) + SFT conditions -> restored image (B, 3, S, S)."""
        decoder = self.stylegan_decoder
        noises = decoder.resolve_noises(randomize_noise)
        if not conditions:  # latent-only: the prior alone
            return decoder.synthesize(latent, noises)

        def modulate(level: int, feat: torch.Tensor) -> torch.Tensor:
            if level >= len(conditions):
                return feat
            scale, shift = conditions[level]
            return spatial_feature_transform(feat, scale, shift, self.sft_half, self.sft_strength)

        return decoder.synthesize(latent, noises, modulate)

    def forward(self, x: torch.Tensor, return_latents: bool = False, return_rgb: bool = True,
                randomize_noise: bool | None = None, latent: torch.Tensor | None = None):
        """-> (image, out_rgbs) or (image, out_rgbs, W+) with return_latents; `latent` replaces the encoder's W+."""
        encoded, conditions, out_rgbs = self.encode(x, return_rgb)
        latent = encoded if latent is None else latent
        image = self.decode(latent, conditions, randomize_noise)
        return (image, out_rgbs, latent) if return_latents else (image, out_rgbs)

