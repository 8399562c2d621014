"""StyleGAN2 generator, "clean" variant: the generative facial prior of GFPGANv1.2–v1.4 (GFP-GAN §3.2).

StyleGAN2 (Karras et al., CVPR 2020) without custom CUDA ops: a mapping MLP z -> w, then synthesis from
a learned 4×4 constant through modulated 3×3 convolutions with weight demodulation, per-pixel noise
injection and a toRGB output per resolution summed through upsampled skips. Resampling is bilinear and
convolutions carry their scale in the weights (no equalised learning rate), as in the released "clean"
GFP-GAN models, whose module and parameter names are kept so their files load strictly.

Without autograd (inference) the modulated convolution scales the *activations* instead of building one
weight per sample (mathematically identical, StyleGAN2 paper §2.2): one ordinary convolution for the
whole batch. When autograd records (training, latent refinement) it modulates the weights and runs a
grouped convolution, as the official code does, because that keeps two feature maps per layer fewer.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn
from torch.nn import functional as F

from gpen.models.stylegan2_ops import StyleGAN2Base, stylegan2_channels
from gpen.utils.validation import check_choice, check_range

RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024)


def to_channels_last(module: nn.Module) -> nn.Module:
    """Put every 4-D parameter and buffer of `module` in channels_last memory format, in place.

    `module.to(memory_format=torch.channels_last)` refuses the 5-D modulated-conv weights, whose shape
    (1, C_out, C_in, k, k) the released files fix; those stay as they are (the convolution follows the
    input's memory format).
    """
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor.ndim == 4:
            tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
    return module


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)  # (B, C, 2H, 2W)


class NormStyleCode(nn.Module):
    """Pixel norm of the input code z: x / sqrt(mean(x²) + 1e-8) over the feature axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution (no bias), optionally demodulated and preceded by 2× upsampling.

    `weight` is (1, C_out, C_in, k, k) as in the released files; `modulation` maps w to per-input-channel
    scales (bias initialised to 1).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_style_feat: int,
                 demodulate: bool = True, upsample: bool = False, eps: float = 1e-8):
        super().__init__()
        self.demodulate, self.upsample, self.eps = demodulate, upsample, eps
        self.modulation = nn.Linear(num_style_feat, in_channels)
        nn.init.kaiming_normal_(self.modulation.weight, a=0, mode="fan_in", nonlinearity="linear")
        nn.init.ones_(self.modulation.bias)
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
                                   / math.sqrt(in_channels * kernel_size**2))
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor, style: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        scales = self.modulation(style)  # (B, C_in)
        if torch.is_grad_enabled() and (x.requires_grad or scales.requires_grad):
            return self.modulate_weights(x, scales, gain)
        return self.modulate_activations(x, scales, gain)

    def modulate_activations(self, x: torch.Tensor, scales: torch.Tensor, gain: float) -> torch.Tensor:
        """Inference path: scale the input channels, one shared-weight convolution, scale the outputs."""
        weight = self.weight[0]  # (C_out, C_in, k, k)
        x = x * scales[:, :, None, None].to(x.dtype)
        if self.upsample:  # per-channel scaling commutes with bilinear resampling: scale the small map
            x = upsample2x(x)
        out = F.conv2d(x, weight.to(x.dtype), padding=self.padding)  # (B, C_out, H, W)
        if self.demodulate:  # 1 / ||w · s||₂ per sample and output channel
            norm = scales.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t()  # (B, C_out)
            gain = gain * torch.rsqrt(norm + self.eps)
            return out * gain[:, :, None, None].to(out.dtype)
        return out * gain if gain != 1.0 else out

    def modulate_weights(self, x: torch.Tensor, scales: torch.Tensor, gain: float) -> torch.Tensor:
        """Training path: one modulated weight per sample and a grouped convolution.

        Autograd then keeps only the (upsampled) input and the small weights, where the inference
        path would also keep the unscaled input and the undemodulated output: two feature maps less
        per layer, which is most of the generator's training memory.
        """
        batch = x.shape[0]
        weight = self.weight * scales[:, None, :, None, None]  # (B, C_out, C_in, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + self.eps)
        if self.upsample:
            x = upsample2x(x)
        weight = (weight * gain).flatten(0, 1).to(x.dtype)  # (B·C_out, C_in, k, k)
        out = F.conv2d(x.reshape(1, -1, *x.shape[2:]), weight, padding=self.padding, groups=batch)
        return out.view(batch, -1, *out.shape[2:])  # (B, C_out, H, W)


