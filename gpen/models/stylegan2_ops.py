"""StyleGAN2 building blocks in plain PyTorch ops (Karras et al. 2020, used by GFP-GAN §3.2 and §3.4).

The original GFPGANv1 and the StyleGAN2 / facial-component discriminators are built from:

- equalised learning rate: weights are stored N(0, 1) and scaled by 1/sqrt(fan_in) at run time
  (`EqualConv2d`, `EqualLinear`), so the official checkpoints load unchanged;
- bias + LeakyReLU(0.2) scaled by sqrt(2) (`FusedLeakyReLU`), here as two ordinary ops instead of a CUDA
  extension — autograd handles them (the double backward of R1 included), and the math is identical;
- FIR resampling with the (1, 3, 3, 1) blur kernel (`upfirdn2d`), here as a depthwise `conv2d`
  (one filter per channel, `groups=C`) instead of the reference implementations' reshape of every
  channel into the batch dimension; that keeps channels_last layouts and is faster on CPU.

Operations run in the reference order, so with identical weights the outputs equal the official
ones bit for bit on CPU (experiments/check_official_parity_v1.py). Module and parameter names follow
the official StyleGAN2 / GFP-GAN code so released state dicts load strictly (e.g.
`conv_body.1.conv2.1.weight`, `final_linear.0.bias`).

`StyleGAN2Base` holds what any StyleGAN2 generator variant does with its layers (codes -> W+,
fixed or fresh noise, synthesis with a feature hook for SFT, the official call signature).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

SQRT2 = math.sqrt(2.0)
# hook(level, features) -> features, called after the first conv of resolution 2**(level + 3)
FeatureHook = Callable[[int, torch.Tensor], torch.Tensor]


def make_resample_kernel(taps: Sequence[float]) -> torch.Tensor:
    """2-D FIR kernel, the outer product of the 1-D `taps`, normalised to sum 1.  # (K, K)"""
    k = torch.as_tensor(taps, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with `kernel` (true convolution), keep every `down`-th.

    x: (B, C, H, W); kernel: (Kh, Kw); pad: (before, after), applied to both axes (negative crops).
    Returns (B, C, (H·up + pad0 + pad1 - Kh) // down + 1, (W·up + pad0 + pad1 - Kw) // down + 1).
    """
    b, c, h, w = x.shape
    if up > 1:  # (B, C, H, 1, W, 1) -> pad the singleton axes -> (B, C, H·up, W·up)
        x = F.pad(x.reshape(b, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(b, c, h * up, w * up)
    if pad != (0, 0):
        x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))  # negative values crop
    kh, kw = kernel.shape
    # conv2d is a correlation: flip the kernel for a true convolution (matters for asymmetric kernels)
    weight = kernel.flip((0, 1)).to(dtype=x.dtype, device=x.device).expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=down, groups=c)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    """LeakyReLU(x + bias) · scale, the bias broadcast over the channel axis (dim 1).

    Same operation order as the reference (so results match it bit for bit); without autograd the
    activation and the scaling run in place on the fresh sum, saving two full-size temporaries.
    """
    out = x if bias is None else x + bias.view(1, -1, *([1] * (x.ndim - 2)))
    if out is not x and not (torch.is_grad_enabled() and out.requires_grad):
        return F.leaky_relu_(out, negative_slope).mul_(scale)
    return F.leaky_relu(out, negative_slope) * scale


class FusedLeakyReLU(nn.Module):
    """Per-channel bias then LeakyReLU(0.2)·sqrt(2); the bias lives here (official key `<name>.bias`)."""

    def __init__(self, channels: int, negative_slope: float = 0.2, scale: float = SQRT2):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


class ScaledLeakyReLU(nn.Module):
    """LeakyReLU(0.2)·sqrt(2) without a bias (keeps the activation variance of the equalised layers)."""

    def __init__(self, negative_slope: float = 0.2):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, None, self.negative_slope)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate: weight ~ N(0, 1), scaled by 1/sqrt(in·k²) at run time."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True, bias_init_val: float = 0.0):
        super().__init__()
        self.stride, self.padding = stride, padding
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init_val))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, stride={self.stride}, padding={self.padding}, bias={self.bias is not None}"


class EqualLinear(nn.Module):
    """Linear with equalised learning rate and a learning-rate multiplier `lr_mul` (mapping MLP: 0.01).

    `activate=True` applies the fused bias + LeakyReLU·sqrt(2) after the matmul.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, bias_init_val: float = 0.0,
                 lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.lr_mul, self.activate = lr_mul, activate
        self.scale = lr_mul / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.randn(out_features, in_features).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init_val))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias * self.lr_mul
        if not self.activate:
            return F.linear(x, self.weight * self.scale, bias)
        out = F.linear(x, self.weight * self.scale)  # (..., out_features)
        return F.leaky_relu(out if bias is None else out + bias, 0.2) * SQRT2  # bias on the last axis

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return f"{i}, {o}, lr_mul={self.lr_mul}, activate={self.activate}"


