"""KID and improved precision / recall against reference Inception features (docs/evaluation.md).

Both compare the restored set with a reference HQ set (FFHQ) in the 2048-d pool features of the FID
Inception (`gpen.metrics.fid`: same network, weights file and preprocessing as our FID). Unlike FID
they need the reference *features*, not only mean and covariance: `gpen-fid-stats --features FILE`
writes them (8 KiB per image).

KID (Bińkowski et al., ICLR 2018, arXiv 1801.01401): the unbiased estimate of the squared MMD with the
cubic polynomial kernel k(x, y) = (x·y / d + 1)³, over `subsets` random subsets of `subset_size`
features drawn without replacement from each set; the value is the mean over subsets (the std goes in
the details). Lower is better; it can be slightly negative (unbiased).

Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019, arXiv 1904.06991): each set's
manifold is the union of balls around its features with radius = distance to the k-th nearest
neighbour (k = 3) within the set. Precision = fraction of restored features inside the reference
manifold (realism); recall = fraction of reference features inside the restored manifold (coverage).
Distances are computed in float32 (the features' precision in the file) in row blocks, so memory stays
at `block` × N; the KID sums in float64.
"""

from __future__ import annotations

import torch
from torch import nn

from gpen.metrics.base import Metric, NotApplicableError
from gpen.metrics.fid import (
    FEATURE_DIM,
    INCEPTION_FILE,
    inception_features,
    load_features,
    load_fid_inception,
)
from gpen.utils.validation import check_range

FEATURES_KEY = "metrics.reference_features"


def kid_subsets(real: torch.Tensor, fake: torch.Tensor, subsets: int, subset_size: int,
                seed: int = 0) -> torch.Tensor:
    """Per-subset unbiased MMD² (cubic polynomial kernel) of (N, D) vs (M, D) features, (subsets,) float64."""
    from torchmetrics.image.kid import poly_mmd  # torchmetrics' import costs seconds: only when KID runs

    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        r = real[torch.randperm(real.shape[0], generator=generator)[:subset_size]]
        f = fake[torch.randperm(fake.shape[0], generator=generator)[:subset_size]]
        values.append(poly_mmd(r.double(), f.double(), degree=3, gamma=None, coef=1.0))  # gamma None: 1 / d
    return torch.stack(values).cpu()


def pairwise_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(n, m) Euclidean distances through one matrix product (‖a‖² + ‖b‖² − 2 a·b, clamped at 0)."""
    squared = (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None] - 2.0 * a @ b.T
    return squared.clamp_min(0).sqrt()


def knn_radii(features: torch.Tensor, k: int = 3, block: int = 1024) -> torch.Tensor:
    """(N,) distance of each feature to its k-th nearest neighbour in the same set (itself excluded)."""
    if features.shape[0] <= k:
        raise NotApplicableError(f"precision / recall with k={k} need more than {k} images, got {features.shape[0]}")
    radii = [pairwise_distances(rows, features).topk(k + 1, dim=1, largest=False).values[:, k]  # [:, 0] is itself
             for rows in features.split(block)]
    return torch.cat(radii)


def manifold_coverage(queries: torch.Tensor, support: torch.Tensor, radii: torch.Tensor,
                      block: int = 1024) -> float:
    """Fraction of `queries` within the radius of at least one `support` feature."""
    inside = [(pairwise_distances(rows, support) <= radii[None]).any(dim=1) for rows in queries.split(block)]
    return float(torch.cat(inside).double().mean())


class ReferenceFeatureMetric(Metric):
    """A set-level metric on FID Inception features against reference features from a file."""

    needs_reference = False

    def __init__(self, reference_features: str | None, inception_path: str = INCEPTION_FILE,
                 network: nn.Module | None = None, config_key: str = FEATURES_KEY) -> None:
        self.reference_features, self.inception_path = reference_features, inception_path
        self.network, self.config_key = network, config_key
        self.reference: torch.Tensor | None = None
        self.features: list[torch.Tensor] = []
        self.device = torch.device("cpu")

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        # before the network: fail fast, naming the key and the builder, on missing features
        self.reference = load_features(self.reference_features, self.config_key).to(self.device)  # float32
        if self.network is None:
            key = f"metrics.{self.name.lower()}"
            self.network = load_fid_inception(self.inception_path, config_key=f"{key}.inception_path",
                                              disable_hint=f"{key}=null (leave {self.name} out)")
        self.network = self.network.to(self.device).eval()

    def update(self, restored: torch.Tensor, reference: torch.Tensor | None = None) -> None:
        self.features.append(inception_features(self.network, restored))

    def all_features(self) -> torch.Tensor:
        """(N, D) float64 features of every image seen, on the metric's device."""
        if not self.features:
            return torch.zeros(0, FEATURE_DIM, dtype=torch.float64, device=self.device)
        return torch.cat(self.features).double()

    def reset(self) -> None:
        self.features = []

    def count(self) -> int:
        return int(sum(f.shape[0] for f in self.features))


