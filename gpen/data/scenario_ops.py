"""Pixel operations of the scenario presets that albumentations / OpenCV have no single call for.

All take float32 RGB (H, W, 3) in [0, 1] and return a new array; randomness comes from an explicit seed,
so each is a pure function of its arguments (docs/degradation.md).
"""

from __future__ import annotations

import cv2
import numpy as np

from gpen.data.components import TEMPLATE_5POINT_512


def gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """OpenCV Gaussian blur (kernel from sigma); sigma <= 0 returns a copy."""
    if sigma <= 0:
        return image.copy()
    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT101)


def unsharp(image: np.ndarray, amount: float, sigma: float) -> np.ndarray:
    """In-camera sharpening: image + amount * (image - blur); leaves the bright/dark halo at edges."""
    return np.clip(image + amount * (image - gaussian(image, sigma)), 0.0, 1.0)


def resize(image: np.ndarray, width: int, height: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    return cv2.resize(image, (max(1, int(width)), max(1, int(height))), interpolation=interpolation)


def film_grain(image: np.ndarray, sigma: float, grain_px: float, seed: int) -> np.ndarray:
    """Luminance-dependent grain: a unit-variance noise field of grain size `grain_px`, strongest in mid-tones."""
    h, w = image.shape[:2]
    field = np.random.default_rng(seed).standard_normal((h, w)).astype(np.float32)
    if grain_px > 0.5:
        field = gaussian(field, grain_px / 2.0)
        field /= max(float(field.std()), 1e-6)
    lum = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    strength = sigma * (0.4 + 2.4 * lum * (1.0 - lum))  # 0.4 sigma in the blacks/whites, 1.0 sigma at mid-grey
    return np.clip(image + (field * strength)[:, :, None], 0.0, 1.0)


def fade_and_cast(image: np.ndarray, contrast: float, cast: float) -> np.ndarray:
    """Faded print: contrast toward mid-grey by `contrast` (1 = none) and a yellow cast (less blue, more red)."""
    out = 0.5 + contrast * (image - 0.5)
    out = out * np.array([1.0 + cast / 2.0, 1.0, 1.0 - cast], np.float32)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def scratches_and_dust(image: np.ndarray, scratches: int, specks: int, scale: float, seed: int) -> np.ndarray:
    """Thin near-vertical light or dark lines and small dust dots (OpenCV drawing), positions from `seed`."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    out = image.copy()
    for _ in range(scratches):
        x0, x1 = rng.uniform(0, w, size=2) + np.array([0.0, rng.uniform(-0.1, 0.1) * w])
        value = float(rng.choice([0.05, 0.95]))
        cv2.line(out, (int(x0), 0), (int(x1), h - 1), (value,) * 3, thickness=max(1, round(scale)),
                 lineType=cv2.LINE_AA)
    for _ in range(specks):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        value = float(rng.choice([0.0, 1.0]))
        cv2.circle(out, centre, max(1, round(rng.uniform(0.5, 2.0) * scale)), (value,) * 3, -1, cv2.LINE_AA)
    return out


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """A normalised line kernel of `length` px at `angle_deg` (for A.MotionBlur.apply)."""
    size = max(3, int(np.ceil(length)) | 1)
    kernel = np.zeros((size, size), np.float32)
    c, half = size // 2, (length - 1) / 2.0
    dx, dy = np.cos(np.radians(angle_deg)) * half, np.sin(np.radians(angle_deg)) * half
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    return kernel / kernel.sum()


def purple_fringe(image: np.ndarray, strength: float) -> np.ndarray:
    """Purple halo along high-contrast edges (phone lenses): add magenta in proportion to the luma gradient."""
    lum = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    edges = np.hypot(cv2.Sobel(lum, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(lum, cv2.CV_32F, 0, 1, ksize=3))
    edges = gaussian(np.clip(edges, 0.0, 1.0), 1.0)
    return np.clip(image + strength * edges[:, :, None] * np.array([0.6, 0.0, 1.0], np.float32), 0.0, 1.0)


def template_points(size: int) -> np.ndarray:
    """The aligned-face 5 points (eyes, nose, mouth corners) at `size` px."""
    return TEMPLATE_5POINT_512 * (size / 512.0)


def local_warp(image: np.ndarray, eye: int, eye_scale: float, mouth_shear: float) -> np.ndarray:
    """Generated-face defects on an aligned face: magnify one eye (0 left, 1 right) by `eye_scale`
    inside a smooth disc, and shear the mouth region horizontally by `mouth_shear` (dx per dy)."""
    h, w = image.shape[:2]
    points = template_points(w)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x, map_y = x.copy(), y.copy()
    ex, ey = points[eye]
    radius = 0.45 * np.linalg.norm(points[1] - points[0])
    t = np.clip(2.0 - 2.0 * np.hypot(x - ex, y - ey) / radius, 0.0, 1.0)  # 1 inside radius/2, 0 outside radius
    falloff = t * t * (3.0 - 2.0 * t)
    zoom = 1.0 + (1.0 / eye_scale - 1.0) * falloff  # sample closer to the centre = magnify
    map_x, map_y = ex + (map_x - ex) * zoom, ey + (map_y - ey) * zoom
    mx, my = points[3:].mean(0)
    mouth_r = 0.6 * np.linalg.norm(points[4] - points[3])
    weight = np.clip(1.0 - np.hypot((x - mx) / 1.2, y - my) / mouth_r, 0.0, 1.0) ** 2
    map_x = map_x + mouth_shear * (y - my) * weight
    return cv2.remap(image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT101)


def face_mask(size: int, feather: float) -> np.ndarray:
    """Soft ellipse over the aligned face's skin (template frame), (size, size) in [0, 1]."""
    s = size / 512.0
    mask = np.zeros((size, size), np.float32)
    cv2.ellipse(mask, (round(256 * s), round(288 * s)), (round(140 * s), round(198 * s)), 0, 0, 360, 1.0, -1)
    return gaussian(mask, feather)
