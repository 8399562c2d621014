"""Five-point facial landmarks for component boxes (docs/training.md): detection and the landmarks file.

`gpen-landmarks` runs MTCNN from facenet-pytorch (its weights ship inside the package, so it works
offline) on every image of a folder and stores the points in a JSON file:

    {"format": "gpen-landmarks/v1", "points": [left_eye, right_eye, nose, mouth_left, mouth_right],
     "images": {"00000.png": {"size": [w, h], "landmarks": [[x, y] x 5] | null, "score": p}}}

Points are in pixels of the source image; "left" means the image's left. Images with no detected
face store null, and the dataset falls back to the template boxes for them (with one warning).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "gpen-landmarks/v1"
POINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class FiveLandmarkDetector:
    """MTCNN (facenet-pytorch) five-point detector; keeps the most confident face of each image."""

    def __init__(self, device: str = "cpu", min_face_size: int = 40) -> None:
        self.device = device
        self.min_face_size = int(min_face_size)
        self._mtcnn = None

    def load(self) -> FiveLandmarkDetector:
        """Build the network (weights from the facenet-pytorch package; no download)."""
        from facenet_pytorch import MTCNN  # local: optional at import time of gpen.data

        self._mtcnn = MTCNN(keep_all=True, device=self.device, min_face_size=self.min_face_size)
        return self

    def detect(self, image: np.ndarray) -> tuple[np.ndarray | None, float]:
        """Landmarks (5, 2) in pixels and score of the best face in float RGB (H, W, 3) [0, 1]."""
        if self._mtcnn is None:
            self.load()
        rgb = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        boxes, probs, points = self._mtcnn.detect(rgb, landmarks=True)
        if boxes is None or len(boxes) == 0:
            return None, 0.0
        best = int(np.argmax(probs))
        return np.asarray(points[best], dtype=np.float64), float(probs[best])


def write_landmarks(path: str | Path, entries: dict[str, dict[str, Any]]) -> None:
    """Write a landmarks file; `entries` maps file name -> {"size", "landmarks", "score"}."""
    payload = {"format": FORMAT, "points": list(POINT_NAMES), "images": entries}
    Path(path).write_text(json.dumps(payload, indent=1))


def read_landmarks(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a landmarks file written by `gpen-landmarks`; clear error when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"landmarks file not found: {path} (run gpen-landmarks, or set the "
                                "dataset's landmarks_path to null to use the template boxes)")
    try:
        payload = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a JSON landmarks file ({err})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a gpen-landmarks file (expected \"format\": \"{FORMAT}\")")
    return payload["images"]


def scale_landmarks(landmarks: Iterable[Iterable[float]], size: Iterable[int], out_size: int) -> np.ndarray:
    """Landmarks (5, 2) stored for a source image of `size` = (w, h), rescaled to out_size x out_size."""
    w, h = size
    return np.asarray(landmarks, dtype=np.float64) * np.array([out_size / w, out_size / h])