class KID(ReferenceFeatureMetric):
    """Kernel inception distance: mean over subsets of the unbiased polynomial-kernel MMD²."""

    name = "KID"

    def __init__(self, reference_features: str | None, subsets: int = 100, subset_size: int = 1000,
                 seed: int = 0, **kwargs) -> None:
        super().__init__(reference_features, **kwargs)
        self.subsets = int(check_range("metrics.kid.subsets", subsets, 1, None))
        self.subset_size = int(check_range("metrics.kid.subset_size", subset_size, 2, None))
        self.seed = seed
        self.last: dict = {}

    def compute(self) -> float:
        fake = self.all_features()
        size = min(self.subset_size, fake.shape[0], self.reference.shape[0])
        if size < 2:
            raise NotApplicableError(f"KID needs at least 2 images, got {fake.shape[0]}")
        values = kid_subsets(self.reference, fake, self.subsets, size, self.seed)
        self.last = {"kid_std": float(values.std()) if self.subsets > 1 else 0.0, "subsets": self.subsets,
                     "subset_size": size, "subset_size_requested": self.subset_size,
                     "reference_images": int(self.reference.shape[0])}
        return float(values.mean())

    def details(self) -> dict:
        return dict(self.last)


class _ManifoldMetric(ReferenceFeatureMetric):
    lower_is_better = False

    def __init__(self, reference_features: str | None, k: int = 3, block: int = 1024, **kwargs) -> None:
        super().__init__(reference_features, **kwargs)
        self.k = int(check_range(f"metrics.{self.name.lower()}.k", k, 1, None))
        self.block = int(check_range(f"metrics.{self.name.lower()}.block", block, 1, None))
        self.reference_radii: torch.Tensor | None = None  # kept across rows: the costly N_ref² part

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        # Distances do not change with a common shift; centring on the reference mean keeps the float32
        # ‖a‖² + ‖b‖² − 2 a·b from cancelling when the features' norms dwarf their distances.
        self.center = self.reference.mean(dim=0)
        self.reference = self.reference - self.center

    def restored_features(self) -> torch.Tensor:
        return self.all_features().float() - self.center

    def radii_of_reference(self) -> torch.Tensor:
        if self.reference_radii is None:
            self.reference_radii = knn_radii(self.reference, self.k, self.block)
        return self.reference_radii

    def details(self) -> dict:
        return {"k": self.k, "reference_images": int(self.reference.shape[0])}


class Precision(_ManifoldMetric):
    """Improved precision: share of restored features inside the reference manifold (k-NN balls)."""

    name = "Precision"

    def compute(self) -> float:
        return manifold_coverage(self.restored_features(), self.reference, self.radii_of_reference(), self.block)


class Recall(_ManifoldMetric):
    """Improved recall: share of reference features inside the restored set's manifold (k-NN balls)."""

    name = "Recall"

    def compute(self) -> float:
        fake = self.restored_features()
        return manifold_coverage(self.reference, fake, knn_radii(fake, self.k, self.block), self.block)
