"""The GFP-GAN degradation model (paper §4.1 eq. (1)) with the `degradation_scale` knob (docs/degradation.md).

    x = JPEG_q((y * k_sigma) downsampled by r + n_delta) upsampled back, then colour jitter and rare gray.

Sampling and applying are split: `sample_params(rng)` draws every random choice into a small
JSON-serialisable dict (the noise field is drawn from a stored seed), and `apply(gt, params)` is a
pure function of the image and that dict. So the same (seed, index) gives the same LQ image in any
process, and a test set manifest can record exactly what was done to each image.

The pixel operations come from albumentations' functional API (JPEG, torchvision-style colour
jitter, grayscale); the blur uses `gpen.data.blur.blur`, a faster equivalent of the dense 41x41
filter. Horizontal flip belongs to the datasets, which must move boxes and region maps with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import albumentations.augmentations.pixel.functional as albu
import cv2
import numpy as np
import torch

from gpen.data.blur import blur_and_resize, gaussian_kernel
from gpen.utils.validation import check_interval, check_odd, check_probability, check_range

COLOR_JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


class GFPGANDegradation:
    """Random GFP-GAN degradation of an aligned face; defaults are the official `train_gfpgan_v1` recipe.

    Images are float32 RGB (H, W, 3) in [0, 1]. `degradation_scale` s moves every part toward
    identity: sigma x s, downsample 1 + (r - 1) s, noise x s, JPEG quality 100 - (100 - q) s,
    colour jitter strength x s and gray probability x min(s, 1); s = 0 returns the GT unchanged.
    """

    def __init__(
        self,
        blur_kernel_size: int = 41,                        # odd kernel side, pixels
        blur_sigma: Sequence[float] = (0.1, 10.0),         # sigma range per axis, pixels
        kernel_prob_iso: float = 0.5,                      # P(isotropic); otherwise anisotropic
        downsample_range: Sequence[float] = (0.8, 8.0),    # factor r, bilinear down then back up
        noise_range: Sequence[float] = (0.0, 20.0),        # Gaussian noise std on the 0-255 scale
        jpeg_range: Sequence[float] = (60, 100),           # JPEG quality
        color_jitter_prob: float = 0.3,                    # P(RGB shift)
        color_jitter_shift: float = 20.0,                  # RGB shift bound on the 0-255 scale
        color_jitter_pt_prob: float = 0.3,                 # P(brightness/contrast/saturation/hue)
        brightness: Sequence[float] = (0.5, 1.5),
        contrast: Sequence[float] = (0.5, 1.5),
        saturation: Sequence[float] = (0.0, 1.5),
        hue: Sequence[float] = (-0.1, 0.1),
        gray_prob: float = 0.01,
        degradation_scale: float = 1.0,                    # docs/knobs.md, 0 = identity
        gray_gt: bool = False,                             # gray samples get a gray GT too (GPEN's trainer)
    ) -> None:
        self.blur_kernel_size = check_odd("degradation.blur_kernel_size", blur_kernel_size, minimum=3)
        self.blur_sigma = check_interval("degradation.blur_sigma", blur_sigma, 1e-3, 100.0)
        self.kernel_prob_iso = check_probability("degradation.kernel_prob_iso", kernel_prob_iso)
        self.downsample_range = check_interval("degradation.downsample_range", downsample_range, 0.25, 32.0)
        self.noise_range = check_interval("degradation.noise_range", noise_range, 0.0, 255.0)
        self.jpeg_range = check_interval("degradation.jpeg_range", jpeg_range, 1, 100)
        self.color_jitter_prob = check_probability("degradation.color_jitter_prob", color_jitter_prob)
        self.color_jitter_shift = check_range("degradation.color_jitter_shift", color_jitter_shift, 0.0, 255.0)
        self.color_jitter_pt_prob = check_probability("degradation.color_jitter_pt_prob", color_jitter_pt_prob)
        self.jitter_ranges = {
            "brightness": check_interval("degradation.brightness", brightness, 0.0, 10.0),
            "contrast": check_interval("degradation.contrast", contrast, 0.0, 10.0),
            "saturation": check_interval("degradation.saturation", saturation, 0.0, 10.0),
            "hue": check_interval("degradation.hue", hue, -0.5, 0.5),
        }
        self.gray_prob = check_probability("degradation.gray_prob", gray_prob)
        self.degradation_scale = check_range("degradation.degradation_scale", degradation_scale, 0.0, 1.5)
        self.gray_gt = bool(gray_gt)

    # ------------------------------------------------------------------ sampling
    def sample_params(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one degradation. Every draw happens in a fixed order whatever the flags, so a
        parameter's value does not depend on earlier coin flips being on or off."""
        s = float(self.degradation_scale)
        iso = rng.uniform() < self.kernel_prob_iso
        sigma_x, sigma_y = (float(v) * s for v in rng.uniform(*self.blur_sigma, size=2))
        theta = float(rng.uniform(-math.pi, math.pi))
        r = 1.0 + (float(rng.uniform(*self.downsample_range)) - 1.0) * s
        noise = float(rng.uniform(*self.noise_range)) * s
        noise_seed = int(rng.integers(2**31))
        quality = round(100.0 - (100.0 - float(rng.uniform(*self.jpeg_range))) * s)
        shift_on = rng.uniform() < self.color_jitter_prob
        shift = rng.uniform(-1.0, 1.0, size=3) * self.color_jitter_shift * s
        gray_on = rng.uniform() < self.gray_prob * min(s, 1.0)
        jitter_on = rng.uniform() < self.color_jitter_pt_prob
        order = [COLOR_JITTER_OPS[i] for i in rng.permutation(len(COLOR_JITTER_OPS))]
        factors = {name: float(rng.uniform(*self.jitter_ranges[name])) for name in COLOR_JITTER_OPS}
        if s == 0.0:
            return {"degradation_scale": 0.0, "identity": True}
        jitter = {name: (factors[name] * s if name == "hue" else 1.0 + (factors[name] - 1.0) * s)
                  for name in COLOR_JITTER_OPS}
        return {
            "degradation_scale": s,
            "identity": False,
            "kernel": "iso" if iso else "aniso",
            "sigma_x": sigma_x,
            "sigma_y": sigma_x if iso else sigma_y,
            "theta": 0.0 if iso else theta,
            "downsample": r,
            "noise_sigma": noise,
            "noise_seed": noise_seed,
            "jpeg_quality": quality,
            "color_shift": [float(v) for v in shift] if shift_on else None,
            "gray": bool(gray_on),
            "color_jitter": {"order": order, **jitter} if jitter_on else None,
        }

    def __call__(self, gt: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        params = self.sample_params(rng)
        return self.apply(gt, params), params

    # ------------------------------------------------------------------ applying
    def apply(self, gt: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """Degrade float32 RGB (H, W, 3) in [0, 1] with `params`; returns a new array of the same shape."""
        if params["identity"]:
            return gt.astype(np.float32, copy=True)
        h, w = gt.shape[:2]
        kernel = gaussian_kernel(self.blur_kernel_size, params["sigma_x"], params["sigma_y"], params["theta"])
        r = params["downsample"]
        small = (max(1, int(w // r)), max(1, int(h // r)))  # official size rule: int(w // r)
        # blur, then bilinear resize by 1/r: (h/r, w/r, 3)
        image = blur_and_resize(np.ascontiguousarray(gt, dtype=np.float32), kernel, small)
        image = add_gaussian_noise(image, params["noise_sigma"], params["noise_seed"])
        image = jpeg(image, params["jpeg_quality"])
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)  # (h, w, 3)
        if params["color_shift"] is not None:
            image += np.asarray(params["color_shift"], np.float32) / np.float32(255.0)
            np.clip(image, 0.0, 1.0, out=image)
        if params["gray"]:
            image = to_gray3(image)
        if params["color_jitter"] is not None:
            image = color_jitter(image, params["color_jitter"])
        return quantize_8bit(image)

    def target(self, gt: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """The GT to train against for these params: gray where the input was made gray and `gray_gt`."""
        return to_gray3(gt) if self.gray_gt and params["gray"] else gt


def to_gray3(image: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) -> its weighted-average gray, repeated over 3 channels."""
    return np.repeat(albu.to_gray_weighted_average(image)[:, :, None], 3, axis=2)


def quantize_8bit(image: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round to the 256 levels of an 8-bit image (the LQ is an 8-bit image)."""
    out = np.clip(image, 0.0, 1.0, dtype=np.float32)
    out *= np.float32(255.0)
    np.rint(out, out=out)
    out /= np.float32(255.0)
    return out


def add_gaussian_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Add N(0, (sigma/255)^2) per pixel and channel (a field fixed by `seed`), clipped to [0, 1]."""
    if sigma <= 0.0:
        return image
    # torch's seeded generator draws normals ~3x faster than numpy's; the field depends only on seed.
    generator = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(image.shape, generator=generator, dtype=torch.float32).numpy()
    noise *= np.float32(sigma / 255.0)
    noise += image
    return np.clip(noise, 0.0, 1.0, out=noise)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of float RGB in [0, 1] at integer `quality` (encoded as BGR, like the official cv2 path)."""
    bgr = (np.clip(image[:, :, ::-1], 0.0, 1.0) * 255.0).round().astype(np.uint8)
    decoded = albu.image_compression(bgr, int(quality), ".jpg")
    return decoded[:, :, ::-1].astype(np.float32) / 255.0


def color_jitter(image: np.ndarray, jitter: dict[str, Any]) -> np.ndarray:
    """torchvision-style brightness/contrast/saturation/hue in the sampled order, clipped after each.

    Saturation and hue use albumentations' torchvision-compatible functions; brightness and
    contrast are one multiply-add here because albumentations' float32 paths for them cost 3-8 ms
    per 512 px image (more than the rest of the model without the blur).
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    for name in jitter["order"]:
        factor = jitter[name]
        if name == "brightness":
            image = image * np.float32(factor)
        elif name == "contrast":
            mean = float(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).mean())
            image = image * np.float32(factor) + np.float32(mean * (1.0 - factor))
        elif name == "saturation":
            image = albu.adjust_saturation_torchvision(image, factor)
        else:
            image = albu.adjust_hue_torchvision(image, factor)
        image = np.clip(image, 0.0, 1.0, out=image if image.flags.writeable else None)
    return image
