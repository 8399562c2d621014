"""Identity and geometry metrics: Deg (ArcFace angle) and LMD (landmark distance) (docs/evaluation.md).

Deg (GFP-GAN §4.1, "identity distance"): the angle in degrees between the ArcFace embeddings of the
restored face and the ground truth; lower is better. Convention (the same preprocessing as the
identity loss): 8-bit-rounded RGB -> gray with luma 0.2989 R + 0.5870 G + 0.1140 B, bilinear resize to
128×128 without antialias, mapped to [-1, 1]; ArcFace ResNet-18 (`arcface_resnet18.pth`). The VQFR
protocol leaves out pairs whose angle is under 1° (`exclude_below_deg=1.0`); off by default.

LMD (optional): mean L2 distance in pixels (at the image's own resolution) between the five facial
landmarks (eyes, nose, mouth corners) that MTCNN (facenet-pytorch, weights ship in the package)
detects on the restored face and on the ground truth. Pairs where either face is not detected are
left out and counted in the results metadata.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gpen.metrics.base import PerImageMetric, quantize_8bit
from gpen.utils.validation import check_choice, check_range

ARCFACE_LUMA = (0.2989, 0.5870, 0.1140)
ARCFACE_SIZE = 128


def arcface_input(images: torch.Tensor, size: int = ARCFACE_SIZE) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 1, size, size) gray in [-1, 1]."""
    luma = torch.tensor(ARCFACE_LUMA, device=images.device).view(1, 3, 1, 1)
    gray = (quantize_8bit(images).float() / 255.0 * luma).sum(dim=1, keepdim=True)  # (B, 1, H, W)
    gray = F.interpolate(gray, size=(size, size), mode="bilinear", align_corners=False)
    return gray * 2.0 - 1.0


def embedding_angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Angle in degrees between rows of (B, D) embeddings, computed in float64."""
    cosine = F.cosine_similarity(a.double(), b.double(), dim=1).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.arccos(cosine))


class Deg(PerImageMetric):
    """Mean ArcFace angle (degrees) between output and GT; pass `network` to inject a built ArcFace."""

    name = "Deg"

    def __init__(self, arcface_path: str = "arcface_resnet18.pth", exclude_below_deg: float | None = None,
                 network: nn.Module | None = None, measure: str = "angle") -> None:
        super().__init__()
        self.arcface_path = arcface_path
        # angle: degrees (GFP-GAN "Deg"); cosine_distance: 1 - cosine (PMRF's identity measure)
        self.measure = check_choice("metrics.deg.measure", measure, ("angle", "cosine_distance"))
        self.name = "Deg" if measure == "angle" else "ArcFace cos dist"
        self.exclude_below_deg = (None if exclude_below_deg is None else
                                  check_range("metrics.deg.exclude_below_deg", exclude_below_deg, 0.0, 180.0))
        self.network = network

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        if self.network is None:
            from gpen.models.arcface import ResNetArcFace
            from gpen.models.loading import load_arcface
            self.network = load_arcface(ResNetArcFace(), self.arcface_path, config_key="metrics.deg.arcface_path",
                                        disable_hint="metrics.deg=null (leave Deg out)")
        self.network = self.network.to(self.device).eval()

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        both = arcface_input(torch.cat([restored, reference]))  # one pass for output and GT
        embeddings = self.network(both)
        out, gt = embeddings.chunk(2)
        if self.measure == "cosine_distance":
            return 1.0 - F.cosine_similarity(out.double(), gt.double(), dim=1)
        return embedding_angle_deg(out, gt)

    def values(self) -> torch.Tensor:
        values = super().values()
        if self.exclude_below_deg is not None:
            values = values[values >= self.exclude_below_deg]
        return values

    def details(self) -> dict:
        """How many pairs the "leave out pairs under N°" protocol dropped."""
        if self.exclude_below_deg is None:
            return {}
        dropped = int(super().values().numel() - self.values().numel())
        return {"exclude_below_deg": self.exclude_below_deg, "pairs_left_out": dropped}


class LMD(PerImageMetric):
    """Mean 5-point landmark distance (pixels) between output and GT, landmarks from MTCNN."""

    name = "LMD"

    def __init__(self, min_face_size: int = 20) -> None:
        super().__init__()
        self.min_face_size = int(check_range("metrics.lmd.min_face_size", min_face_size, 1, None))
        self.detector = None
        self.missed = 0

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        from facenet_pytorch import MTCNN  # reads the weights that ship in the package
        self.detector = MTCNN(keep_all=False, min_face_size=self.min_face_size, device=self.device)

    def landmarks(self, images: torch.Tensor) -> list[torch.Tensor | None]:
        """(B, 3, H, W) in [0, 1] -> per image the (5, 2) landmarks of the largest face, or None."""
        batch = quantize_8bit(images).permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()  # (B, H, W, 3)
        _, _, points = self.detector.detect(list(batch), landmarks=True)
        # Batched detection returns, per image, None or an array of faces (largest first) × 5 × 2.
        return [None if p is None else torch.as_tensor(np.asarray(p[0], dtype=np.float64)) for p in points]

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        scores = []
        for out, gt in zip(self.landmarks(restored), self.landmarks(reference)):
            if out is None or gt is None:
                self.missed += 1
                scores.append(math.nan)
            else:
                scores.append(float((out - gt).norm(dim=1).mean()))
        return torch.tensor(scores, dtype=torch.float64)

    def values(self) -> torch.Tensor:
        values = super().values()
        return values[~values.isnan()]

    def details(self) -> dict:
        return {"pairs_without_detected_face": self.missed}

    def reset(self) -> None:
        super().reset()
        self.missed = 0
