"""FID (Heusel et al., NeurIPS 2017) with the pytorch-fid Inception-v3, as BFR papers report it
(docs/evaluation.md).

Convention: 8-bit-rounded RGB in [0, 1] is resized to 299×299 (bilinear, no antialias, as
pytorch-fid does), mapped to [-1, 1], and the 2048-d final average-pool features of the FID Inception
(TensorFlow's 2015-12-05 graph ported by pytorch-fid, `pt_inception-2015-12-05-6726825d.pth`) are
compared with reference statistics (mean, covariance) of an HQ set such as FFHQ, built once with
`gpen-fid-stats` and cached to an .npz file. The paper's CelebA-Test GT vs FFHQ value is 43.43.

The network is torchvision's `inception_v3` with the blocks that differ in the TF graph swapped for
pyiqa's FID block classes (pooling that excludes padding, max- instead of average-pooling in the last
block); pyiqa's own builder downloads the weights, so the file is resolved through the cache here.

The Fréchet distance needs tr((Σ1 Σ2)^½). Instead of `scipy.linalg.sqrtm` (a Schur decomposition,
~100 s for 2048² on two cores, and complex round-off) it sums the square roots of the eigenvalues of
a symmetric PSD matrix with the same spectrum as Σ1 Σ2 (Lᵀ Σ2 L with Σ1 = L Lᵀ), in float64, on the
GPU when one is given.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from gpen.metrics.base import Metric, quantize_8bit
from gpen.models.loading import load_strict, read_checkpoint, unwrap_state_dict
from gpen.utils.pretrained import resolve_weights

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"
INCEPTION_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                 "pt_inception-2015-12-05-6726825d.pth")
FEATURE_DIM = 2048


class MissingStatsError(FileNotFoundError):
    """The FID reference statistics file is absent: build it with gpen-fid-stats."""


class MissingFeaturesError(MissingStatsError):
    """The reference features file (KID, precision / recall) is absent: build it with gpen-fid-stats --features."""


def build_fid_inception() -> nn.Module:
    """The pytorch-fid Inception-v3 graph, randomly initialised; its `fc` outputs the 1008 TF classes."""
    # pyiqa's package import pulls in its whole model zoo and hub client: only when FID is built
    from pyiqa.archs.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                          init_weights=False)
    net.Mixed_5b, net.Mixed_5c = FIDInceptionA(192, pool_features=32), FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    for name, channels_7x7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        setattr(net, name, FIDInceptionC(768, channels_7x7=channels_7x7))
    net.Mixed_7b, net.Mixed_7c = FIDInceptionE_1(1280), FIDInceptionE_2(2048)
    return net.eval()


def as_feature_extractor(net: nn.Module) -> nn.Module:
    """Drop the classifier so the forward pass returns the (B, 2048) pool features."""
    net.fc = nn.Identity()
    return net.eval()


def load_fid_inception(path: str | Path = INCEPTION_FILE, config_key: str = "metrics.fid.inception_path",
                       disable_hint: str = "metrics.fid=null (leave FID out)") -> nn.Module:
    """The FID Inception with pytorch-fid's weights, as a (B, 3, 299, 299) -> (B, 2048) extractor."""
    file = resolve_weights(path, what="FID Inception-v3 (pytorch-fid weights)", config_key=config_key,
                           url=INCEPTION_URL, disable_hint=disable_hint)
    net = load_strict(build_fid_inception(), unwrap_state_dict(read_checkpoint(file), file), file)
    return as_feature_extractor(net)


