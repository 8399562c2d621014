"""Benchmark metrics of blind face restoration (docs/evaluation.md): one module per family,
one evaluation API.

- `pixel`: PSNR, SSIM (RGB, 8-bit, no crop; opt-in per-channel mean/std matching)
- `perceptual`: LPIPS (lpips package, VGG v0.1 by default)
- `niqe`: NIQE (pyiqa with the shipped standard pristine parameters)
- `fid`: FID (pytorch-fid Inception features, cached reference statistics, eigh-based square root)
- `identity`: Deg (ArcFace angle) and LMD (MTCNN landmark distance)
- `distribution`: KID and improved precision / recall against reference Inception features
- `adaface`: the NTIRE 2025 identity check (AdaFace similarity input vs output, pass rate)
- `pyiqa_nr`: pyiqa no-reference metrics (CLIP-IQA, MANIQA, MUSIQ, Q-Align); `presets`: the NTIRE score
- `api`: `evaluate_rows` runs metrics over test-set rows into a `report.ResultsTable`
"""

from gpen.metrics.api import evaluate_rows
from gpen.metrics.base import Metric, PerImageMetric
from gpen.metrics.fid import FID
from gpen.metrics.identity import LMD, Deg
from gpen.metrics.niqe import NIQE
from gpen.metrics.perceptual import LPIPS
from gpen.metrics.pixel import PSNR, SSIM
from gpen.metrics.report import ResultsTable

__all__ = ["FID", "LMD", "LPIPS", "NIQE", "PSNR", "SSIM", "Deg", "Metric", "PerImageMetric", "ResultsTable",
           "evaluate_rows"]
