"""Whole-photo face restoration: detect, align, restore, paste back (the `gpen-restore` command's API).

See docs/photo_restoration.md. `PhotoRestorer` in `gpen.photo.pipeline` is the entry point.
"""

from gpen.models.templates import face_template
from gpen.photo.align import similarity_transform
from gpen.photo.detect import FaceDetection, MTCNNDetector, RetinaFaceDetector, build_detector
from gpen.photo.pipeline import (
    PhotoRestorer,
    PhotoResult,
    RestoredFace,
    generator_restore_faces,
    to_uint8_rgb,
)

__all__ = [
    "FaceDetection",
    "MTCNNDetector",
    "PhotoRestorer",
    "PhotoResult",
    "RestoredFace",
    "RetinaFaceDetector",
    "build_detector",
    "face_template",
    "generator_restore_faces",
    "similarity_transform",
    "to_uint8_rgb",
]
