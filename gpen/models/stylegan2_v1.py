"""Original StyleGAN2 generator (Karras et al. 2020), the generative facial prior of GFPGANv1 (§3.2).

Mapping MLP (8 equalised linear layers, lr_mul 0.01) -> W / W+; synthesis from a learned 4×4 constant
through modulated 3×3 convs with weight demodulation, per-pixel noise injection, and a toRGB output at
every resolution summed through FIR-upsampled skips. Upsampling convs are transposed stride-2 convs
followed by the (1, 3, 3, 1) blur, as in the official implementation, so `StyleGAN2_512_Cmul1_FFHQ_B12G4_
scratch_800k.pth` (`params_ema`) loads strictly and reproduces the reference outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from gpen.models.stylegan2_ops import (
    EqualLinear,
    FusedLeakyReLU,
    StyleGAN2Base,
    UpFirDnSmooth,
    UpFirDnUpsample,
    modulated_conv2d,
    stylegan2_channels,
)
from gpen.utils.validation import check_choice, check_range

RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024)


class NormStyleCode(nn.Module):
    """Pixel norm of the input code over its features: x / sqrt(mean(x², dim=-1) + 1e-8).

    The official code normalises dim 1, the same for (B, F) codes; for per-layer codes (B, L, F) the
    feature axis is the meaningful one (the official path crashes there anyway).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """Conv whose weight is scaled per sample by the style (and demodulated to unit output variance).

    The batch is folded into conv groups so every sample gets its own weight in one conv call.
    `upsample=True`: stride-2 transposed conv then FIR blur (×2 output size).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, upsample: bool = False, resample_kernel: Sequence[int] = (1, 3, 3, 1),
                 eps: float = 1e-8):
        super().__init__()
        self.out_channels, self.kernel_size = out_channels, kernel_size
        self.demodulate, self.upsample, self.eps = demodulate, upsample, eps
        self.smooth = UpFirDnSmooth(resample_kernel, up=2, kernel_size=kernel_size) if upsample else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.modulation = EqualLinear(num_style_feat, in_channels, bias_init_val=1.0)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:  # style: (B, num_style_feat)
        out = modulated_conv2d(x, self.weight, self.modulation(style), self.scale, self.demodulate, self.eps,
                               self.upsample, self.padding)
        return self.smooth(out) if self.upsample else out  # (B, Cout, H, W) or (B, Cout, 2H, 2W)


class StyleConv(nn.Module):
    """Modulated conv + noise injection (learned strength `weight`) + bias + LeakyReLU·sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, num_style_feat: int, upsample: bool = False,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, 3, num_style_feat, upsample=upsample,
                                              resample_kernel=resample_kernel)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style)
        if noise is None:  # fresh per-pixel noise, shared across channels
            noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
        return self.activate(out.add_(self.weight * noise))  # in place: `out` is a fresh conv output


class ToRGB(nn.Module):
    """1×1 modulated conv (no demodulation) to RGB, plus the FIR-upsampled RGB of the previous level."""

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        self.upsample = UpFirDnUpsample(resample_kernel, factor=2) if upsample else None
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias
        if skip is not None:
            out = out + (self.upsample(skip) if self.upsample is not None else skip)
        return out  # (B, 3, H, W)


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.repeat(batch, 1, 1, 1)  # (B, C, 4, 4)


class StyleGAN2Generator(StyleGAN2Base):
    """StyleGAN2 generator: z (B, F) or W / W+ codes -> (B, 3, out_size, out_size) image in about [-1, 1].

    Usable on its own (`forward` keeps the official call signature) and as the GFPGANv1 prior through
    `styles_to_wplus`, `resolve_noises` and `synthesize` (see StyleGAN2Base).
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1), lr_mlp: float = 0.01, narrow: float = 1):
        super().__init__()
        check_choice("out_size", out_size, RESOLUTIONS)
        check_range("channel_multiplier", channel_multiplier, 0.0625, 8)
        check_range("narrow", narrow, 0.0, 8)
        self.init_layout(out_size, num_style_feat)
        self.style_mlp = nn.Sequential(NormStyleCode(), *[
            EqualLinear(num_style_feat, num_style_feat, lr_mul=lr_mlp, activate=True) for _ in range(num_mlp)])
        self.channels = ch = stylegan2_channels(channel_multiplier, narrow)
        self.constant_input = ConstantInput(ch[4], 4)
        self.style_conv1 = StyleConv(ch[4], ch[4], num_style_feat, resample_kernel=resample_kernel)
        self.to_rgb1 = ToRGB(ch[4], num_style_feat, upsample=False, resample_kernel=resample_kernel)
        self.style_convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        in_channels = ch[4]
        for log_res in range(3, self.log_size + 1):
            out_channels = ch[2**log_res]
            self.style_convs.append(StyleConv(in_channels, out_channels, num_style_feat, upsample=True,
                                              resample_kernel=resample_kernel))
            self.style_convs.append(StyleConv(out_channels, out_channels, num_style_feat,
                                              resample_kernel=resample_kernel))
            self.to_rgbs.append(ToRGB(out_channels, num_style_feat, resample_kernel=resample_kernel))
            in_channels = out_channels
