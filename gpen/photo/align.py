"""Face alignment: the model's 5-point template and the similarity transform onto it.

A face is aligned by the similarity transform (rotation, uniform scale, translation) that maps its
five landmarks (left eye, right eye, nose tip, left and right mouth corner; "left" = the image's left)
onto the template of the restoration model, least squares over all five points (Umeyama 1991). The
template belongs to the model's training data: GFP-GAN was trained on FFHQ-aligned faces, so its
template is the FFHQ mean 5-point layout, GPEN's its own (`gpen.models.templates.face_template` picks it
from the generator). See docs/photo_restoration.md.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

#: Grey the official helpers fill outside the photo when a face crop reaches past its border.
BORDER_FILL = (135, 133, 132)


def similarity_transform(landmarks: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The (2, 3) affine matrix of the least-squares similarity mapping `landmarks` onto `template`."""
    transform = SimilarityTransform.from_estimate(np.asarray(landmarks, np.float64),
                                                  np.asarray(template, np.float64))
    if not transform:
        raise ValueError(f"degenerate landmarks, no similarity transform: {np.asarray(landmarks).tolist()}")
    return transform.params[:2].copy()


def invert_affine(affine: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as (2, 3)."""
    return cv2.invertAffineTransform(np.asarray(affine, np.float64))


def warp_face(image: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """The aligned face crop (size, size, 3) of a uint8 RGB photo; outside the photo: the official grey.

    A face much larger than the crop is first shrunk with area averaging (a bilinear warp alone would
    alias it); only the window of the photo the crop covers is touched, so huge photos stay cheap.
    """
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    x0, y0, x1, y1 = window(apply_affine(invert_affine(affine), corners), image.shape[:2], pad=2)
    if x1 <= x0 or y1 <= y0:  # the crop lies entirely outside the photo
        return np.full((size, size, 3), BORDER_FILL, np.uint8)
    source = image[y0:y1, x0:x1]
    to_photo = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])  # window pixel -> photo pixel
    shrink = transform_scale(affine)
    if shrink < 0.75:
        source, resized = resize_area(source, shrink)
        to_photo = compose(to_photo, resized)
    return cv2.warpAffine(source, compose(affine, to_photo), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=BORDER_FILL)


def resize_area(image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(image shrunk by `factor` with area averaging, (2, 3) map from its pixels to the input's)."""
    h, w = image.shape[:2]
    new_w, new_h = max(1, round(w * factor)), max(1, round(h * factor))
    small = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    sx, sy = w / new_w, h / new_h  # pixel centres: x_in = (x_small + 0.5) * sx - 0.5
    return small, np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5]])


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) affine of `outer` applied after `inner`."""
    outer, inner = np.asarray(outer, np.float64), np.asarray(inner, np.float64)
    return np.hstack([outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2] + outer[:, 2])[:, None]])


def apply_affine(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points (N, 2) mapped by a (2, 3) affine matrix."""
    return np.asarray(points, np.float64) @ np.asarray(affine)[:, :2].T + np.asarray(affine)[:, 2]


def window(points: np.ndarray, shape: tuple[int, int], pad: int = 0) -> tuple[int, int, int, int]:
    """Integer box (x0, y0, x1, y1) around `points`, padded, clipped to an image of `shape` = (h, w)."""
    h, w = shape
    x0, y0 = np.floor(points.min(axis=0)).astype(int) - pad
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + pad + 1
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)


def transform_scale(affine: np.ndarray) -> float:
    """Uniform scale factor of a similarity (2, 3) matrix."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(affine)[:, :2]))))
