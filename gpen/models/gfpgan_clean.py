"""GFP-GAN generator, "clean" architecture of the released GFPGANv1.2–v1.4 models (GFP-GAN §3).

A U-Net "degradation removal" module encodes the degraded face; its bottleneck is mapped to a W+ code
for the StyleGAN2 prior (latent code mapping, §3.2) and its decoder side yields, at every resolution
8…out_size, an RGB image for the pyramid restoration loss and a pair of SFT conditions (scale, shift)
that modulate the prior's features (channel-split SFT, §3.3). Bilinear resampling, plain convolutions;
module names follow the released files so GFPGANv1.3.pth / GFPGANv1.4.pth (`params_ema`) load strictly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from gpen.models.sft import spatial_feature_transform
from gpen.models.stylegan2_clean import StyleGAN2GeneratorClean
from gpen.models.stylegan2_ops import stylegan2_channels
from gpen.utils.validation import check_choice, check_range

OUT_SIZES = (32, 64, 128, 256, 512, 1024)
Conditions = list[tuple[torch.Tensor, torch.Tensor]]  # [(scale, shift)] per level 8…out_size


class ResBlock(nn.Module):
    """conv3×3 -> LReLU -> resample ×2 or ×½ -> conv3×3 -> LReLU, plus a resampled 1×1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, up: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.scale_factor = 2.0 if up else 0.5

    def resample(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H·f, W·f)
        out = F.leaky_relu(self.conv1(x), 0.2)
        out = F.leaky_relu(self.conv2(self.resample(out)), 0.2)
        # A 1×1 conv commutes with bilinear resampling: run it on the smaller of the two maps.
        skip = self.resample(self.skip(x)) if self.scale_factor > 1 else self.skip(self.resample(x))
        return out + skip


