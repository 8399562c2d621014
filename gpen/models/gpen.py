"""GPEN, the GAN Prior Embedded Network (Yang et al., CVPR 2021, §3): a second generative-prior design.

A plain convolutional encoder reads the degraded face from S×S down to 4×4. Its 4×4 map becomes one
latent z (`final_linear`), which the StyleGAN2 mapping MLP turns into a single w shared by every layer
(no W+). Its feature maps at every resolution replace the StyleGAN2 noise inputs and are
*concatenated* to the synthesis features (not added), so each layer after a noise input is twice as
wide: that concatenation is GPEN's way of coupling the degraded input to the prior, where GFP-GAN uses
(CS-)SFT. Both styled convs of a resolution receive that resolution's encoder map.

The blocks follow the StyleGAN2 maths of the reference implementation (equalised learning rate,
modulated convs with demodulation, transposed-conv upsampling with a [1, 3, 3, 1] blur, toRGB skips),
with its module and parameter names and the FIR kernels as persistent buffers (`*.kernel`), so the
released GPEN-BFR-256/512/1024/2048 files load strictly. Nothing in the forward pass is random.
Output is raw RGB, nominally in [-1, 1] (no tanh; callers clip). See docs/architecture.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from gpen.models.stylegan2_ops import (
    ConvLayer,
    EqualLinear,
    FusedLeakyReLU,
    UpFirDnSmooth,
    UpFirDnUpsample,
    modulated_conv2d,
    stylegan2_channels,
)
from gpen.models.stylegan2_v1 import NormStyleCode
from gpen.models.templates import GPEN_TEMPLATE_512
from gpen.utils.validation import check_choice, check_range

OUT_SIZES = (32, 64, 128, 256, 512, 1024, 2048)  # released: 256 … 2048; 32 is for tests


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated conv (reference naming: `weight`, `modulation`, upsampling `blur`)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, resample_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        self.demodulate, self.upsample = demodulate, upsample
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init_val=1.0)
        if upsample:
            self.blur = UpFirDnSmooth(resample_kernel, up=2, kernel_size=kernel_size, persistent_kernel=True)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = modulated_conv2d(x, self.weight, self.modulation(w), self.scale, self.demodulate,
                               upsample=self.upsample, padding=self.padding)
        return self.blur(out) if self.upsample else out  # (B, Cout, H, W) or (B, Cout, 2H, 2W)


class NoiseConcat(nn.Module):
    """GPEN's noise input: concatenate `weight`·(encoder map) to the features.  (B, C, H, W) -> (B, 2C, H, W)"""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # learned strength, starts at 0 as in StyleGAN2

    def forward(self, x: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.weight * feature], dim=1)


class StyledConv(nn.Module):
    """Modulated 3×3 conv -> concatenated encoder map -> bias + LeakyReLU·√2 (bias over 2·out channels)."""

    def __init__(self, in_channels: int, out_channels: int, style_dim: int, upsample: bool = False,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, style_dim, upsample=upsample,
                                    resample_kernel=resample_kernel)
        self.noise = NoiseConcat()
        self.activate = FusedLeakyReLU(2 * out_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), feature))  # (B, 2·Cout, H', W')


class ToRGB(nn.Module):
    """1×1 modulated conv without demodulation + bias, plus the FIR-upsampled RGB of the level below."""

    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        if upsample:
            self.upsample = UpFirDnUpsample(resample_kernel, factor=2, persistent_kernel=True)
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        return out if skip is None else out + self.upsample(skip)  # (B, 3, H, W)


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)  # (B, C4, 4, 4)


