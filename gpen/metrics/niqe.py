"""NIQE, the no-reference naturalness score (Mittal et al., IEEE SPL 2013), batched (docs/evaluation.md).

Convention: RGB in [0, 1] is rounded to 8 bits, converted to one luma channel on 0–255 and rounded,
cropped to whole 96×96 blocks, and described at two scales (full, and half size by MATLAB-style
antialiased bicubic) by 18 AGGD features per block; the distance of their Gaussian to the standard
pristine model is the score. No border crop; lower is better.

The steps are those of the MATLAB release as ported by BasicSR and pyiqa, batched in torch here and
written out rather than called from pyiqa for speed: pyiqa's `calculate_niqe` spends most of its time
in a 49-tap float64 2-D filter and a 9,801-point grid search per block (about 4x slower than
BasicSR's NumPy code on CPU). Here the Gaussian is applied separably and the AGGD shape is found by
binary search in the same monotonic γ table (same result as the grid argmin). pyiqa's colour
conversion, MATLAB `imresize` and nan-aware mean/covariance are reused.

`niqe_pris_params.npz` (mu_pris_param (1, 36), cov_pris_param (36, 36), gaussian_window (7, 7)) is
numeric data copied unchanged from the BasicSR 1.4.2 source distribution
(basicsr/metrics/niqe_pris_params.npz; BasicSR is Apache-2.0 licensed, © XPixel group); the numbers
are the pristine-image model of the official MATLAB NIQE release.

Luma (`color_space`):
- "yiq" (default): Y = 0.299 R + 0.587 G + 0.114 B, MATLAB's `rgb2gray` luma, which MATLAB `niqe` and
  pyiqa's `niqe` use. Astronaut (skimage, 512² RGB): pyiqa's reference value is 3.0624.
- "ycbcr": Y of BT.601 YCbCr (16–235), what BasicSR's `calculate_niqe` uses (3.0649 on the astronaut
  in its float32 NumPy code). NIQE is numerically touchy: the same code in float64 gives 3.0916 and
  pyiqa's port 3.1236, because tiny differences in the filters move the AGGD grid fits. Compare NIQE
  numbers only within one implementation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import gammaln

from gpen.metrics.base import NotApplicableError, PerImageMetric, quantize_8bit
from gpen.utils.validation import check_choice, check_range

PRISTINE_PARAMS = Path(__file__).with_name("niqe_pris_params.npz")
BLOCK = 96  # the official block size, no overlap
SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))  # horizontal, vertical and the two diagonal neighbours

# AGGD shape table of the MATLAB code: γ on a 0.001 grid and r(γ) = Γ(2/γ)² / (Γ(1/γ) Γ(3/γ)),
# which increases monotonically with γ (so the closest entry can be found by binary search).
_GAMMA = np.arange(0.2, 10.001, 0.001)
_R_GAMMA = np.exp(2 * gammaln(2 / _GAMMA) - gammaln(1 / _GAMMA) - gammaln(3 / _GAMMA))


def load_pristine_params(path: str | Path = PRISTINE_PARAMS) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu (36,), cov (36, 36)) float64 of the NIQE pristine multivariate Gaussian."""
    with np.load(path) as params:
        mu = torch.from_numpy(np.ravel(params["mu_pris_param"])).double()
        cov = torch.from_numpy(params["cov_pris_param"]).double()
    return mu, cov


def mscn(image: torch.Tensor, window_1d: torch.Tensor) -> torch.Tensor:
    """Mean-subtracted contrast-normalised coefficients (Eq. 1): (B, 1, H, W) -> (B, 1, H, W).

    Local mean and deviation use the 7×7 Gaussian as two 1-D passes with replicated borders.
    """
    k = window_1d.numel()
    pad = k // 2

    def blur(x: torch.Tensor) -> torch.Tensor:
        # Sums of shifted slices: in float64 on CPU this is ~2.5x faster than conv2d with a 1-D kernel.
        h, w = x.shape[-2:]
        x = F.pad(x, (pad, pad, 0, 0), mode="replicate")
        x = sum(window_1d[i] * x[..., i:i + w] for i in range(k))
        x = F.pad(x, (0, 0, pad, pad), mode="replicate")
        return sum(window_1d[i] * x[..., i:i + h, :] for i in range(k))

    mu = blur(image)
    sigma = (blur(image * image) - mu * mu).abs().sqrt()
    return (image - mu) / (sigma + 1)