def condition_branch(channels: int, out_channels: int) -> nn.Sequential:
    """Two 3×3 convs with LeakyReLU between: U-Net features -> SFT scale or shift map."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(channels, out_channels, 3, padding=1))


class GFPGANv1Clean(nn.Module):
    """Clean GFP-GAN generator: (B, 3, S, S) degraded face in [-1, 1] -> restored face + pyramid.

    Ablation switches: `sft_half` (CS-SFT vs SFT), `use_sft=False` (latent-only: no condition convs,
    the prior sees only the W+ code), `different_w` (W+ vs one W), `input_is_latent` (the code is W,
    not z through the mapping MLP), `fix_decoder` (frozen prior), `narrow`, `channel_multiplier`, and
    the fidelity knob `sft_strength` (DESIGN §6.5), an attribute that may be changed at any time.
    Defaults fit the released v1.3/v1.4 files except `sft_half` (they use True). The StyleGAN2 prior
    is loaded into `stylegan_decoder` by `gpen.models.loading.load_stylegan2_prior`.
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: float = 2,
                 fix_decoder: bool = True, num_mlp: int = 8, input_is_latent: bool = True,
                 different_w: bool = True, narrow: float = 1, sft_half: bool = False, use_sft: bool = True,
                 sft_strength: float = 1.0):
        super().__init__()
        check_choice("out_size", out_size, OUT_SIZES)
        check_range("channel_multiplier", channel_multiplier, 0.0625, 8)
        check_range("narrow", narrow, 0.0, 8)
        self.sft_strength = float(check_range("sft_strength", sft_strength, 0.0, None))
        self.input_is_latent, self.different_w = input_is_latent, different_w
        self.sft_half, self.use_sft = sft_half, use_sft
        self.num_style_feat = num_style_feat
        self.log_size = int(math.log2(out_size))
        ch = stylegan2_channels(channel_multiplier, narrow * 0.5)  # the U-Net is half as wide as the prior
        levels = [2**i for i in range(3, self.log_size + 1)]  # decoder resolutions 8 … out_size

        self.conv_body_first = nn.Conv2d(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(ch[2**i], ch[2 ** (i - 1)], up=False) for i in range(self.log_size, 2, -1))
        self.final_conv = nn.Conv2d(ch[4], ch[4], 3, padding=1)
        self.conv_body_up = nn.ModuleList(ResBlock(ch[r // 2], ch[r], up=True) for r in levels)
        self.toRGB = nn.ModuleList(nn.Conv2d(ch[r], 3, 1) for r in levels)
        num_latent = self.log_size * 2 - 2
        self.final_linear = nn.Linear(ch[4] * 4 * 4, (num_latent if different_w else 1) * num_style_feat)

        self.stylegan_decoder = StyleGAN2GeneratorClean(out_size, num_style_feat, num_mlp, channel_multiplier,
                                                        narrow)
        if fix_decoder:
            self.stylegan_decoder.requires_grad_(False)
        if use_sft:  # CS-SFT modulates half of the prior's channels (= the U-Net width), SFT all of them
            width = {r: ch[r] * (1 if sft_half else 2) for r in levels}
            self.condition_scale = nn.ModuleList(condition_branch(ch[r], width[r]) for r in levels)
            self.condition_shift = nn.ModuleList(condition_branch(ch[r], width[r]) for r in levels)

    def encode(self, x: torch.Tensor, return_rgb: bool = True) -> tuple[torch.Tensor, Conditions, list[torch.Tensor]]:
        """Degraded face (B, 3, S, S) -> (W+ code (B, L, F), [(scale, shift)] per level 8…S, [toRGB images])."""
        feat = F.leaky_relu(self.conv_body_first(x), 0.2)  # (B, C_S, S, S)
        skips = []
        for down in self.conv_body_down:
            feat = down(feat)
            skips.insert(0, feat)  # coarse (4×4) first
        feat = F.leaky_relu(self.final_conv(feat), 0.2)  # (B, C4, 4, 4)
        latent = self.style_code_to_wplus(self.final_linear(feat.flatten(1)))

        conditions, out_rgbs = [], []
        for i, up in enumerate(self.conv_body_up):
            feat = up(feat + skips[i])  # (B, C_r, r, r), r = 8 … S
            if self.use_sft:
                conditions.append((self.condition_scale[i](feat), self.condition_shift[i](feat)))
            if return_rgb:
                out_rgbs.append(self.toRGB[i](feat))  # (B, 3, r, r)
        return latent, conditions, out_rgbs

    def style_code_to_wplus(self, code: torch.Tensor) -> torch.Tensor:
        """final_linear output (B, L·F) or (B, F) -> W+ (B, L, F), through the mapping MLP unless latent."""
        if self.different_w:
            code = code.view(code.shape[0], -1, self.num_style_feat)  # (B, L, F)
        return self.stylegan_decoder.styles_to_wplus([code], input_is_latent=self.input_is_latent)

    def decode(self, latent: torch.Tensor, conditions: Sequence[tuple[torch.Tensor, torch.Tensor]],
               randomize_noise: bool | None = None) -> torch.Tensor:
        """W+ (B, L, F) + SFT conditions -> restored image (B, 3, S, S); no conditions = the prior alone."""
        decoder = self.stylegan_decoder

        def modulate(level: int, feat: torch.Tensor) -> torch.Tensor:
            if level >= len(conditions):  # conditions for the coarse levels only: finer ones run unmodulated
                return feat
            scale, shift = conditions[level]
            return spatial_feature_transform(feat, scale, shift, self.sft_half, self.sft_strength)

        return decoder.synthesize(latent, decoder.resolve_noises(randomize_noise), modulate if conditions else None)

    def forward(self, x: torch.Tensor, return_latents: bool = False, return_rgb: bool = True,
                randomize_noise: bool | None = None, latent: torch.Tensor | None = None):
        """-> (image, out_rgbs) or (image, out_rgbs, W+) with return_latents; `latent` replaces the encoder's W+."""
        encoded, conditions, out_rgbs = self.encode(x, return_rgb)
        latent = encoded if latent is None else latent
        image = self.decode(latent, conditions, randomize_noise)
        return (image, out_rgbs, latent) if return_latents else (image, out_rgbs)