class ConcatNoiseStyleGAN2(nn.Module):
    """GPEN's prior: StyleGAN2 whose noise inputs are concatenated maps (the official `generator.*`).

    `style` is the mapping MLP (pixel norm + n_mlp equalised linears, lr_mul `lr_mlp`); `synthesize`
    runs the layers from a single w and one feature map per noise input.
    """

    def __init__(self, out_size: int, style_dim: int, n_mlp: int, channels: dict[int, int],
                 lr_mlp: float = 0.01, resample_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        rk = resample_kernel
        self.style = nn.Sequential(NormStyleCode(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activate=True) for _ in range(n_mlp)])
        self.input = ConstantInput(channels[4])
        self.conv1 = StyledConv(channels[4], channels[4], style_dim, resample_kernel=rk)
        self.to_rgb1 = ToRGB(2 * channels[4], style_dim, upsample=False, resample_kernel=rk)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        in_channels = channels[4]
        for log_res in range(3, int(math.log2(out_size)) + 1):  # resolutions 8 … out_size
            out_channels = channels[2**log_res]
            self.convs.append(StyledConv(2 * in_channels, out_channels, style_dim, upsample=True, resample_kernel=rk))
            self.convs.append(StyledConv(2 * out_channels, out_channels, style_dim, resample_kernel=rk))
            self.to_rgbs.append(ToRGB(2 * out_channels, style_dim, resample_kernel=rk))
            in_channels = out_channels

    def synthesize(self, w: torch.Tensor, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """w (B, style_dim) + one map per resolution, coarse first [(B, C4, 4, 4), (B, C8, 8, 8), …]
        -> image (B, 3, S, S). conv1 takes the 4×4 map, both convs of resolution r the r×r map."""
        out = self.conv1(self.input(w.shape[0]), w, features[0])  # (B, 2·C4, 4, 4)
        skip = self.to_rgb1(out, w)
        for level, to_rgb in enumerate(self.to_rgbs):
            feature = features[level + 1]
            out = self.convs[2 * level](out, w, feature)  # (B, 2·C_r, r, r)
            out = self.convs[2 * level + 1](out, w, feature)
            skip = to_rgb(out, w, skip)
        return skip


class GPENGenerator(nn.Module):
    """GPEN: degraded face (B, 3, S, S) in [-1, 1] -> restored face (B, 3, S, S) (official `FullGenerator`).

    Released files (style_dim 512, n_mlp 8): GPEN-BFR-512 (cm 2, narrow 1), GPEN-BFR-256 (cm 1, narrow
    0.5), GPEN-BFR-1024 / -2048 (cm 2, narrow 1). Channels per resolution: int(base·cm·narrow).
    `sft_strength` α (the fidelity knob's analogue) scales the encoder maps that replace the noise:
    α = 1 is the plain model, 0 the prior alone driven by the encoder's w.
    """

    face_template_512 = GPEN_TEMPLATE_512  # 5 alignment points at 512 px (docs/photo_restoration.md)

    def __init__(
        self,
        out_size: int = 512,                           # S, a power of two in 32 … 2048
        style_dim: int = 512,                          # width of z and w
        n_mlp: int = 8,                                # layers of the mapping MLP
        channel_multiplier: float = 2,                 # widths at 64 px and above
        narrow: float = 1.0,                           # every width × narrow
        lr_mlp: float = 0.01,                          # equalised-lr multiplier of the mapping MLP
        resample_kernel: Sequence[int] = (1, 3, 3, 1), # FIR kernel of every up/down sampling
        sft_strength: float = 1.0,                     # α, scales the encoder maps fed to the prior
    ):
        super().__init__()
        check_choice("out_size", out_size, OUT_SIZES)
        check_range("channel_multiplier", channel_multiplier, 0.0625, 8)
        check_range("narrow", narrow, 0.0, 8)
        check_range("n_mlp", n_mlp, 1)
        self.sft_strength = float(check_range("sft_strength", sft_strength, 0.0, None))
        self.out_size, self.style_dim = out_size, style_dim
        self.num_style_feat = style_dim  # the name the GFP-GAN generators use
        self.log_size = int(math.log2(out_size))
        self.channels = ch = stylegan2_channels(channel_multiplier, narrow)
        self.generator = ConcatNoiseStyleGAN2(out_size, style_dim, n_mlp, ch, lr_mlp, resample_kernel)
        # encoder: ecd0 (1×1 conv at S), then ecd1 … ecd{L-2}, each blur + stride-2 3×3 conv, down to 4×4
        self.ecd0 = nn.Sequential(ConvLayer(3, ch[out_size], 1))
        for level in range(1, self.log_size - 1):
            res = out_size >> level
            layer = ConvLayer(ch[2 * res], ch[res], 3, downsample=True, resample_kernel=resample_kernel,
                              persistent_kernel=True)
            self.add_module(f"ecd{level}", nn.Sequential(layer))
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 4 * 4, style_dim, activate=True))

    @property
    def encoder(self) -> list[nn.Module]:
        return [getattr(self, f"ecd{level}") for level in range(self.log_size - 1)]

    def encode(self, x: torch.Tensor, return_rgb: bool = True
               ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Degraded face (B, 3, S, S) -> (w (B, style_dim), encoder maps coarse first [(B, C4, 4, 4) …
        (B, C_S, S, S)], []): the GFP-GAN generators' (latent, spatial conditions, pyramid) triple."""
        size = self.out_size
        if x.ndim != 4 or x.shape[1:] != (3, size, size):
            raise ValueError(f"{type(self).__name__} (out_size={size}) takes faces of shape (B, 3, {size}, {size}), "
                             f"got {tuple(x.shape)}; align and resize the faces to out_size first")
        features = []
        for ecd in self.encoder:
            x = ecd(x)
            features.insert(0, x)
        z = self.final_linear(x.flatten(1))  # (B, style_dim)
        return self.generator.style(z), features, []

    def decode(self, w: torch.Tensor, features: Sequence[torch.Tensor],
               randomize_noise: bool | None = None) -> torch.Tensor:
        """w (B, style_dim) + encoder maps (coarse first) -> image (B, 3, S, S); maps scaled by sft_strength.
        `randomize_noise` is accepted for the common call and ignored (the maps are GPEN's noise)."""
        if w.ndim != 2 or w.shape[1] != self.style_dim:
            raise ValueError(f"GPEN has a single w per face: expected latent of shape (B, {self.style_dim}), "
                             f"got {tuple(w.shape)}")
        if self.sft_strength != 1.0:
            features = [self.sft_strength * f for f in features]
        return self.generator.synthesize(w, features)

    def forward(self, x: torch.Tensor, return_latents: bool = False, return_rgb: bool = True,
                randomize_noise: bool | None = None, latent: torch.Tensor | None = None):
        """-> (image, []) or (image, [], w) with return_latents, like the GFP-GAN generators.

        GPEN has no intermediate RGB pyramid (the list is empty, `return_rgb` is accepted for the common
        call) and no random noise (`randomize_noise` is ignored). `latent` (B, style_dim) replaces the
        encoder's w; the encoder maps still come from `x`.
        """
        encoded, features, _ = self.encode(x)
        w = encoded if latent is None else latent
        image = self.decode(w, features)
        return (image, [], w) if return_latents else (image, [])
