"""The NTIRE 2025 real-world face restoration identity check: AdaFace cosine similarity between each
input and its restored output, against a per-test-set threshold (docs/evaluation.md).

Convention, after the challenge's evaluation: the same five landmarks (eyes, nose tip, mouth corners)
align input and output by one similarity transform onto the 112×112 ArcFace template (bilinear warp,
black outside), the 8-bit crop becomes BGR in [-1, 1] ((x/255 − 0.5)/0.5, as AdaFace's own
preprocessing), and the cosine similarity of the two unit embeddings of AdaFace IR-50 is the score.
The challenge reads the landmarks off the input; here `landmarks="template"` (default) uses the
aligned-face template of our test sets (FFHQ layout at the image's size) and `landmarks="mtcnn"`
detects them on the input (MTCNN, weights ship with facenet-pytorch), falling back to the template
when no face is found (counted in the details).

Thresholds are the challenge's, per test set (0.5 CelebA, 0.6 LFW-Test and CelebChild-Test, 0.3
WIDER-Test and WebPhoto-Test); a challenge submission failed with more than ten of its 450 faces
below them. `report="similarity"` gives the mean similarity, `report="pass_rate"` the share of faces
at or above the selected threshold (with the count below it in the details).
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gpen.metrics.base import NotApplicableError, PerImageMetric, quantize_8bit
from gpen.models.templates import FFHQ_TEMPLATE_512, scale_template
from gpen.utils.validation import check_choice, check_range

#: The 112×112 ArcFace alignment template (the 96×112 reference points shifted 8 px right), same point order.
ARCFACE_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                                 [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
CROP = 112
#: The challenge's thresholds, by test set.
NTIRE2025_THRESHOLDS = {"CelebA": 0.5, "LFW-Test": 0.6, "CelebChild-Test": 0.6, "Wider-Test": 0.3,
                        "WebPhoto-Test": 0.3}


def adaface_input(images: torch.Tensor, landmarks: np.ndarray) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] + (B, 5, 2) landmarks in pixels -> (B, 3, 112, 112) aligned BGR in [-1, 1]."""
    # lazily: importing the photo package pulls in its whole pipeline
    from gpen.photo.align import similarity_transform

    pixels = quantize_8bit(images).permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()  # (B, H, W, 3)
    crops = [cv2.warpAffine(image, similarity_transform(points, ARCFACE_TEMPLATE_112), (CROP, CROP),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
             for image, points in zip(pixels, landmarks)]
    bgr = torch.from_numpy(np.stack(crops)[..., ::-1].copy()).permute(0, 3, 1, 2).float()  # (B, 3, 112, 112)
    return ((bgr / 255.0 - 0.5) / 0.5).to(images.device)


class AdaFaceIdentity(PerImageMetric):
    """AdaFace cosine similarity input vs output (mean), or the share of faces passing the threshold."""

    needs_reference = True
    reference_kind = "input"       # the degraded input is the identity reference (no GT needed)
    lower_is_better = False

    def __init__(self, adaface_path: str = "adaface_ir50_ms1mv2.ckpt", report: str = "similarity",
                 landmarks: str = "template", threshold: float | None = None, threshold_set: str | None = None,
                 thresholds: Mapping[str, float] | None = None, network: nn.Module | None = None,
                 config_key: str = "metrics.adaface") -> None:
        super().__init__()
        self.adaface_path, self.network, self.config_key = adaface_path, network, config_key
        self.report = check_choice(f"{config_key}.report", report, ("similarity", "pass_rate"))
        self.landmarks = check_choice(f"{config_key}.landmarks", landmarks, ("template", "mtcnn"))
        self.name = "AdaFace sim" if report == "similarity" else "ID pass rate"
        self.thresholds = dict(NTIRE2025_THRESHOLDS if thresholds is None else thresholds)
        self.threshold, self.threshold_source = self._pick_threshold(threshold, threshold_set)
        self.detector = None
        self.not_detected = 0

    def _pick_threshold(self, threshold: float | None, threshold_set: str | None) -> tuple[float | None, str | None]:
        if threshold is not None:
            return check_range(f"{self.config_key}.threshold", threshold, -1.0, 1.0), "threshold"
        if threshold_set is None:
            return None, None
        key = check_choice(f"{self.config_key}.threshold_set", threshold_set, tuple(self.thresholds))
        return float(self.thresholds[key]), key

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        if self.network is None:
            from gpen.models.adaface import AdaFaceIR
            from gpen.models.loading import load_adaface
            self.network = load_adaface(AdaFaceIR(), self.adaface_path, config_key=f"{self.config_key}.adaface_path",
                                        disable_hint=f"{self.config_key}=null (leave the identity check out)")
        self.network = self.network.to(self.device).eval()
        if self.landmarks == "mtcnn" and self.detector is None:
            from facenet_pytorch import MTCNN  # reads the weights that ship in the package
            self.detector = MTCNN(keep_all=False, device=self.device)

    def input_landmarks(self, inputs: torch.Tensor) -> np.ndarray:
        """(B, 5, 2) landmarks of the inputs, in pixels of the inputs."""
        size = inputs.shape[-1]
        template = scale_template(FFHQ_TEMPLATE_512, size).astype(np.float64)
        if self.detector is None:
            return np.repeat(template[None], inputs.shape[0], axis=0)
        batch = quantize_8bit(inputs).permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()
        _, _, points = self.detector.detect(list(batch), landmarks=True)
        found = []
        for p in points:
            self.not_detected += p is None
            found.append(template if p is None else np.asarray(p[0], np.float64))
        return np.stack(found)

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        if self.report == "pass_rate" and self.threshold is None:
            raise NotApplicableError(f"not applicable: no threshold; set {self.config_key}.threshold_set (one of "
                                     f"{', '.join(self.thresholds)}) or {self.config_key}.threshold")
        points = self.input_landmarks(reference)  # the input's landmarks align both images
        scale = np.array([restored.shape[-1] / reference.shape[-1], restored.shape[-2] / reference.shape[-2]])
        faces = torch.cat([adaface_input(reference, points), adaface_input(restored, points * scale)])
        embeddings, _ = self.network(faces.to(self.device))
        inputs, outputs = embeddings.double().chunk(2)
        return F.cosine_similarity(inputs, outputs, dim=1)

    def update(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if reference is None:
            raise ValueError(f"{self.name} compares each output with its input: it needs the input images")
        self.scores.append(self.score(restored, reference).detach().double().cpu())  # sizes may differ

    def compute(self) -> float:
        values = self.values()
        if values.numel() == 0:
            raise ValueError(f"{self.name}: no image was scored")
        if self.report == "similarity":
            return float(values.mean())
        return float((values >= self.threshold).double().mean())

    def details(self) -> dict:
        values = self.values()
        facts = {"landmarks": self.landmarks, "mean_similarity": float(values.mean()) if values.numel() else None}
        if self.threshold is not None:
            facts.update(threshold=self.threshold, threshold_from=self.threshold_source,
                         below_threshold=int((values < self.threshold).sum()))
        if self.landmarks == "mtcnn":
            facts["inputs_without_detected_face"] = self.not_detected
        return facts

    def reset(self) -> None:
        super().reset()
        self.not_detected = 0
