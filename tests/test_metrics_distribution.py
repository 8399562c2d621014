"""KID and improved precision / recall on feature sets; the reference features file and its builder."""

import numpy as np
import pytest
import torch

from gpen.metrics.distribution import KID, Precision, Recall, kid_subsets, knn_radii, manifold_coverage
from gpen.metrics.fid import (
    MissingFeaturesError,
    inception_features,
    load_features,
    save_features,
    save_stats,
)


def _gaussian(n, dim=16, shift=0.0, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    real = _gaussian(400)
    kid = {shift: float(kid_subsets(real, _gaussian(400, shift=shift, seed=1), 10, 100).mean())
           for shift in (0.0, 0.25, 0.5, 1.5)}
    # Identical sets share samples, which the unbiased estimator (made for independent draws) scores
    # slightly below 0 (an O(1/m) term from k(x, x)); still far below any real shift.
    same = float(kid_subsets(real, real, subsets=10, subset_size=100).mean())
    assert abs(same) < 0.2 * kid[0.25] and abs(kid[0.0]) < 0.05 * kid[0.25]
    assert 0.1 < kid[0.25] < kid[0.5] < kid[1.5]


def test_kid_matches_the_polynomial_mmd_written_out():
    x, y = _gaussian(6, 4), _gaussian(6, 4, shift=1.0, seed=2)
    k = lambda a, b: (a @ b.T / 4 + 1) ** 3
    off = 1 - torch.eye(6, dtype=torch.float64)
    expected = (k(x, x) * off).sum() / 30 + (k(y, y) * off).sum() / 30 - 2 * k(x, y).mean()
    assert kid_subsets(x, y, subsets=1, subset_size=6).item() == pytest.approx(expected.item(), rel=1e-12)


def test_precision_recall_are_one_for_identical_sets_and_recall_drops_for_a_collapsed_set():
    real = _gaussian(300)
    radii = knn_radii(real, k=3, block=64)
    assert manifold_coverage(real, real, radii, block=64) == 1.0
    collapsed = real[:1] + 0.01 * _gaussian(300, seed=5)  # every sample near one real point: one mode
    precision = manifold_coverage(collapsed, real, radii)
    recall = manifold_coverage(real, collapsed, knn_radii(collapsed, k=3))
    assert precision > 0.9 and recall < 0.05
    far = _gaussian(300, shift=10.0, seed=6)  # off the real manifold: neither precision nor recall
    assert manifold_coverage(far, real, radii) == 0.0


def test_knn_radius_is_the_third_neighbour_and_blocks_do_not_change_it():
    points = torch.tensor([[0.0], [1.0], [3.0], [6.0], [10.0]], dtype=torch.float64)
    assert knn_radii(points, k=3, block=2).tolist() == [6.0, 5.0, 3.0, 5.0, 9.0]
    feats = _gaussian(50)
    assert torch.allclose(knn_radii(feats, block=7), knn_radii(feats, block=1000))


def _tiny_net():
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten())  # (B, 48) stand-in Inception


def test_metrics_against_features_of_the_same_images(tmp_path):
    net = _tiny_net()
    images = torch.rand(12, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    file = save_features(tmp_path / "ref.npz", inception_features(net, images), source="x", inception_weights="random")
    kid, precision, recall = (cls(str(file), network=net) for cls in (KID, Precision, Recall))
    for metric in (kid, precision, recall):
        metric.setup("cpu")
        metric.update(images[:5]), metric.update(images[5:])
        assert metric.count() == 12
    assert precision.compute() == 1.0 and recall.compute() == 1.0
    same = kid.compute()  # 12 < 1000: subsets of all 12 images, recorded
    assert kid.details()["subset_size"] == 12 and kid.details()["subset_size_requested"] == 1000
    kid.reset()
    kid.update(torch.rand(12, 3, 32, 32) * 0.3)
    assert abs(same) < 0.05 * kid.compute()


def test_missing_or_wrong_features_files_name_the_key_and_the_builder(tmp_path):
    with pytest.raises(MissingFeaturesError, match=r"metrics.reference_features(.|\n)*gpen-fid-stats .*--features"):
        KID(None, network=_tiny_net()).setup("cpu")
    with pytest.raises(MissingFeaturesError, match="not found"):
        load_features(tmp_path / "absent.npz")
    stats = save_stats(tmp_path / "stats.npz", torch.zeros(3), torch.eye(3), num_images=2, source="x",
                       inception_weights="y")
    with pytest.raises(ValueError, match="holds FID statistics"):
        load_features(stats)


def test_fid_stats_command_writes_the_features_file(tmp_path, monkeypatch):
    import gpen.cli.fid_stats as cli
    from gpen.utils.image_io import write_image

    hq = tmp_path / "ffhq"
    for i in range(5):
        write_image(hq / f"{i:05d}.png", np.random.default_rng(i).random((24, 24, 3)))
    monkeypatch.setattr(cli, "load_fid_inception", lambda *a, **k: _tiny_net())
    out = tmp_path / "out"
    assert cli.main(["--input", str(hq), "--output", str(out / "s.npz"), "--features", str(out / "f"),
                     "--num-workers", "0", "--device", "cpu"]) == 0
    features = load_features(out / "f.npz")
    assert features.shape == (5, 48)
    with np.load(out / "s.npz") as stats:
        np.testing.assert_allclose(stats["mu"], features.double().mean(0).numpy(), rtol=1e-6)  # float32 on disk
    assert cli.main(["--input", str(hq), "--output", str(tmp_path / "s2.npz"), "--features", str(out / "f.npz"),
                     "--num-workers", "0"]) == 2  # the features file exists: never replaced silently
    assert not (tmp_path / "s2.npz").exists()


class _Offset(torch.nn.Module):
    """Features whose common offset dwarfs their spread (as real Inception features' norms do)."""

    def forward(self, x):
        return 1e3 + 1e-2 * torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)


def test_precision_recall_survive_a_large_common_offset_in_float32(tmp_path):
    net = _Offset()
    images = torch.rand(10, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    file = save_features(tmp_path / "ref.npz", inception_features(net, images), source="x", inception_weights="y")
    for cls in (Precision, Recall):
        metric = cls(str(file), network=net)
        metric.setup("cpu")
        metric.update(images)
        assert metric.compute() == 1.0, cls.__name__
        metric.reset()
        metric.update(torch.ones(10, 3, 32, 32))  # away from the reference, by far less than the offset
        assert metric.compute() == 0.0, cls.__name__
