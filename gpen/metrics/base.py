"""The metric interface every benchmark number implements (docs/evaluation.md).

A metric is fed batches of restored images (and, for full-reference metrics, the ground truth) as
float tensors (B, 3, H, W) in [0, 1], RGB, on its device, and reduces them to one number. Pretrained
networks are loaded in `setup()`, never in the constructor, so building a metric costs no I/O and a
missing weight file surfaces as one `MissingWeightsError` that the evaluation reports per metric.
"""

from __future__ import annotations

import abc

import torch


class NotApplicableError(ValueError):
    """The metric is not defined for these images (e.g. NIQE below 192 px): reported in one line."""


class Metric(abc.ABC):
    """One number over a test set: `setup` once, `update` per batch, then `compute`."""

    name: str = "metric"
    needs_reference: bool = True   # False: a no-reference metric (NIQE, FID vs FFHQ statistics)
    reference_kind: str = "gt"     # what `reference` is: gt | input | gt_or_input (texture measures)
    lower_is_better: bool = True
    min_size: int = 0              # smallest image side the metric is defined for (NIQE: 192)

    def setup(self, device: torch.device | str = "cpu") -> None:
        """Load pretrained weights and move networks to `device` (default: nothing to load)."""
        self.device = torch.device(device)

    @abc.abstractmethod
    def update(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        """Accumulate a batch: restored and reference are (B, 3, H, W) in [0, 1]."""

    @abc.abstractmethod
    def compute(self) -> float:
        """The metric over everything seen since the last `reset`."""

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget the accumulated batches (the loaded networks stay)."""

    def count(self) -> int:
        """Number of images accumulated (and, where a protocol drops some, actually scored)."""
        return 0

    def details(self) -> dict:
        """Protocol facts worth recording next to the value (e.g. pairs left out); none by default."""
        return {}


class PerImageMetric(Metric):
    """A metric that scores each image on its own; the reported value is the mean over images."""

    def __init__(self) -> None:
        self.scores: list[torch.Tensor] = []
        self.device = torch.device("cpu")

    @abc.abstractmethod
    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        """Per-image values (B,) for one batch."""

    @torch.no_grad()
    def update(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        if self.needs_reference and reference is None:
            raise ValueError(f"{self.name} is a full-reference metric: it needs the ground-truth images")
        if reference is not None and reference.shape != restored.shape:
            raise ValueError(f"{self.name}: restored {tuple(restored.shape)} and reference "
                             f"{tuple(reference.shape)} differ in shape (set a resize protocol option)")
        self.scores.append(self.score(restored, reference).detach().double().cpu())

    def values(self) -> torch.Tensor:
        """Every per-image value seen so far, (N,) float64."""
        return torch.cat(self.scores) if self.scores else torch.zeros(0, dtype=torch.float64)

    def compute(self) -> float:
        values = self.values()
        if values.numel() == 0:
            raise ValueError(f"{self.name}: no image was scored")
        return float(values.mean())

    def reset(self) -> None:
        self.scores = []

    def count(self) -> int:
        return int(self.values().numel())


def quantize_8bit(images: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] images to the 0–255 grid as float64, as a saved 8-bit PNG would hold them."""
    return (images.clamp(0.0, 1.0) * 255.0).round().double()