class UpFirDnUpsample(nn.Module):
    """×`factor` upsampling with the FIR kernel (the skip path of StyleGAN2's toRGB).

    `persistent_kernel`: keep the kernel in the state dict (rosinality-style files such as GPEN's have it).
    """

    def __init__(self, resample_kernel: Sequence[int], factor: int = 2, persistent_kernel: bool = False):
        super().__init__()
        self.register_buffer("kernel", make_resample_kernel(resample_kernel) * factor**2,
                             persistent=persistent_kernel)
        self.factor = factor
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)  # (B, C, H·f, W·f)


class UpFirDnSmooth(nn.Module):
    """FIR blur that accompanies a strided conv (before it, `down`) or a transposed conv (after it, `up`).

    The padding makes the blur + conv pair shape-exact: a k×k stride-2 conv after it halves H and W,
    a k×k stride-2 transposed conv before it doubles them.
    """

    def __init__(self, resample_kernel: Sequence[int], up: int = 1, down: int = 1, kernel_size: int = 1,
                 persistent_kernel: bool = False):
        super().__init__()
        if (up > 1) == (down > 1):
            raise ValueError(f"UpFirDnSmooth needs exactly one of up={up} or down={down} to be > 1")
        kernel = make_resample_kernel(resample_kernel)
        if up > 1:
            kernel = kernel * up**2
            p = (kernel.shape[0] - up) - (kernel_size - 1)
            self.pad = ((p + 1) // 2 + up - 1, p // 2 + 1)
        else:
            p = (kernel.shape[0] - down) + (kernel_size - 1)
            self.pad = ((p + 1) // 2, p // 2)
        self.register_buffer("kernel", kernel, persistent=persistent_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class ConvLayer(nn.Sequential):
    """[blur] → equalised conv (stride 2 if `downsample`) → [bias + LeakyReLU·sqrt(2)].

    Sequential indices match the official keys: without downsampling `0` is the conv and `1` the
    activation; with it `0` is the blur (no parameters; its kernel is a buffer, saved with
    `persistent_kernel`), `1` the conv, `2` the activation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, downsample: bool = False,
                 resample_kernel: Sequence[int] = (1, 3, 3, 1), bias: bool = True, activate: bool = True,
                 persistent_kernel: bool = False):
        layers: list[nn.Module] = []
        if downsample:
            layers.append(UpFirDnSmooth(resample_kernel, down=2, kernel_size=kernel_size,
                                        persistent_kernel=persistent_kernel))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        # with an activation the bias sits in FusedLeakyReLU, so the conv itself has none
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channels) if bias else ScaledLeakyReLU(0.2))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual ×½ downsampling block of the StyleGAN2 discriminator (also the GFPGANv1 U-Net encoder)."""

    def __init__(self, in_channels: int, out_channels: int, resample_kernel: Sequence[int] = (1, 3, 3, 1),
                 persistent_kernel: bool = False):
        super().__init__()
        rk, keep = resample_kernel, persistent_kernel
        self.conv1 = ConvLayer(in_channels, in_channels, 3)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, resample_kernel=rk, persistent_kernel=keep)
        self.skip = ConvLayer(in_channels, out_channels, 1, downsample=True, resample_kernel=rk,
                              bias=False, activate=False, persistent_kernel=keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H/2, W/2)
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


def stylegan2_channels(channel_multiplier: float, narrow: float) -> dict[int, int]:
    """Feature width per resolution of StyleGAN2 (docs/architecture.md): 512 up to 32 px, then halving
    (the product with channel_multiplier and narrow first, then truncation)."""
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
            256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier,
            2048: 8 * channel_multiplier}
    return {res: int(width * narrow) for res, width in base.items()}


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, scale: float,
                     demodulate: bool = True, eps: float = 1e-8, upsample: bool = False,
                     padding: int = 0) -> torch.Tensor:
    """StyleGAN2's modulated convolution with per-sample weights (batch folded into conv groups).

    x: (B, Cin, H, W); weight: the stored (1, Cout, Cin, k, k); styles: (B, Cin), the modulation output.
    The weight is scaled by `scale`·styles and, with `demodulate`, normalised to unit output variance.
    Returns (B, Cout, H, W), or with `upsample` the stride-2 transposed conv (weight not flipped) of size
    (B, Cout, 2H+1, 2W+1), which the caller blurs down to 2H.
    """
    b, c, h, w = x.shape
    _, o, _, k, _ = weight.shape
    weight = scale * weight * styles.view(b, 1, c, 1, 1)  # (B, Cout, Cin, k, k)
    if demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + eps)
    x = x.reshape(1, b * c, h, w)
    if upsample:  # conv_transpose2d weight layout: (Cin·B, Cout, k, k)
        weight = weight.transpose(1, 2).reshape(b * c, o, k, k)
        out = F.conv_transpose2d(x, weight, stride=2, groups=b)  # (1, B·Cout, 2H+1, 2W+1)
        return out.view(b, o, *out.shape[2:])
    out = F.conv2d(x, weight.reshape(b * o, c, k, k), padding=padding, groups=b)
    return out.view(b, o, h, w)


