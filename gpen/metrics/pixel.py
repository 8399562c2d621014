"""PSNR and SSIM on RGB images, the way BFR papers score CelebA-Test (docs/evaluation.md).

Convention: both images are rounded to 8 bits (the values a saved PNG holds), scored on all three
RGB channels over the full image (no border crop) with a 0–255 data range; the reported number is
the mean of the per-image values. SSIM is Wang et al.'s (IEEE TIP 2004) Gaussian-window form
(11×11, σ = 1.5, K1 = 0.01, K2 = 0.03), computed per channel on the valid region and averaged over
channels — the same as scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=255, channel_axis=-1)` and BasicSR's `calculate_ssim`.

`match_mean_std` is the opt-in per-channel mean/variance matching of the output to the ground truth
before scoring that the VQFR `metric_paper` protocol applies; plain scripts never do it, so it is off
by default and recorded in the results metadata when on.
"""

from __future__ import annotations

import torch

from gpen.metrics.base import PerImageMetric, quantize_8bit

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def match_mean_std(restored: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per image and channel, shift/scale `restored` to the mean and std of `reference` (0–255 scale)."""
    dims = (-2, -1)
    mean_r, std_r = restored.mean(dims, keepdim=True), restored.std(dims, keepdim=True)
    mean_g, std_g = reference.mean(dims, keepdim=True), reference.std(dims, keepdim=True)
    matched = (restored - mean_r) / std_r.clamp_min(1e-8) * std_g + mean_g
    return matched.clamp(0.0, 255.0)


def psnr(restored: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image (B,) of 0–255 tensors (B, C, H, W); inf for identical images."""
    mse = (restored.double() - reference.double()).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(255.0**2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian (size,) in float64; the 2-D window is its outer product."""
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-coords**2 / (2 * sigma**2))
    return window / window.sum()


def _blur_valid(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, 'valid' region only: (B, C, H, W) -> (B, C, H-10, W-10).

    Written as sums of shifted slices: in float64 on CPU this is several times faster than conv2d.
    """
    k = window.numel()
    h, w = images.shape[-2] - k + 1, images.shape[-1] - k + 1
    rows = sum(window[i] * images[..., i:i + w] for i in range(k))
    return sum(window[i] * rows[..., i:i + h, :] for i in range(k))


def ssim(restored: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """SSIM per image (B,) of 0–255 tensors (B, C, H, W), mean over channels and the valid map.

    Written out rather than taken from pyiqa: pyiqa's `ssim` clamps the contrast-structure term at
    zero (a ReLU), which departs from the standard definition that scikit-image and BasicSR use.
    """
    x, y = restored.double(), reference.double()
    if min(x.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW}, got {tuple(x.shape[-2:])}")
    window = gaussian_window().to(x.device)
    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2
    mu_x, mu_y = _blur_valid(x, window), _blur_valid(y, window)
    var_x = _blur_valid(x * x, window) - mu_x**2
    var_y = _blur_valid(y * y, window) - mu_y**2
    cov_xy = _blur_valid(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(dim=(1, 2, 3))


class _PixelMetric(PerImageMetric):
    """Shared rule of PSNR and SSIM: 8-bit rounding, optional mean/std matching, then `function`."""

    lower_is_better = False

    def __init__(self, match_mean_std: bool = False) -> None:
        super().__init__()
        self.match_mean_std = match_mean_std

    @staticmethod
    def function(restored: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        out, gt = quantize_8bit(restored), quantize_8bit(reference)
        if self.match_mean_std:
            out = match_mean_std(out, gt)
        return self.function(out, gt)


class PSNR(_PixelMetric):
    """Mean PSNR (dB) over images; RGB, 8-bit, no crop. Identical pairs give inf (as BasicSR does)."""

    name = "PSNR"
    function = staticmethod(psnr)


class SSIM(_PixelMetric):
    """Mean SSIM over images; RGB per channel, 8-bit, Gaussian window, no crop."""

    name = "SSIM"
    function = staticmethod(ssim)