def aggd_fit(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric generalised Gaussian fit per row of (..., n) values: shape α, left β, right β."""
    left = values.clamp(max=0)
    right = values.clamp(min=0)
    left_std = (left.pow(2).sum(-1) / (values < 0).sum(-1)).sqrt()
    right_std = (right.pow(2).sum(-1) / (values > 0).sum(-1)).sqrt()
    gamma_hat = left_std / right_std
    r_hat = values.abs().mean(-1).pow(2) / values.pow(2).mean(-1)
    r_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    table = torch.from_numpy(_R_GAMMA).to(values)
    upper = torch.searchsorted(table, r_norm.nan_to_num(0.0).contiguous()).clamp(1, len(_R_GAMMA) - 1)
    lower = upper - 1
    closer_lower = (r_norm - table[lower]).abs() <= (table[upper] - r_norm).abs()
    alpha = torch.from_numpy(_GAMMA).to(values)[torch.where(closer_lower, lower, upper)]
    scale = (torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)).exp().sqrt()
    return alpha, left_std * scale, right_std * scale


def block_features(blocks: torch.Tensor) -> torch.Tensor:
    """18 NIQE features per block: (B, N, s, s) -> (B, N, 18)."""
    alpha, beta_l, beta_r = aggd_fit(blocks.flatten(-2))
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in SHIFTS:  # products of neighbouring coefficients, wrapping inside each block
        products = blocks * torch.roll(blocks, shift, dims=(-2, -1))
        alpha, beta_l, beta_r = aggd_fit(products.flatten(-2))
        mean = (beta_r - beta_l) * (torch.lgamma(2 / alpha) - torch.lgamma(1 / alpha)).exp()
        features += [alpha, mean, beta_l, beta_r]
    return torch.stack(features, dim=-1)


def to_blocks(image: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, H, W) with H, W multiples of `size` -> (B, N, size, size) non-overlapping blocks."""
    b, _, h, w = image.shape
    blocks = image.reshape(b, h // size, size, w // size, size).permute(0, 1, 3, 2, 4)
    return blocks.reshape(b, -1, size, size)


def niqe_scores(luma: torch.Tensor, mu_pris: torch.Tensor, cov_pris: torch.Tensor,
                window_1d: torch.Tensor) -> torch.Tensor:
    """NIQE per image of rounded 0–255 luma (B, 1, H, W) float64 -> (B,)."""
    # pyiqa's package import is heavy: only when used
    from pyiqa.matlab_utils import imresize, nancov, nanmean

    h, w = (luma.shape[-2] // BLOCK) * BLOCK, (luma.shape[-1] // BLOCK) * BLOCK
    image = luma[..., :h, :w]
    features = []
    for scale in (1, 2):
        features.append(block_features(to_blocks(mscn(image, window_1d), BLOCK // scale)))
        if scale == 1:
            image = imresize(image / 255.0, scale=0.5, antialiasing=True) * 255.0
    features = torch.cat(features, dim=-1)  # (B, N, 36)
    mu_dist, cov_dist = nanmean(features, dim=1), nancov(features)
    pooled = (cov_pris + cov_dist) / 2  # (B, 36, 36), symmetric: the Hermitian pinv is much faster
    inv_cov = torch.linalg.pinv((pooled + pooled.transpose(1, 2)) / 2, hermitian=True)
    diff = (mu_pris - mu_dist).unsqueeze(1)  # (B, 1, 36)
    return torch.bmm(torch.bmm(diff, inv_cov), diff.transpose(1, 2)).reshape(-1).sqrt()


class NIQE(PerImageMetric):
    """Mean NIQE over images (no reference); images must be at least 192×192 (two 96-pixel blocks)."""

    name = "NIQE"
    needs_reference = False
    min_size = 2 * BLOCK

    def __init__(self, color_space: str = "yiq", crop_border: int = 0,
                 params_file: str | Path = PRISTINE_PARAMS) -> None:
        super().__init__()
        self.color_space = check_choice("metrics.niqe.color_space", color_space, ("yiq", "ycbcr"))
        self.crop_border = int(check_range("metrics.niqe.crop_border", crop_border, 0, None))
        self.params_file = Path(params_file)
        self.mu: torch.Tensor | None = None
        self.cov: torch.Tensor | None = None
        self.window_1d: torch.Tensor | None = None

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        if not self.params_file.is_file():
            raise FileNotFoundError(f"NIQE pristine parameters not found: {self.params_file} "
                                    "(config key metrics.niqe.params_file; the package ships one)")
        self.mu, self.cov = (t.to(self.device) for t in load_pristine_params(self.params_file))
        with np.load(self.params_file) as params:  # the 7×7 window is an outer product: keep one factor
            self.window_1d = torch.from_numpy(params["gaussian_window"].sum(axis=0)).double().to(self.device)

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        if self.mu is None:
            self.setup(restored.device)
        size = min(restored.shape[-2:]) - 2 * self.crop_border
        if size < self.min_size:
            raise NotApplicableError(f"not applicable below {self.min_size} px: NIQE needs images of at least "
                                     f"{self.min_size}x{self.min_size} after cropping, got {size}")
        from pyiqa.utils.color_util import to_y_channel  # pyiqa's package import is heavy: only when used

        images = quantize_8bit(restored) / 255.0  # (B, 3, H, W) float64
        luma = to_y_channel(images, 255.0, self.color_space).round()  # (B, 1, H, W) on 0–255
        if self.crop_border:
            luma = luma[..., self.crop_border:-self.crop_border, self.crop_border:-self.crop_border]
        return niqe_scores(luma, self.mu, self.cov, self.window_1d)