class StyleGAN2Base(nn.Module):
    """What every StyleGAN2 generator variant does with its layers: codes -> W+ -> image.

    A subclass calls `init_layout` and builds `style_mlp`, `constant_input`, `style_conv1`, `to_rgb1`
    and the per-resolution `style_convs` (two per level) and `to_rgbs`; the call conventions
    (official `forward` signature, fixed noise maps in `noises.noise{i}`) and the GFP-GAN hooks
    (`styles_to_wplus`, `resolve_noises`, `synthesize` with a feature `modulate` hook) live here.
    """

    def init_layout(self, out_size: int, num_style_feat: int) -> None:
        self.num_style_feat = num_style_feat
        self.log_size = int(math.log2(out_size))
        self.num_layers = (self.log_size - 2) * 2 + 1  # styled convs = noise inputs
        self.num_latent = self.log_size * 2 - 2  # W+ entries: convs + toRGBs, sharing one per pair
        self.noises = nn.Module()  # fixed noise maps, used when noise is not randomised (eval)
        for layer in range(self.num_layers):
            res = 2 ** ((layer + 5) // 2)  # 4, 8, 8, 16, 16, ...
            self.noises.register_buffer(f"noise{layer}", torch.randn(1, 1, res, res))

    def resolve_noises(self, randomize_noise: bool | None) -> list[torch.Tensor | None]:
        """None = fresh noise when training, the stored maps in eval mode (official randomize_noise=False)."""
        randomize = self.training if randomize_noise is None else randomize_noise
        if randomize:
            return [None] * self.num_layers
        return [getattr(self.noises, f"noise{i}") for i in range(self.num_layers)]

    @torch.no_grad()
    def mean_latent(self, num_samples: int = 4096) -> torch.Tensor:
        """Average w of `num_samples` random z, (1, F): the truncation centre and a GAN-inversion start."""
        z = torch.randn(num_samples, self.num_style_feat, device=self.constant_input.weight.device)
        return self.style_mlp(z).mean(0, keepdim=True)

    def styles_to_wplus(self, styles: Sequence[torch.Tensor], input_is_latent: bool, truncation: float = 1.0,
                        truncation_latent: torch.Tensor | None = None, inject_index: int | None = None
                        ) -> torch.Tensor:
        """One code, or two for style mixing (z, or w if input_is_latent; (B, F) or (B, L, F)) -> W+ (B, L, F)."""
        if not input_is_latent:
            styles = [self.style_mlp(s) for s in styles]
        if truncation < 1:
            styles = [truncation_latent + truncation * (s - truncation_latent) for s in styles]
        if len(styles) == 1:
            return styles[0] if styles[0].ndim == 3 else styles[0].unsqueeze(1).repeat(1, self.num_latent, 1)
        if len(styles) != 2:
            raise ValueError(f"{type(self).__name__} takes 1 or 2 style codes (style mixing), got {len(styles)}")
        if inject_index is None:  # style mixing: random crossover layer
            inject_index = int(torch.randint(1, self.num_latent, ()).item())
        first = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
        return torch.cat([first, styles[1].unsqueeze(1).repeat(1, self.num_latent - inject_index, 1)], dim=1)

    def synthesize(self, latent: torch.Tensor, noises: Sequence[torch.Tensor | None],
                   modulate: FeatureHook | None = None) -> torch.Tensor:
        """W+ (B, num_latent, F) -> image (B, 3, S, S); `modulate` edits features after each level's 1st conv."""
        out = self.style_conv1(self.constant_input(latent.shape[0]), latent[:, 0], noises[0])  # (B, C4, 4, 4)
        skip = self.to_rgb1(out, latent[:, 1])  # (B, 3, 4, 4)
        for level, to_rgb in enumerate(self.to_rgbs):
            i = 2 * level + 1  # latent and noise index of this level's first conv
            out = self.style_convs[2 * level](out, latent[:, i], noises[i])  # (B, C, 2H, 2W)
            if modulate is not None:
                out = modulate(level, out)
            out = self.style_convs[2 * level + 1](out, latent[:, i + 1], noises[i + 1])
            skip = to_rgb(out, latent[:, i + 2], skip)
        return skip

    def forward(self, styles: Sequence[torch.Tensor], input_is_latent: bool = False,
                noise: Sequence[torch.Tensor] | None = None, randomize_noise: bool | None = None,
                truncation: float = 1.0, truncation_latent: torch.Tensor | None = None,
                inject_index: int | None = None, return_latents: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Official call signature: returns (image, W+ latent if return_latents else None)."""
        latent = self.styles_to_wplus(styles, input_is_latent, truncation, truncation_latent, inject_index)
        noises = list(noise) if noise is not None else self.resolve_noises(randomize_noise)
        return self.synthesize(latent, noises), (latent if return_latents else None)
