"""Facial component boxes (left eye, right eye, mouth) for the component losses (paper §3.3).

A box is (x1, y1, x2, y2) in pixels at the dataset's `out_size`, in continuous coordinates (pixel i
covers [i, i + 1)), so a horizontal flip maps x to W - x exactly and swaps the two eyes. "Left eye"
is the eye on the image's left, as in the official landmark file.

Three sources, in order of preference:
- the official `FFHQ_eye_mouth_landmarks_512.pth`: a dict keyed by the zero-padded 8-digit image
  index, each entry {'left_eye', 'right_eye', 'mouth': [x_centre, y_centre, half_len]} at 512 px;
  the official box is (centre - half + 1, centre + half), eyes enlarged by `eye_enlarge_ratio`;
- a landmarks file from `gpen-landmarks` (5 points per image: eyes, nose, mouth corners);
- the FFHQ-aligned 512 template (the mean 5-point positions used to align faces), for data with
  neither.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

COMPONENTS: tuple[str, ...] = ("left_eye", "right_eye", "mouth")
#: Reference resolution of the official landmark file and of the minimum half size below.
REFERENCE_SIZE = 512
#: docs/training.md: half size = max(max(w, h) / 2, 16) at 512 px; eyes enlarged x1.4.
MIN_HALF_SIZE = 16.0
EYE_ENLARGE_RATIO = 1.4
#: FFHQ-aligned 512 px five-point template: left eye, right eye, nose tip, left and right mouth corner
#: (the alignment target of the released face-restoration helpers).
TEMPLATE_5POINT_512 = np.array([
    [192.98138, 239.94708],
    [318.90277, 240.19360],
    [256.63416, 314.01935],
    [201.26117, 371.41043],
    [313.08905, 371.15118],
], dtype=np.float64)
#: Five points carry no eye extent; an eye corner-to-corner width of ~0.32 x the inter-ocular
#: distance (about 40 px at 512, a typical 68-point eye width on FFHQ) stands in for it.
EYE_WIDTH_PER_IOD = 0.32

Box = tuple[float, float, float, float]


def centre_box(x: float, y: float, half: float) -> Box:
    """The official box around a centre: (c - half + 1, c + half) on both axes."""
    return (x - half + 1.0, y - half + 1.0, x + half, y + half)


def boxes_from_official(entry: Mapping[str, Sequence[float]], out_size: int,
                        eye_enlarge_ratio: float = EYE_ENLARGE_RATIO) -> dict[str, Box]:
    """Boxes at `out_size` from one entry of `FFHQ_eye_mouth_landmarks_512.pth`."""
    scale = out_size / REFERENCE_SIZE
    boxes = {}
    for name in COMPONENTS:
        x, y, half = (float(v) * scale for v in entry[name][:3])
        if "eye" in name:
            half *= eye_enlarge_ratio
        boxes[name] = centre_box(x, y, half)
    return boxes


def boxes_from_points(points: dict[str, np.ndarray], out_size: int,
                      eye_enlarge_ratio: float = EYE_ENLARGE_RATIO) -> dict[str, Box]:
    """Boxes from each part's landmark points (N, 2) at `out_size`: docs/training.md rule.

    Centre = mean of the points; half = max(max(w, h) / 2, 16 * out_size / 512); eyes x ratio.
    """
    min_half = MIN_HALF_SIZE * out_size / REFERENCE_SIZE
    boxes = {}
    for name in COMPONENTS:
        pts = np.asarray(points[name], dtype=np.float64).reshape(-1, 2)
        extent = pts.max(axis=0) - pts.min(axis=0)
        half = max(float(extent.max()) / 2.0, min_half)
        if "eye" in name:
            half *= eye_enlarge_ratio
        x, y = pts.mean(axis=0)
        boxes[name] = centre_box(float(x), float(y), half)
    return boxes


def boxes_from_five_points(landmarks: np.ndarray, out_size: int,
                           eye_enlarge_ratio: float = EYE_ENLARGE_RATIO) -> dict[str, Box]:
    """Boxes from 5 landmarks (5, 2) already at `out_size` (eyes, nose, mouth corners)."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (5, 2):
        raise ValueError(f"expected 5 landmarks of shape (5, 2), got {landmarks.shape}")
    left, right, _, mouth_left, mouth_right = landmarks
    half_eye_width = EYE_WIDTH_PER_IOD * float(np.linalg.norm(right - left)) / 2.0
    offset = np.array([half_eye_width, 0.0])
    points = {
        "left_eye": np.stack([left - offset, left + offset]),
        "right_eye": np.stack([right - offset, right + offset]),
        "mouth": np.stack([mouth_left, mouth_right]),
    }
    return boxes_from_points(points, out_size, eye_enlarge_ratio)


def template_boxes(out_size: int, eye_enlarge_ratio: float = EYE_ENLARGE_RATIO) -> dict[str, Box]:
    """Boxes of the FFHQ-aligned template, the fallback for aligned faces without landmarks."""
    return boxes_from_five_points(TEMPLATE_5POINT_512 * out_size / REFERENCE_SIZE, out_size, eye_enlarge_ratio)


def flip_boxes(boxes: Mapping[str, Box], width: int) -> dict[str, Box]:
    """Mirror boxes for a horizontally flipped image: x -> width - x, left and right eye swapped."""
    mirrored = {name: (width - x2, y1, width - x1, y2) for name, (x1, y1, x2, y2) in boxes.items()}
    swapped = {"left_eye": "right_eye", "right_eye": "left_eye"}
    return {swapped.get(name, name): box for name, box in mirrored.items()}


def load_official_landmarks(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Read `FFHQ_eye_mouth_landmarks_512.pth`; clear error if it is missing or not in that format."""
    import torch  # local: only this loader needs torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"landmarks file not found: {path} (set data.*.landmarks_path to the official "
            "FFHQ_eye_mouth_landmarks_512.pth or to a gpen-landmarks JSON, or null for the template)")
    # The official file pickles numpy arrays: allow exactly the numpy pieces needed to rebuild them
    # (under both the numpy 1.x and 2.x module names), nothing else.
    reconstruct = np._core.multiarray._reconstruct
    numpy_globals = [np.ndarray, np.dtype, reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"),
                     *(type(np.dtype(code)) for code in "fdeihlbBHIL?")]
    try:
        with torch.serialization.safe_globals(numpy_globals):
            table = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path}: not a landmark file this loader accepts ({str(err).splitlines()[0]})") from None
    sample = next(iter(table.values()), None) if isinstance(table, dict) else None
    if not isinstance(sample, Mapping) or any(name not in sample for name in COMPONENTS):
        raise ValueError(f"{path}: not an FFHQ eye/mouth landmark file (expected a dict keyed by "
                         f"'00000000'-style indices with {', '.join(COMPONENTS)} entries)")
    return {key: {name: np.asarray(entry[name], dtype=np.float64) for name in COMPONENTS}
            for key, entry in table.items()}
