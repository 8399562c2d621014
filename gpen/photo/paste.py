"""Paste restored faces back into the photo: inverse similarity transform and a soft mask.

Each restored crop goes back through the inverse of its alignment transform (times the upscale
factor) into only the window of the output it covers, so memory stays bounded on huge photos. The
blend mask is built in crop coordinates and warped with the face: a face-parsing map when a parsing
network is given, otherwise a feathered ellipse placed by the model's 5-point template (forehead to
chin, cheek to cheek), so no crop rectangle or seam shows. Either mask is multiplied by a feathered
square that keeps the crop's outer border (grey fill past the photo's edge) out of the result.
Faces are pasted smallest first, so the largest face wins where two overlap.
"""

from __future__ import annotations

import cv2
import numpy as np

from gpen.photo.align import apply_affine, compose, invert_affine, resize_area, transform_scale, window

#: Feathered ellipse around the face, in units of the template geometry: semi-axes as multiples of
#: the inter-ocular distance (horizontal) and the eye-to-mouth distance (vertical); the centre sits
#: between eyes and mouth, moved down by `ELLIPSE_DROP` eye-to-mouth distances. On the FFHQ template
#: this spans x 0.21–0.79 and y 0.2–0.96 of the crop: forehead to below the chin, ears left out.
ELLIPSE_HALF_WIDTH = 1.2
ELLIPSE_HALF_HEIGHT = 1.5
ELLIPSE_DROP = 0.05
#: Width of the soft edge as a fraction of the ellipse radius (0 = hard edge).
FEATHER = 0.3


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def ellipse_mask(size: int, template: np.ndarray, feather: float = FEATHER) -> np.ndarray:
    """Soft face mask (size, size) float32 in [0, 1]: 1 inside the face, falling smoothly to 0 at its rim."""
    template = np.asarray(template, np.float64)
    eyes, mouth = template[:2].mean(axis=0), template[3:5].mean(axis=0)
    eye_to_mouth = mouth - eyes
    down = eye_to_mouth / np.linalg.norm(eye_to_mouth)
    across = np.array([down[1], -down[0]])
    centre = (eyes + mouth) / 2 + ELLIPSE_DROP * eye_to_mouth
    half_w = ELLIPSE_HALF_WIDTH * np.linalg.norm(template[1] - template[0])
    half_h = ELLIPSE_HALF_HEIGHT * np.linalg.norm(eye_to_mouth)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    offset = np.stack([xs - centre[0], ys - centre[1]], axis=-1)
    radius = np.hypot(offset @ across / half_w, offset @ down / half_h)  # 1 on the ellipse
    return smoothstep((1.0 - radius) / feather).astype(np.float32)


def border_mask(size: int, margin: float = 0.04) -> np.ndarray:
    """Feathered square (size, size): 0 at the crop's edge, 1 from `margin`·size inwards."""
    ramp = smoothstep((np.arange(size, dtype=np.float64) + 0.5) / (margin * size))
    ramp = np.minimum(ramp, ramp[::-1])
    return np.minimum.outer(ramp, ramp).astype(np.float32)


def feather_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A hard 0/1 mask (e.g. from face parsing) softened by a Gaussian of ~2 % of the crop size."""
    sigma = 0.02 * size
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigmaX=sigma, sigmaY=sigma)


def output_affine(affine: np.ndarray, upscale: float) -> np.ndarray:
    """(2, 3) map from crop pixels to output pixels: inverse alignment, then the upscale (pixel centres)."""
    offset = 0.5 * (upscale - 1.0)  # output pixel centre of input pixel x: upscale·x + offset
    scale = np.array([[upscale, 0.0, offset], [0.0, upscale, offset]])
    return compose(scale, invert_affine(affine))


def paste_face(canvas: np.ndarray, face: np.ndarray, mask: np.ndarray, to_canvas: np.ndarray) -> None:
    """Blend `face` (S, S, 3) uint8 into `canvas` (uint8, in place) where `mask` (S, S) says, through the
    crop -> canvas affine `to_canvas`; only the window the crop covers is read and written."""
    size = face.shape[0]
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    x0, y0, x1, y1 = window(apply_affine(to_canvas, corners), canvas.shape[:2], pad=2)
    if x1 <= x0 or y1 <= y0:
        return
    layers = np.dstack([face.astype(np.float32), mask[:, :, None]])  # (S, S, 4): warp face and mask together
    crop_to_window = compose(np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]]), to_canvas)
    shrink = transform_scale(to_canvas)
    if shrink < 0.75:  # small face: area-average the crop first, a bilinear warp alone would alias it
        layers, resized = resize_area(layers, shrink)
        crop_to_window = compose(crop_to_window, resized)
    warped = cv2.warpAffine(layers, crop_to_window, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # (h, w, 4)
    alpha = np.clip(warped[:, :, 3:], 0.0, 1.0)
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.clip(region + alpha * (warped[:, :, :3] - region), 0, 255).round().astype(np.uint8)
