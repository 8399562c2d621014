"""Restore the faces of a whole photo: detect, align, restore, paste back (the photo command's API).

    restorer = PhotoRestorer.from_generator(load_generator("GFPGANv1.4.pth"), detector=MTCNNDetector())
    result = restorer.restore(photo)      # photo: (H, W, 3) uint8 RGB
    result.image                          # (H·s, W·s, 3) uint8 RGB, faces restored
    result.faces[0].record()              # {"box", "landmarks", "score"} in pixels of `photo`

The per-face restoration is one callable, `restore_faces(faces) -> faces` on aligned faces
(B, 3, S, S) in [-1, 1]; the default runs the generator. Anything that maps aligned faces to restored
ones (knobs, latent refinement, region blending) plugs in there, so the photo command and evaluation
give the same pixels for the same settings. See docs/photo_restoration.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from gpen.data.regions import REGION_IDS
from gpen.models.templates import face_template
from gpen.photo.align import similarity_transform, warp_face
from gpen.photo.detect import FaceDetection, FaceDetector, center_face
from gpen.photo.paste import border_mask, ellipse_mask, feather_mask, output_affine, paste_face
from gpen.restore.masks import FaceParser

RestoreFaces = Callable[[torch.Tensor], torch.Tensor]
#: Regions of a parsing map pasted back; hair, neck, clothes and background keep the original photo.
FACE_REGIONS = ("eyes", "brows", "nose", "mouth", "skin", "forehead")


def generator_restore_faces(generator: nn.Module) -> RestoreFaces:
    """The default `restore_faces`: one forward pass of the generator (in eval mode, on its device)."""
    device = next(generator.parameters()).device

    @torch.no_grad()
    def restore_faces(faces: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) in [-1, 1] -> same
        out = generator(faces.to(device))
        out = out[0] if isinstance(out, (tuple, list)) else out  # GFP-GAN also returns its pyramid
        return out.clamp(-1.0, 1.0)

    return restore_faces


def to_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB from uint8 / uint16 / float [0, 1] arrays; grey expanded, alpha dropped."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {image.shape}")
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    elif image.dtype.kind == "f":
        image = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unsupported pixel type {image.dtype}; use uint8, uint16 or float in [0, 1]")
    image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]
    return np.ascontiguousarray(image)


@dataclass
class RestoredFace:
    """One face of a photo: where it was found, the aligned crop and its restoration (uint8 RGB, S×S)."""

    detection: FaceDetection | None  # None for an input that was already an aligned face
    affine: np.ndarray | None         # (2, 3) photo -> crop
    cropped: np.ndarray
    restored: np.ndarray

    def record(self) -> dict[str, Any]:
        """JSON-ready {"box", "landmarks", "score"} in pixels of the input photo."""
        if self.detection is None:
            return {"box": None, "landmarks": None, "score": None, "aligned_input": True}
        d = self.detection
        return {"box": np.round(d.box, 2).tolist(), "landmarks": np.round(d.landmarks, 2).tolist(),
                "score": round(float(d.score), 5)}


@dataclass
class PhotoResult:
    image: np.ndarray | None  # restored photo (H·s, W·s, 3) uint8; None for aligned-face input
    faces: list[RestoredFace]


class PhotoRestorer:
    """Detect → align → `restore_faces` → paste back, for one photo at a time."""

    def __init__(
        self,
        restore_faces: RestoreFaces,            # aligned faces (B, 3, S, S) in [-1, 1] -> restored, same shape
        out_size: int,                          # S, the face size restore_faces works at
        template: np.ndarray,                   # (5, 2) landmark template at out_size
        detector: FaceDetector | None = None,   # needed unless every input is an aligned face
        upscale: float = 1.0,                   # output size = input size × upscale (background: bilinear)
        only_center_face: bool = False,         # restore only the face nearest the photo's centre
        batch_size: int = 4,                    # faces per restore_faces call
        parser: FaceParser | None = None,       # face-parsing paste mask (gpen.restore); None: feathered ellipse
    ) -> None:
        if upscale <= 0:
            raise ValueError(f"upscale must be > 0, got {upscale}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.restore_faces, self.out_size = restore_faces, int(out_size)
        self.template = np.asarray(template, np.float64)
        self.detector, self.parser = detector, parser
        self.upscale, self.only_center_face, self.batch_size = float(upscale), only_center_face, int(batch_size)
        self.border = border_mask(self.out_size)
        self.ellipse = ellipse_mask(self.out_size, self.template) * self.border

    @classmethod
    def from_generator(cls, generator: nn.Module, restore_faces: RestoreFaces | None = None,
                       **kwargs: Any) -> PhotoRestorer:
        """A restorer at the generator's out_size and face template; `restore_faces` defaults to the generator."""
        return cls(restore_faces or generator_restore_faces(generator), generator.out_size,
                   face_template(generator), **kwargs)

    # ------------------------------------------------------------------ public API
    def restore(self, image: np.ndarray) -> PhotoResult:
        """Restore every face of a photo (H, W, 3) uint8 RGB (other dtypes/channels are converted)."""
        if self.detector is None:
            raise ValueError("PhotoRestorer has no detector: pass detector=..., or use restore_aligned()")
        image = to_uint8_rgb(image)
        detections = self.detector.detect(image)
        if self.only_center_face:
            detections = center_face(detections, image.shape[:2])
        affines = [similarity_transform(d.landmarks, self.template) for d in detections]
        crops = [warp_face(image, a, self.out_size) for a in affines]
        restored = self.restore_crops(crops)
        faces = [RestoredFace(d, a, c, r) for d, a, c, r in zip(detections, affines, crops, restored)]
        return PhotoResult(self.paste_back(image, faces), faces)

    def restore_aligned(self, face: np.ndarray) -> PhotoResult:
        """Restore one already-aligned face (any size; resized to out_size)."""
        face = to_uint8_rgb(face)
        size = self.out_size
        shrink = face.shape[0] > size or face.shape[1] > size
        crop = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return PhotoResult(None, [RestoredFace(None, None, crop, self.restore_crops([crop])[0])])

    # ------------------------------------------------------------------ steps
    def restore_crops(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Aligned uint8 crops (S, S, 3) -> restored uint8 crops, `batch_size` at a time."""
        out = []
        for start in range(0, len(crops), self.batch_size):
            batch = np.stack(crops[start:start + self.batch_size])  # (B, S, S, 3)
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (B, 3, S, S)
            y = self.restore_faces(x)
            if tuple(y.shape) != tuple(x.shape):
                raise ValueError(f"restore_faces returned shape {tuple(y.shape)} for faces of shape {tuple(x.shape)}")
            y = ((y.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
            out.extend(y.permute(0, 2, 3, 1).numpy())  # (B, S, S, 3)
        return out

    def masks(self, restored: list[np.ndarray]) -> list[np.ndarray]:
        """Soft paste masks (S, S) of restored faces: parsing when available, else the template ellipse."""
        if self.parser is None or not restored:
            return [self.ellipse] * len(restored)
        device = self.parser.to_regions.device
        faces = torch.from_numpy(np.stack(restored)).to(device).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        regions = self.parser(faces)  # (B, R, S, S) soft region masks
        face = regions[:, [REGION_IDS[name] for name in FACE_REGIONS]].sum(dim=1).clamp(0, 1).cpu().numpy()
        return [feather_mask(m, self.out_size) * self.border for m in face]

    def upscaled(self, image: np.ndarray) -> np.ndarray:
        """The background at the output size: the photo itself, or bilinearly resized."""
        if self.upscale == 1.0:
            return image.copy()
        h, w = image.shape[:2]
        size = (max(1, round(w * self.upscale)), max(1, round(h * self.upscale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)

    def paste_back(self, image: np.ndarray, faces: list[RestoredFace]) -> np.ndarray:
        """The output photo: the (upscaled) background with every restored face blended in, largest last."""
        canvas = self.upscaled(image)
        masks = self.masks([f.restored for f in faces])
        for face, mask in sorted(zip(faces, masks), key=lambda fm: fm[0].detection.area):
            paste_face(canvas, face.restored, mask, output_affine(face.affine, self.upscale))
        return canvas
