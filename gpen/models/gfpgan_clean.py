"""GFP-GAN generator, "clean" architecture of the released GFPGANv1.2–v1.4 models (GFP-GAN §3).

A U-Net "degradation removal" module encodes the degraded face; its bottleneck is mapped to a W+ code
for the StyleGAN2 prior (latent code mapping, §3.2) and its decoder side yields, at every resolution
8…out_size, an RGB image for the pyramid restoration loss and a pair of SFT conditions (scale, shift)
that modulate the prior's features (channel-split SFT, §3.3). Bilinear resampling, plain convolutions;
module names follow the released files so GFPGANv1.3.pth / GFPGANv1.4.pth (`params_ema`) load strictly.
"""

from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F

from gpen.models.gfpgan_base import GFPGANBase
from gpen.models.stylegan2_clean import StyleGAN2GeneratorClean


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


class GFPGANv1Clean(GFPGANBase):
    """Clean GFP-GAN generator: (B, 3, S, S) degraded face in [-1, 1] -> restored face + pyramid.

    Ablation switches: `sft_half` (CS-SFT vs SFT), `use_sft=False` (latent-only: no condition convs,
    the prior sees only the W+ code), `different_w` (W+ vs one W), `input_is_latent` (the code is W,
    not z through the mapping MLP), `fix_decoder` (frozen prior), `narrow`, `channel_multiplier`, and
    the fidelity knob `sft_strength` (docs/knobs.md), an attribute that may be changed at any time.
    Defaults fit the released v1.3/v1.4 files except `sft_half` (they use True). The StyleGAN2 prior
    is loaded into `stylegan_decoder` by `gpen.models.loading.load_stylegan2_prior`.
    """

    def __init__(self, out_size: int = 512, num_style_feat: int = 512, channel_multiplier: float = 2,
                 fix_decoder: bool = True, num_mlp: int = 8, input_is_latent: bool = True,
                 different_w: bool = True, narrow: float = 1, sft_half: bool = False, use_sft: bool = True,
                 sft_strength: float = 1.0):
        super().__init__()
        ch, levels = self._configure(out_size, num_style_feat, channel_multiplier, narrow, input_is_latent,
                                     different_w, sft_half, use_sft, sft_strength)
        self.conv_body_first = nn.Conv2d(3, ch[out_size], 1)
        self.conv_body_down = nn.ModuleList(
            ResBlock(ch[2**i], ch[2 ** (i - 1)], up=False) for i in range(self.log_size, 2, -1))
        self.final_conv = nn.Conv2d(ch[4], ch[4], 3, padding=1)
        self.conv_body_up = nn.ModuleList(ResBlock(ch[r // 2], ch[r], up=True) for r in levels)
        self.toRGB = nn.ModuleList(nn.Conv2d(ch[r], 3, 1) for r in levels)
        self.final_linear = nn.Linear(ch[4] * 4 * 4, (self.num_latent if different_w else 1) * num_style_feat)

        self.stylegan_decoder = StyleGAN2GeneratorClean(out_size, num_style_feat, num_mlp, channel_multiplier,
                                                        narrow)
        if fix_decoder:
            self.stylegan_decoder.requires_grad_(False)
        if use_sft:
            width = self.condition_widths(ch, levels)
            self.condition_scale = nn.ModuleList(condition_branch(ch[r], width[r]) for r in levels)
            self.condition_shift = nn.ModuleList(condition_branch(ch[r], width[r]) for r in levels)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv_body_first(x), 0.2)

    def bottleneck(self, feat: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.final_conv(feat), 0.2)
