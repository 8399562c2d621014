"""Texture measures: does the texture and grain of a face survive restoration? (docs/evaluation.md)

No face-restoration benchmark measures it, and the texture controls (docs/knobs.md) need it. None needs
pretrained weights. Each runs on the whole face (the aligned crop, Hann-windowed) or inside a region
mask (default skin: soft masks from the aligned-face template, the same masks the region blend uses).

- `HFRatio`: log(high-frequency power of the output / that of the reference R), power from the radially
  averaged spectrum of the luma in a band (default the top octave, 0.25-0.5 cycles/pixel).
  0 = texture kept, < 0 over-smoothed ("plastic"), > 0 noise or invented detail.
- `LFD`: log frequency distance (Jiang et al., ICCV 2021, "Focal Frequency Loss"):
  log(1 + mean over (u, v) of |F(out) - F(R)|^2), unnormalised 2-D DFT per RGB channel on the 0-255
  scale, mean over channels. By Parseval it equals log(1 + sum of squared pixel differences), so it
  grows with image size: compare at one size. 0 for identical images, lower is closer.
- `GrainFidelity`: the noise residual (luma - Gaussian low-pass) of output and input; the standard
  deviation of each in 8 luminance bins (bins of the input's low-passed luma), mean |log ratio|.
  0 = the grain's strength survived. The details also record the mean |difference| of the slopes of
  the residuals' radial power spectra (the grain's size).

Reference R: the ground truth on paired sets and the input on unpaired ones for HFRatio and LFD; the
input always for GrainFidelity ("did the input's grain survive?"). Report them next to PSNR, LPIPS,
NIQE and identity, never alone: a texture score alone rewards noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gpen.data.regions import REGION_IDS, REGION_NAMES
from gpen.metrics.base import PerImageMetric, quantize_8bit
from gpen.restore.filters import gaussian_blur, luma
from gpen.restore.masks import template_masks
from gpen.utils.validation import check_choice, check_interval, check_range

REFERENCES = ("gt_or_input", "input")
STD_FLOOR = 0.1  # 0-255 scale, below 8-bit rounding noise (0.29): keeps log ratios of flat images finite


def hann_window(height: int, width: int, dtype=torch.float64, device=None) -> torch.Tensor:
    """(1, 1, H, W) separable Hann window: the whole-face window (no spectral leakage from the borders)."""
    rows = torch.hann_window(height, periodic=False, dtype=dtype, device=device)
    cols = torch.hann_window(width, periodic=False, dtype=dtype, device=device)
    return (rows[:, None] * cols[None, :])[None, None]


def radial_profile(power: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Power spectra (B, H, W) -> (mean power per radial bin (B, N), bin centre frequency (N,) cycles/pixel)."""
    h, w = power.shape[-2:]
    fy = torch.fft.fftfreq(h, dtype=torch.float64, device=power.device)
    fx = torch.fft.fftfreq(w, dtype=torch.float64, device=power.device)
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)  # (H, W)
    n = min(h, w)
    index = torch.clamp((radius * n).round().long(), max=n // 2 + 1).flatten()  # bins of width 1/n
    sums = torch.zeros(power.shape[0], n // 2 + 2, dtype=power.dtype, device=power.device)
    sums.index_add_(1, index, power.flatten(1))
    counts = torch.bincount(index, minlength=n // 2 + 2).clamp_min(1).to(power.dtype)
    return sums / counts, torch.arange(n // 2 + 2, dtype=torch.float64, device=power.device) / n


def windowed_spectrum(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Power |DFT|^2 (B, H, W) of single-channel images (B, 1, H, W) after removing the windowed mean."""
    mean = (images * window).sum((2, 3), keepdim=True) / window.sum((2, 3), keepdim=True).clamp_min(1e-12)
    return torch.fft.fft2(((images - mean) * window)[:, 0]).abs() ** 2


class TextureMeasure(PerImageMetric):
    """Shared parts: region windows, reference resizing, recorded settings."""

    needs_reference = True
    reference_kind = "gt_or_input"   # which image R is: GT where the set has it, else the input
    base_name = "texture"

    def __init__(self, region: str | None = None) -> None:
        super().__init__()
        if region is not None:
            check_choice("metrics.<texture>.region", region, REGION_NAMES)
        self.region = region
        self.name = self.base_name if region is None else f"{self.base_name} ({region})"
        self._masks: dict[tuple, torch.Tensor] = {}

    def window(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) weights: a Hann window on the whole face, the soft region mask otherwise."""
        b, _, h, w = images.shape
        if self.region is None:
            return hann_window(h, w, images.dtype, images.device).expand(b, 1, h, w)
        if h != w:
            raise ValueError(f"{self.name}: region masks need square aligned faces, got {h}x{w}")
        key = (h, images.device, images.dtype)
        if key not in self._masks:  # one soft mask per size: the template does not depend on the image
            masks = template_masks(h, batch=1, device=images.device)
            self._masks[key] = masks[:, REGION_IDS[self.region]:REGION_IDS[self.region] + 1].to(images.dtype)
        return self._masks[key].expand(b, 1, h, w)

    @torch.no_grad()
    def update(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if reference is not None and reference.shape[-2:] != restored.shape[-2:]:  # e.g. a small LQ input
            reference = F.interpolate(reference, size=restored.shape[-2:], mode="bicubic", antialias=True,
                                      align_corners=False).clamp(0, 1)
        super().update(restored, reference)

    def settings(self) -> dict:
        return {}

    def details(self) -> dict:
        mask = None if self.region is None else "template (5-point aligned-face template, soft)"
        return {"region": self.region, "mask": mask, "reference": self.reference_kind, **self.settings()}


class HFRatio(TextureMeasure):
    """log(HF power of the output / HF power of R) in a frequency band; 0 = kept, < 0 smoothed, > 0 noisier."""

    base_name = "HF ratio"
    lower_is_better = False  # ideal is 0: read it as a signed distance
    best = "zero"            # for tables that mark the best value (gpen-report): closest to 0

    def __init__(self, region: str | None = None, band: tuple[float, float] = (0.25, 0.5)) -> None:
        super().__init__(region)
        self.band = check_interval("metrics.hf_ratio.band", band, 0.0, 0.71)

    def band_power(self, images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        profile, freq = radial_profile(windowed_spectrum(luma(images), window))
        inside = (freq >= self.band[0]) & (freq <= self.band[1])
        return profile[:, inside].mean(1)  # (B,)

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        out, ref = quantize_8bit(restored), quantize_8bit(reference)
        window = self.window(out)
        return torch.log((self.band_power(out, window) + 1e-6) / (self.band_power(ref, window) + 1e-6))

    def settings(self) -> dict:
        return {"band_cycles_per_pixel": list(self.band), "channel": "luma BT.601", "scale": "0-255"}


class LFD(TextureMeasure):
    """Log frequency distance (Jiang et al., ICCV 2021); 0 for identical images."""

    base_name = "LFD"

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        out, ref = quantize_8bit(restored), quantize_8bit(reference)
        weights = torch.ones_like(out[:, :1]) if self.region is None else self.window(out)
        diff = torch.fft.fft2(out * weights) - torch.fft.fft2(ref * weights)  # (B, 3, H, W), unnormalised
        return torch.log1p((diff.abs() ** 2).mean(dim=(1, 2, 3)))

    def details(self) -> dict:
        return {**super().details(), "dft": "unnormalised, per RGB channel, 0-255", "window": "none (whole)"
                if self.region is None else "region mask"}


class GrainFidelity(TextureMeasure):
    """Mean |log ratio| of the noise residual's std per luminance bin, output vs input; 0 = grain kept."""

    base_name = "Grain"
    reference_kind = "input"

    def __init__(self, region: str | None = None, denoise_sigma: float = 1.0, bins: int = 8,
                 min_pixels: int = 16) -> None:
        super().__init__(region)
        self.denoise_sigma = float(check_range("metrics.grain.denoise_sigma", denoise_sigma, 0.3, 10.0))
        self.bins = int(check_range("metrics.grain.bins", bins, 1, 64))
        self.min_pixels = int(check_range("metrics.grain.min_pixels", min_pixels, 1, None))
        self.slope_differences: list[torch.Tensor] = []

    def reset(self) -> None:
        super().reset()
        self.slope_differences = []

    def residual(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = luma(quantize_8bit(images))
        smooth = gaussian_blur(y, self.denoise_sigma)
        return y - smooth, smooth  # (B, 1, H, W) each

    def binned_std(self, residual: torch.Tensor, bins: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
        """(B, bins) std of the residual per luminance bin (nan where a bin has too few pixels)."""
        ids = bins.flatten(1)  # (B, N): every image's pixels scattered into its bins at once
        keep = inside.flatten(1).to(torch.float64)
        values = residual.flatten(1).to(torch.float64) * keep
        sums = [torch.zeros(ids.shape[0], self.bins, dtype=torch.float64, device=ids.device).scatter_add_(1, ids, x)
                for x in (keep, values, values * values)]
        count, total, squares = sums
        mean = total / count.clamp_min(1)
        std = (squares / count.clamp_min(1) - mean * mean).clamp_min(0).sqrt()  # population std (correction 0)
        return torch.where(count >= self.min_pixels, std, math.nan).to(residual.dtype)

    def spectrum_slope(self, residual: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """(B,) slope of log power vs log frequency of the residual over 0.05-0.5 cycles/pixel."""
        profile, freq = radial_profile(windowed_spectrum(residual, window))
        keep = (freq >= 0.05) & (freq <= 0.5)
        x = freq[keep].log()
        y = (profile[:, keep] + 1e-12).log()
        x = x - x.mean()
        return ((y - y.mean(1, keepdim=True)) * x).sum(1) / (x**2).sum()

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        res_out, _ = self.residual(restored)
        res_in, smooth_in = self.residual(reference)
        window = self.window(res_out)
        inside = window > (0.5 if self.region is not None else 0.0)
        bins = (smooth_in / 256.0 * self.bins).long().clamp(0, self.bins - 1)
        std_out = self.binned_std(res_out, bins, inside).clamp_min(STD_FLOOR)
        std_in = self.binned_std(res_in, bins, inside).clamp_min(STD_FLOOR)
        ratios = (std_out / std_in).log().abs()  # nan where a bin is (nearly) empty
        valid = ~ratios.isnan()
        scores = torch.where(valid, ratios, 0.0).sum(1) / valid.sum(1).clamp_min(1)
        self.slope_differences.append((self.spectrum_slope(res_out, window)
                                       - self.spectrum_slope(res_in, window)).abs().cpu())
        return scores

    def details(self) -> dict:
        slopes = torch.cat(self.slope_differences) if self.slope_differences else torch.zeros(0)
        return {**super().details(), "denoiser": f"Gaussian sigma {self.denoise_sigma} px", "luma_bins": self.bins,
                "mean_abs_slope_difference": round(float(slopes.mean()), 4) if slopes.numel() else None}
