"""Discriminators of GFP-GAN (§3.4): the global StyleGAN2 discriminator and the facial-component one;
and GPEN's (Yang et al., CVPR 2021), the same StyleGAN2 network under the reference implementation's names.

All use the original StyleGAN2 ops (equalised convs, FIR-blur downsampling) so the official
discriminator checkpoints load strictly and outputs match the reference implementation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from gpen.models.stylegan2_ops import ConvLayer, EqualLinear, ResBlock, stylegan2_channels
from gpen.utils.validation import check_choice, check_range

RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class StyleGAN2Discriminator(nn.Module):
    """Residual StyleGAN2 discriminator: (B, 3, S, S) image in [-1, 1] -> (B, 1) real/fake logits.

    The 4×4 head appends the minibatch standard deviation (over groups of `stddev_group` samples;
    None: the whole batch) as one extra feature map, which discourages mode collapse.
    """

    body_name = "conv_body"       # attribute (= key prefix in the files) of the residual trunk
    persistent_kernels = False    # FIR kernels in the state dict (not in BasicSR / GFP-GAN files)

    def __init__(self, out_size: int, channel_multiplier: float = 1, resample_kernel: Sequence[int] = (1, 3, 3, 1),
                 stddev_group: int | None = 4, narrow: float = 1.0):
        super().__init__()
        check_choice("out_size", out_size, RESOLUTIONS)
        check_range("channel_multiplier", channel_multiplier, 0.0625, 8)
        check_range("narrow", narrow, 0.0, 8)
        ch = stylegan2_channels(channel_multiplier, narrow)
        body: list[nn.Module] = [ConvLayer(3, ch[out_size], 1)]
        in_channels = ch[out_size]
        for log_res in range(int(math.log2(out_size)), 2, -1):  # out_size ... 8 -> halves down to 4×4
            out_channels = ch[2 ** (log_res - 1)]
            body.append(ResBlock(in_channels, out_channels, resample_kernel, self.persistent_kernels))
            in_channels = out_channels
        self.add_module(self.body_name, nn.Sequential(*body))
        self.final_conv = ConvLayer(in_channels + 1, ch[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(ch[4] * 4 * 4, ch[4], activate=True),
            EqualLinear(ch[4], 1),
        )
        self.stddev_group = stddev_group

    def minibatch_stddev(self, feat: torch.Tensor) -> torch.Tensor:
        """Append the group standard deviation as one channel.  (B, C, H, W) -> (B, C+1, H, W)"""
        b, c, h, w = feat.shape
        group = b if self.stddev_group is None else min(b, self.stddev_group)
        if b % group:
            raise ValueError(f"StyleGAN2Discriminator: batch size {b} must be a multiple of stddev_group="
                             f"{self.stddev_group} (or smaller than it); change the batch size or stddev_group")
        grouped = feat.view(group, -1, 1, c, h, w)  # (G, B/G, 1, C, H, W)
        std = torch.sqrt(grouped.var(0, unbiased=False) + 1e-8)  # (B/G, 1, C, H, W)
        std = std.mean(dim=(2, 3, 4), keepdim=True).squeeze(2)  # (B/G, 1, 1, 1)
        return torch.cat([feat, std.repeat(group, 1, h, w)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = getattr(self, self.body_name)(x)  # (B, C4, 4, 4)
        feat = self.final_conv(self.minibatch_stddev(feat))  # (B, C4, 4, 4)
        return self.final_linear(feat.flatten(1))  # (B, 1)


class GPENDiscriminator(StyleGAN2Discriminator):
    """GPEN's discriminator: the residual StyleGAN2 one with GPEN's defaults (cm 2, the minibatch
    standard deviation over the whole batch) and the reference key names (`convs.*`, FIR kernels saved),
    so discriminators trained with GPEN's public trainer load strictly. 28,982,849 parameters at 512.
    """

    body_name = "convs"
    persistent_kernels = True

    def __init__(self, out_size: int, channel_multiplier: float = 2, resample_kernel: Sequence[int] = (1, 3, 3, 1),
                 stddev_group: int | None = None, narrow: float = 1.0):
        super().__init__(out_size, channel_multiplier, resample_kernel, stddev_group, narrow)


class FacialComponentDiscriminator(nn.Module):
    """VGG-style patch discriminator for one facial component crop (eye 80×80, mouth 120×120 at 512).

    forward(x, return_feats) -> (logit map (B, 1, H/4, W/4), [features at H/2 and H/4] or None);
    the features feed the Gram-matrix component style loss (docs/training.md).
    """

    def __init__(self, resample_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        rk = resample_kernel
        self.conv1 = ConvLayer(3, 64, 3)
        self.conv2 = ConvLayer(64, 128, 3, downsample=True, resample_kernel=rk)
        self.conv3 = ConvLayer(128, 128, 3)
        self.conv4 = ConvLayer(128, 256, 3, downsample=True, resample_kernel=rk)
        self.conv5 = ConvLayer(256, 256, 3)
        self.final_conv = ConvLayer(256, 1, 3, activate=False)

    def forward(self, x: torch.Tensor, return_feats: bool = False) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        half = self.conv3(self.conv2(self.conv1(x)))  # (B, 128, H/2, W/2)
        quarter = self.conv5(self.conv4(half))  # (B, 256, H/4, W/4)
        logits = self.final_conv(quarter)  # (B, 1, H/4, W/4)
        return logits, ([half, quarter] if return_feats else None)