class StyleConv(nn.Module):
    """Modulated 3×3 conv -> ×√2 -> + noise · learned strength -> + bias -> LeakyReLU(0.2)."""

    def __init__(self, in_channels: int, out_channels: int, num_style_feat: int, upsample: bool = False):
        super().__init__()
        self.modulated_conv = ModulatedConv2d(in_channels, out_channels, 3, num_style_feat, upsample=upsample)
        self.weight = nn.Parameter(torch.zeros(1))  # noise strength
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style, gain=math.sqrt(2))  # √2: gain of the original fused LeakyReLU
        if noise is None:
            noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()  # (B, 1, H, W)
        # Cast the small operands to the features' dtype: under bf16 autocast the float32 parameters
        # would otherwise promote the whole (B, C, H, W) map back to float32 at every layer.
        out = out + self.weight.to(out.dtype) * noise.to(out.dtype) + self.bias.to(out.dtype)
        return F.leaky_relu(out, 0.2)


class ToRGB(nn.Module):
    """Modulated 1×1 conv to RGB (no demodulation) + bias, added to the upsampled previous RGB."""

    def __init__(self, in_channels: int, num_style_feat: int, upsample: bool = True):
        super().__init__()
        self.upsample = upsample
        self.modulated_conv = ModulatedConv2d(in_channels, 3, 1, num_style_feat, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.modulated_conv(x, style) + self.bias  # (B, 3, H, W)
        if skip is not None:
            out = out + (upsample2x(skip) if self.upsample else skip)
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels: int, size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.weight.expand(batch, -1, -1, -1)  # (B, C, 4, 4)


def mapping_mlp(num_style_feat: int, num_mlp: int) -> nn.Sequential:
    """z -> w: pixel norm, then `num_mlp` × (Linear, LeakyReLU 0.2); keys style_mlp.1, .3, ... as released."""
    layers: list[nn.Module] = [NormStyleCode()]
    for _ in range(num_mlp):
        linear = nn.Linear(num_style_feat, num_style_feat)
        nn.init.kaiming_normal_(linear.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers)


class StyleGAN2GeneratorClean(StyleGAN2Base):
    """StyleGAN2 generator: z (B, F) or W / W+ codes -> (B, 3, out_size, out_size) image in about [-1, 1].

    Usable on its own (`forward` keeps the official call signature) and as the GFP-GAN prior through
    `styles_to_wplus`, `resolve_noises` and `synthesize(latent, noises, modulate)`, where `modulate` is
    applied after the first conv of every resolution 8…out_size (the SFT injection point); those
    live in `StyleGAN2Base`, shared with the original-architecture generator.
    """

    def __init__(self, out_size: int, num_style_feat: int = 512, num_mlp: int = 8, channel_multiplier: float = 2,
                 narrow: float = 1):
        super().__init__()
        check_choice("out_size", out_size, RESOLUTIONS)
        check_range("channel_multiplier", channel_multiplier, 0.0625, 8)
        check_range("narrow", narrow, 0.0, 8)
        self.init_layout(out_size, num_style_feat)  # log_size, num_layers, num_latent, noise maps
        self.style_mlp = mapping_mlp(num_style_feat, num_mlp)
        self.channels = ch = stylegan2_channels(channel_multiplier, narrow)
        self.constant_input = ConstantInput(ch[4], 4)
        self.style_conv1 = StyleConv(ch[4], ch[4], num_style_feat)
        self.to_rgb1 = ToRGB(ch[4], num_style_feat, upsample=False)
        self.style_convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        in_channels = ch[4]
        for res in (2**i for i in range(3, self.log_size + 1)):
            self.style_convs.append(StyleConv(in_channels, ch[res], num_style_feat, upsample=True))
            self.style_convs.append(StyleConv(ch[res], ch[res], num_style_feat))
            self.to_rgbs.append(ToRGB(ch[res], num_style_feat))
            in_channels = ch[res]
