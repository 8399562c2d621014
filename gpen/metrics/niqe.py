"""NIQE, the no-reference naturalness score (Mittal et al., IEEE SPL 2013), batched (DESIGN §5).

Computed by pyiqa's `calculate_niqe` (a batched torch port of the MATLAB release) fed with the
standard pristine-model parameters shipped here, so nothing is downloaded. Convention: RGB in [0, 1]
is rounded to 8 bits, converted to one luma channel, split into 96×96 blocks at two scales, no
border crop; lower is better.

`niqe_pris_params.npz` (mu_pris_param (1, 36), cov_pris_param (36, 36), gaussian_window (7, 7)) is
numeric data copied unchanged from the BasicSR 1.4.2 source distribution
(basicsr/metrics/niqe_pris_params.npz; BasicSR is Apache-2.0 licensed, © XPixel group); the numbers
are the pristine-image model of the official MATLAB NIQE release.

Luma (`color_space`):
- "yiq" (default): Y = 0.299 R + 0.587 G + 0.114 B on 0–255, MATLAB's `rgb2gray` luma, which is
  what MATLAB `niqe` and pyiqa's `niqe` use. Astronaut (skimage, 512² RGB): 3.0628 (pyiqa's own
  reference with its `.mat` copy of the same parameters: 3.0624).
- "ycbcr": Y of BT.601 YCbCr (16–235), what BasicSR's `calculate_niqe` uses. NIQE is numerically
  touchy here: on the astronaut BasicSR's NumPy code gives 3.0649 in float32 and 3.0916 in float64,
  and pyiqa's float64 port of the same steps gives 3.1236 (small differences in the bicubic
  half-size resize move the AGGD grid fits). Values with "ycbcr" are therefore within ~0.06 of
  BasicSR's, not identical; use "yiq" to compare with pyiqa/MATLAB numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from pyiqa.archs.niqe_arch import calculate_niqe

from gpen.metrics.base import PerImageMetric
from gpen.utils.validation import check_choice, check_range

PRISTINE_PARAMS = Path(__file__).with_name("niqe_pris_params.npz")


def load_pristine_params(path: str | Path = PRISTINE_PARAMS) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu (36,), cov (36, 36)) float64 of the NIQE pristine multivariate Gaussian."""
    with np.load(path) as params:
        mu = torch.from_numpy(np.ravel(params["mu_pris_param"])).double()
        cov = torch.from_numpy(params["cov_pris_param"]).double()
    return mu, cov


class NIQE(PerImageMetric):
    """Mean NIQE over images (no reference); images must be at least 192×192 (two 96-pixel blocks)."""

    name = "NIQE"
    needs_reference = False

    def __init__(self, color_space: str = "yiq", crop_border: int = 0,
                 params_file: str | Path = PRISTINE_PARAMS) -> None:
        super().__init__()
        self.color_space = check_choice("metrics.niqe.color_space", color_space, ("yiq", "ycbcr"))
        self.crop_border = int(check_range("metrics.niqe.crop_border", crop_border, 0, None))
        self.params_file = Path(params_file)
        self.mu: torch.Tensor | None = None
        self.cov: torch.Tensor | None = None

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        if not self.params_file.is_file():
            raise FileNotFoundError(f"NIQE pristine parameters not found: {self.params_file} "
                                    "(config key metrics.niqe.params_file; the package ships one)")
        self.mu, self.cov = (t.to(self.device) for t in load_pristine_params(self.params_file))

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        if self.mu is None:
            self.setup(restored.device)
        size = min(restored.shape[-2:]) - 2 * self.crop_border
        if size < 192:
            raise ValueError(f"NIQE needs images of at least 192x192 after cropping, got {size}")
        # pyiqa rounds the luma to integers itself; quantising RGB first matches scoring saved PNGs.
        images = (restored.clamp(0, 1) * 255).round().double() / 255
        values = calculate_niqe(images, self.crop_border, True, self.color_space, self.mu, self.cov)
        return values.reshape(-1)
