"""What both GFP-GAN generator architectures share (GFP-GAN §3.1–3.3): the encode/decode data flow.

The U-Net encodes the degraded face; its bottleneck becomes the W+ code (latent code mapping, §3.2);
its decoder side gives, per resolution 8…out_size, a toRGB image (pyramid loss) and SFT conditions
that modulate the StyleGAN2 prior's features (CS-SFT, §3.3). Subclasses build the layers (the clean
and the original architecture differ only in their building blocks) and name them as the released
files do; this class runs them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from gpen.models.sft import spatial_feature_transform
from gpen.models.stylegan2_ops import stylegan2_channels
from gpen.utils.validation import check_choice, check_range

OUT_SIZES = (32, 64, 128, 256, 512, 1024)
Conditions = list[tuple[torch.Tensor, torch.Tensor]]  # [(scale, shift)] per level 8…out_size


class GFPGANBase(nn.Module):
    """Shared forward logic. Subclasses call `_configure` first, then build these modules:
    conv_body_first, conv_body_down, final_conv, conv_body_up, toRGB, final_linear, stylegan_decoder
    and, with use_sft, condition_scale / condition_shift."""

    def _configure(self, out_size: int, num_style_feat: int, channel_multiplier: float, narrow: float,
                   input_is_latent: bool, different_w: bool, sft_half: bool, use_sft: bool,
                   sft_strength: float) -> tuple[dict[int, int], list[int]]:
        """Validate and store the switches; return (U-Net channels per resolution, decoder levels 8…S)."""
        check_choice("out_size", out_size, OUT_SIZES)
        check_range("channel_multiplier", channel_multiplier, 0.0625, 8)
        check_range("narrow", narrow, 0.0, 8)
        self.sft_strength = float(check_range("sft_strength", sft_strength, 0.0, None))
        self.input_is_latent, self.different_w = input_is_latent, different_w
        self.sft_half, self.use_sft = sft_half, use_sft
        self.num_style_feat = num_style_feat
        self.out_size = out_size
        self.log_size = int(math.log2(out_size))
        self.num_latent = self.log_size * 2 - 2
        channels = stylegan2_channels(channel_multiplier, narrow * 0.5)  # the U-Net is half as wide as the prior
        return channels, [2**i for i in range(3, self.log_size + 1)]

    def condition_widths(self, channels: dict[int, int], levels: Sequence[int]) -> dict[int, int]:
        """CS-SFT modulates half of the prior's channels (= the U-Net width), plain SFT all of them."""
        return {r: channels[r] * (1 if self.sft_half else 2) for r in levels}

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_body_first(x)

    def bottleneck(self, feat: torch.Tensor) -> torch.Tensor:
        return self.final_conv(feat)

    def encode(self, x: torch.Tensor, return_rgb: bool = True) -> tuple[torch.Tensor, Conditions, list[torch.Tensor]]:
        """Degraded face (B, 3, S, S) -> (W+ code (B, L, F), [(scale, shift)] per level 8…S, [toRGB images])."""
        size = self.out_size
        if x.ndim != 4 or x.shape[1:] != (3, size, size):
            raise ValueError(f"{type(self).__name__} (out_size={size}) takes faces of shape (B, 3, {size}, {size}), "
                             f"got {tuple(x.shape)}; align and resize the faces to out_size first")
        feat = self.stem(x)  # (B, C_S, S, S)
        skips = []
        for down in self.conv_body_down:
            feat = down(feat)
            skips.insert(0, feat)  # coarse (4×4) first
        feat = self.bottleneck(feat)  # (B, C4, 4, 4)
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

    @torch.no_grad()
    def start_latent_at_mean(self, num_samples: int = 4096, seed: int = 0) -> None:
        """Initialise the latent head so that every W+ code starts at the prior's mean W (the face the
        prior draws on average) instead of a random point: the bias of `final_linear` becomes the mean
        of `num_samples` mapped z, its weight is kept. Call after the prior is loaded. A training-start
        choice for short runs (docs/training.md), not part of the paper's recipe."""
        if not self.input_is_latent:
            raise ValueError("start_latent_at_mean needs input_is_latent=True (the code is W, not z)")
        device = self.final_linear.weight.device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # caller's RNG untouched
            torch.manual_seed(seed)
            mean_w = self.stylegan_decoder.mean_latent(num_samples)[0]  # (F,), as restore's mean start
        copies = self.final_linear.bias.numel() // self.num_style_feat  # num_latent (W+) or 1
        self.final_linear.bias.copy_(mean_w.repeat(copies) / self.final_linear.lr_mul)

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
