"""An unconditional StyleGAN2 (Karras et al., CVPR 2020) as a trainable generator: the face prior itself.

GFP-GAN's decoder is a StyleGAN2 trained on faces first (the official prior was trained with BasicSR's
StyleGAN2 recipe, see docs/training.md). `UnconditionalStyleGAN2` wraps one of our StyleGAN2 generators
(original or clean architecture) so the training module drives it like a restoration generator:
`forward(batch_size)` draws z, applies style mixing, and returns `(image, [], latent)` — the same
contract as the GFP-GAN generators, with no input image and no pyramid. The wrapped network is the
`decoder`, whose state dict is exactly the released prior layout (`params_ema` in the exported file).
`UnconditionalConcatNoise` does the same for GPEN's prior, whose noise inputs are concatenated maps.
"""

from __future__ import annotations

import torch
from torch import nn

from gpen.models.stylegan2_ops import stylegan2_channels
from gpen.utils.validation import check_probability


class UnconditionalStyleGAN2(nn.Module):
    """z ~ N(0, I) -> mapping MLP -> W+ (style mixing with probability `mixing_prob`) -> image."""

    export_attribute = "decoder"  # the sub-module written as the prior file (official `params_ema` keys)

    def __init__(self, decoder: nn.Module,                   # StyleGAN2Generator / StyleGAN2GeneratorClean
                 mixing_prob: float = 0.9) -> None:          # official StyleGAN2 recipe: 0.9
        super().__init__()
        self.decoder = decoder
        self.mixing_prob = check_probability("model.generator.mixing_prob", mixing_prob)
        self.num_style_feat = decoder.num_style_feat
        self.num_latent = decoder.num_latent
        self.out_size = 2 ** decoder.log_size

    def sample_z(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, 2, F) standard-normal codes: the second is used only when a sample is style-mixed."""
        device = self.decoder.constant_input.weight.device
        if generator is not None:  # a seeded CPU generator: the same codes on every device
            return torch.randn(batch_size, 2, self.num_style_feat, generator=generator).to(device)
        return torch.randn(batch_size, 2, self.num_style_feat, device=device)

    def mix(self, w: torch.Tensor) -> torch.Tensor:
        """w (B, 2, F) -> W+ (B, L, F): per sample, with probability mixing_prob, layers from a random
        crossover index c ∈ [1, L-1] on take the second code; otherwise every layer takes the first."""
        b, length = w.shape[0], self.num_latent
        draws = torch.rand(b, device=w.device)
        crossover = torch.randint(1, length, (b,), device=w.device)
        crossover = torch.where(draws < self.mixing_prob, crossover, torch.full_like(crossover, length))
        second = torch.arange(length, device=w.device)[None, :] >= crossover[:, None]  # (B, L)
        return torch.where(second[..., None], w[:, 1:2], w[:, 0:1])  # (B, L, F)

    def forward(self, batch_size: int | torch.Tensor, return_latents: bool = False, return_rgb: bool = True,
                randomize_noise: bool | None = None, latent: torch.Tensor | None = None,
                z: torch.Tensor | None = None):
        """-> (image, []) or (image, [], W+). `batch_size` may be a tensor (its first dimension is used);
        `z` (B, 2, F) fixes the codes (fixed-latent sample grids), `latent` (B, L, F) bypasses the mapping."""
        if isinstance(batch_size, torch.Tensor):
            batch_size = batch_size.shape[0]
        if latent is None:
            z = self.sample_z(batch_size) if z is None else z
            w = self.decoder.style_mlp(z.flatten(0, 1)).view_as(z)  # (B, 2, F)
            latent = self.mix(w) if self.training and self.mixing_prob > 0 else w[:, :1].expand(
                -1, self.num_latent, -1)
        image = self.decoder.synthesize(latent, self.decoder.resolve_noises(randomize_noise))
        return (image, [], latent) if return_latents else (image, [])


def concat_noise_stylegan2(out_size: int, num_style_feat: int = 512, num_mlp: int = 8,
                           channel_multiplier: float = 2, narrow: float = 1.0, lr_mlp: float = 0.01) -> nn.Module:
    """GPEN's prior network (`GPENGenerator.generator`) on its own, sized like the GPEN generator."""
    from gpen.models.gpen import ConcatNoiseStyleGAN2  # GPEN's blocks live with GPEN

    channels = stylegan2_channels(channel_multiplier, narrow)
    return ConcatNoiseStyleGAN2(out_size, num_style_feat, num_mlp, channels, lr_mlp)


class UnconditionalConcatNoise(nn.Module):
    """GPEN's prior trained unconditionally (Yang et al., CVPR 2021, §3.2: the GAN prior is pre-trained
    first): z -> mapping MLP -> one w; the inputs that GPEN later fills with encoder maps get random
    normal maps of the layer widths (concatenated, as in GPEN). No style mixing: GPEN has a single w.
    The `decoder` is exported and loads into `GPENGenerator.generator` of the same size."""

    export_attribute = "decoder"

    def __init__(self, decoder: nn.Module) -> None:              # concat_noise_stylegan2(...)
        super().__init__()
        self.decoder = decoder
        self.num_style_feat = decoder.conv1.conv.modulation.weight.shape[1]
        self.widths = [decoder.conv1.conv.weight.shape[1]] + [c.conv.weight.shape[1] for c in decoder.convs[::2]]
        self.out_size = 2 ** (len(self.widths) + 1)

    def sample_z(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, 1, F) standard-normal codes."""
        device = self.decoder.input.input.device
        z = torch.randn(batch_size, 1, self.num_style_feat, generator=generator)
        return z.to(device)

    def noise_maps(self, batch_size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """One (B, C_r, r, r) standard-normal map per resolution 4…S, coarse first."""
        device = self.decoder.input.input.device
        return [torch.randn(batch_size, c, 2 ** (i + 2), 2 ** (i + 2), generator=generator).to(device)
                for i, c in enumerate(self.widths)]

    def forward(self, batch_size: int | torch.Tensor, return_latents: bool = False, return_rgb: bool = True,
                randomize_noise: bool | None = None, latent: torch.Tensor | None = None,
                z: torch.Tensor | None = None):
        """-> (image, []) or (image, [], w (B, F)). In eval mode (and unless randomize_noise) the maps are
        fixed (seed 0), so sample grids from fixed z are comparable across validations."""
        if isinstance(batch_size, torch.Tensor):
            batch_size = batch_size.shape[0]
        if latent is None:
            z = self.sample_z(batch_size) if z is None else z
            latent = self.decoder.style(z[:, 0])  # (B, F)
        randomize = self.training if randomize_noise is None else randomize_noise
        maps = self.noise_maps(batch_size, None if randomize else torch.Generator().manual_seed(0))
        image = self.decoder.synthesize(latent, maps)
        return (image, [], latent) if return_latents else (image, [])