@torch.no_grad()
def inception_features(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> (B, 2048) float64 pool features."""
    x = quantize_8bit(images).float() / 255.0
    x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return net(2.0 * x - 1.0).reshape(images.shape[0], -1).double()


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, float64."""
    if features.shape[0] < 2:
        raise ValueError(f"FID needs at least 2 images, got {features.shape[0]}")
    features = features.double()
    return features.mean(dim=0), torch.cov(features.T)


def _symmetric_eigvals_sqrt_sum(matrix: torch.Tensor) -> torch.Tensor:
    matrix = (matrix + matrix.T) / 2  # symmetric up to round-off; eigvalsh wants it exactly
    return torch.linalg.eigvalsh(matrix).clamp_min(0).sqrt().sum()


def trace_sqrt_product(sigma1: torch.Tensor, sigma2: torch.Tensor) -> torch.Tensor:
    """tr((Σ1 Σ2)^½) for symmetric PSD Σ1, Σ2, through a symmetric matrix with the spectrum of Σ1 Σ2.

    With a Cholesky factor A = L Lᵀ of either (full-rank) covariance, Lᵀ B L has the eigenvalues of
    A B, so one Cholesky and one eigenvalues-only `eigvalsh` suffice. FID reference statistics of a
    large HQ set are full rank; when both are singular (fewer images than 2048 features) the route
    via Σ1^½ (an `eigh` with vectors) is taken instead.
    """
    for a, b in ((sigma2, sigma1), (sigma1, sigma2)):
        chol, info = torch.linalg.cholesky_ex(a)
        if int(info) == 0:
            return _symmetric_eigvals_sqrt_sum(chol.T @ b @ chol)
    eigvals, eigvecs = torch.linalg.eigh(sigma1)
    root1 = (eigvecs * eigvals.clamp_min(0).sqrt()) @ eigvecs.T  # Σ1^½
    return _symmetric_eigvals_sqrt_sum(root1 @ sigma2 @ root1)


ArrayLike = np.ndarray | torch.Tensor


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike,
                     device: torch.device | str = "cpu") -> float:
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½) between two Gaussians, in float64 on `device`."""
    mu1, sigma1, mu2, sigma2 = (torch.as_tensor(t).to(device=device, dtype=torch.float64)
                                for t in (mu1, sigma1, mu2, sigma2))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"FID statistics differ in shape: {tuple(mu1.shape)} vs {tuple(mu2.shape)}")
    diff = mu1 - mu2
    value = diff @ diff + torch.trace(sigma1) + torch.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2)
    return float(value.clamp_min(0))


def save_stats(path: str | Path, mu: torch.Tensor, sigma: torch.Tensor, *, num_images: int,
               source: str, inception_weights: str) -> Path:
    """Write FID reference statistics: .npz with mu, sigma and metadata (never overwrites silently)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mu=mu.cpu().numpy(), sigma=sigma.cpu().numpy(), num_images=np.int64(num_images),
             source=np.str_(source), inception_weights=np.str_(inception_weights),
             created=np.str_(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")))
    return path


def load_stats(path: str | Path) -> dict:
    """Read a statistics file written by `save_stats` (or any .npz with `mu` and `sigma`)."""
    path = Path(path)
    if not path.is_file():
        raise MissingStatsError(
            f"FID reference statistics not found: {path}\n  fix: build them once from an HQ folder with "
            f"`gpen-fid-stats --input FFHQ_FOLDER --output {path}`, or point metrics.fid.reference_stats "
            "at an existing file")
    with np.load(path) as data:
        if "mu" not in data or "sigma" not in data:
            raise ValueError(f"{path} is not an FID statistics file (needs arrays `mu` and `sigma`)")
        stats = {key: data[key] for key in data.files}
    stats["mu"], stats["sigma"] = stats["mu"].astype(np.float64), stats["sigma"].astype(np.float64)
    return stats


def save_features(path: str | Path, features: torch.Tensor, *, source: str, inception_weights: str) -> Path:
    """Write reference Inception features: .npz with `features` (N, 2048) float32 and metadata.

    8 KiB per image (2048 float32): 573 MB for the 70k images of FFHQ.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, features=features.float().cpu().numpy(), num_images=np.int64(features.shape[0]),
             source=np.str_(source), inception_weights=np.str_(inception_weights),
             created=np.str_(datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")))
    return path


def features_hint(path: str | Path, config_key: str) -> str:
    return (f"  fix: build them once from the HQ folder with `gpen-fid-stats --input FFHQ_FOLDER --output STATS.npz "
            f"--features {path}` and set {config_key}={path}")


def load_features(path: str | Path | None, config_key: str = "metrics.reference_features") -> torch.Tensor:
    """(N, D) float32 reference features from a file written by `save_features`; one clear error otherwise."""
    if path is None:
        raise MissingFeaturesError(
            f"needs the reference set's Inception features, not only its statistics: set {config_key}\n"
            + features_hint("FEATURES.npz", config_key))
    path = Path(path)
    if not path.is_file():
        raise MissingFeaturesError(f"reference features not found: {path}\n" + features_hint(path, config_key))
    with np.load(path) as data:
        if "features" not in data:
            hint = " (it holds FID statistics: mu and sigma)" if "mu" in data else ""
            raise ValueError(f"{path} is not a reference features file{hint}; {config_key} needs the file "
                             "written by `gpen-fid-stats ... --features FILE` (array `features`)")
        features = data["features"]
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"{path}: `features` has shape {features.shape}, expected (N >= 2, D)")
    return torch.from_numpy(features).float()


class FID(Metric):
    """FID of all images seen against reference statistics from a file (no per-image reference)."""

    name = "FID"
    needs_reference = False

    def __init__(self, reference_stats: str | Path | None, inception_path: str | Path = INCEPTION_FILE,
                 network: nn.Module | None = None) -> None:
        self.reference_stats = reference_stats
        self.inception_path = inception_path
        self.network = network
        self.features: list[torch.Tensor] = []
        self.stats: dict | None = None
        self.device = torch.device("cpu")

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        if self.reference_stats is None:
            raise MissingStatsError("FID needs reference statistics: set metrics.fid.reference_stats "
                                    "(build them with `gpen-fid-stats --input FFHQ_FOLDER --output FILE`)")
        self.stats = load_stats(self.reference_stats)  # before the network: fail fast on a missing file
        if self.network is None:
            self.network = load_fid_inception(self.inception_path)
        self.network = self.network.to(self.device).eval()

    def update(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        self.features.append(inception_features(self.network, restored).cpu())

    def all_features(self) -> torch.Tensor:
        return torch.cat(self.features) if self.features else torch.zeros(0, FEATURE_DIM, dtype=torch.float64)

    def compute(self) -> float:
        mu, sigma = feature_statistics(self.all_features())
        return frechet_distance(mu, sigma, self.stats["mu"], self.stats["sigma"], device=self.device)

    def reset(self) -> None:
        self.features = []

    def count(self) -> int:
        return int(self.all_features().shape[0])
