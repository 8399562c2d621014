"""Face detection with five landmarks: MTCNN (default, offline) or RetinaFace (facexlib, own weights).

MTCNN (Zhang et al. 2016) ships its weights inside facenet-pytorch, so it runs with no download.
RetinaFace (Deng et al. 2020) is built from facexlib's network code and loaded from a file you give;
facexlib's own constructors download their weights, so they are never called here. Both return faces
in pixels of the photo given, as `FaceDetection` records sorted by score. Large photos are detected on
a downscaled copy (`max_side`) and the points scaled back, which bounds time and memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from gpen.models.loading import load_strict, read_checkpoint, unwrap_state_dict

#: facexlib's RetinaFace backbones and their released weight files
RETINAFACE_FILES = {"resnet50": "detection_Resnet50_Final.pth", "mobile0.25": "detection_mobilenet0.25_Final.pth"}
RETINAFACE_URL = "https://github.com/xinntao/facexlib/releases/download/v0.1.0/"


@dataclass
class FaceDetection:
    """One face: box (x1, y1, x2, y2), landmarks (5, 2) [eyes, nose, mouth corners] and score."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return float(max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1]))

    def scaled(self, factor: float) -> FaceDetection:
        return FaceDetection(self.box * factor, self.landmarks * factor, self.score)


DETECTORS = ("mtcnn", "retinaface", "retinaface-mobile")


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        """Faces in a uint8 RGB photo (H, W, 3), best score first."""


def shrink_for_detection(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """(copy whose longest side is at most `max_side`, factor from its pixels to the photo's)."""
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0
    factor = max_side / max(h, w)
    small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return small, w / small.shape[1]


class MTCNNDetector:
    """MTCNN from facenet-pytorch (weights inside the package). Faces scoring below `threshold` are dropped."""

    def __init__(self, device: str | torch.device = "cpu", min_face_size: int = 20, threshold: float = 0.95,
                 max_side: int | None = 1600) -> None:
        from facenet_pytorch import MTCNN  # local: heavy import, only needed when detecting

        self.mtcnn = MTCNN(keep_all=True, device=device, min_face_size=int(min_face_size))
        self.threshold, self.max_side = float(threshold), max_side

    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        small, factor = shrink_for_detection(image, self.max_side)
        boxes, scores, points = self.mtcnn.detect(small, landmarks=True)
        if boxes is None:
            return []
        faces = [FaceDetection(np.asarray(b, np.float64), np.asarray(p, np.float64), float(s))
                 for b, s, p in zip(boxes, scores, points) if s >= self.threshold]
        return sorted((f.scaled(factor) for f in faces), key=lambda f: -f.score)


class RetinaFaceDetector:
    """RetinaFace (ResNet-50 or MobileNet-0.25 backbone) from facexlib's network code, loaded from
    `weights` (never downloaded)."""

    def __init__(self, weights: str | os.PathLike, device: str | torch.device = "cpu", threshold: float = 0.97,
                 max_side: int | None = 1600, backbone: str = "resnet50") -> None:
        from facexlib.detection.retinaface import RetinaFace

        if backbone not in RETINAFACE_FILES:
            raise ValueError(f"unknown RetinaFace backbone {backbone!r}; choose one of {list(RETINAFACE_FILES)}")
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"RetinaFace weights not found: {path}. Download {RETINAFACE_URL}{RETINAFACE_FILES[backbone]} "
                "and put it there, or point --detector-weights at the file (or use the default "
                "--detector mtcnn, which needs no file)")
        self.device = torch.device(device)
        self.net = RetinaFace(network_name=backbone, half=False, device=self.device)
        load_strict(self.net, unwrap_state_dict(read_checkpoint(path), path), path)
        self.net.eval().to(self.device)
        self.threshold, self.max_side = float(threshold), max_side

    @torch.no_grad()
    def detect(self, image: np.ndarray) -> list[FaceDetection]:
        small, factor = shrink_for_detection(image, self.max_side)
        # facexlib's network takes BGR and returns rows (x1, y1, x2, y2, score, 10 landmark coordinates)
        rows = self.net.detect_faces(np.ascontiguousarray(small[:, :, ::-1]), conf_threshold=self.threshold)
        faces = [FaceDetection(row[:4].astype(np.float64), row[5:15].reshape(5, 2).astype(np.float64),
                               float(row[4])) for row in rows]
        return sorted((f.scaled(factor) for f in faces), key=lambda f: -f.score)


def build_detector(name: str = "mtcnn", weights: str | os.PathLike | None = None,
                   device: str | torch.device = "cpu", **kwargs) -> FaceDetector:
    """The detector called `name`: "mtcnn", "retinaface" (ResNet-50) or "retinaface-mobile"
    (MobileNet-0.25); RetinaFace needs `weights`."""
    if name == "mtcnn":
        return MTCNNDetector(device=device, **kwargs)
    if name in DETECTORS:
        backbone = "resnet50" if name == "retinaface" else "mobile0.25"
        if weights is None:
            raise ValueError(f"the {name} detector needs its weights file ({RETINAFACE_FILES[backbone]}): "
                             "pass --detector-weights PATH, or use --detector mtcnn")
        return RetinaFaceDetector(weights, device=device, backbone=backbone, **kwargs)
    raise ValueError(f"unknown detector {name!r}; choose one of {DETECTORS}")


def center_face(faces: list[FaceDetection], shape: tuple[int, int]) -> list[FaceDetection]:
    """The one face whose box centre is nearest the photo's centre (shape = (h, w)), as a list."""
    if not faces:
        return []
    centre = np.array([shape[1] / 2, shape[0] / 2])
    return [min(faces, key=lambda f: float(np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre)))]
