"""FID: Fréchet distance closed forms, the eigen-based matrix square root, statistics files, Inception."""

import numpy as np
import pytest
import scipy.linalg
import torch

from gpen.metrics.fid import (
    FID,
    MissingStatsError,
    build_fid_inception,
    feature_statistics,
    frechet_distance,
    inception_features,
    load_fid_inception,
    load_stats,
    save_stats,
    trace_sqrt_product,
)
from gpen.utils.pretrained import MissingWeightsError


def _random_spd(dim, seed):
    g = np.random.default_rng(seed)
    a = g.standard_normal((dim, dim + 5))
    return a @ a.T / dim


def test_frechet_distance_of_a_feature_set_with_itself_is_zero():
    feats = torch.randn(300, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mu, sigma = feature_statistics(feats)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_equals_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, -1.0, 2.5])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-12)


def test_trace_sqrt_matches_scipy_sqrtm_for_non_commuting_covariances():
    s1, s2 = _random_spd(48, 1), _random_spd(48, 2)
    expected = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    ours = trace_sqrt_product(torch.from_numpy(s1), torch.from_numpy(s2)).item()
    assert ours == pytest.approx(expected, rel=1e-9)


def test_stats_file_round_trip_and_missing_file_message(tmp_path):
    mu, sigma = torch.randn(8, dtype=torch.float64), torch.eye(8, dtype=torch.float64)
    path = save_stats(tmp_path / "ffhq.npz", mu, sigma, num_images=12, source="/data/ffhq",
                      inception_weights="pt_inception.pth")
    stats = load_stats(path)
    np.testing.assert_array_equal(stats["mu"], mu.numpy())
    np.testing.assert_array_equal(stats["sigma"], sigma.numpy())
    assert int(stats["num_images"]) == 12 and str(stats["source"]) == "/data/ffhq"
    with pytest.raises(MissingStatsError, match="gpen-fid-stats --input"):
        load_stats(tmp_path / "absent.npz")


@pytest.mark.slow
def test_fid_inception_graph_gives_pool_features_and_loads_its_own_state_dict(tmp_path, monkeypatch):
    net = build_fid_inception()
    assert net.fc.out_features == 1008  # the TF graph's classes, as in the pytorch-fid file
    file = tmp_path / "inception.pth"
    torch.save(net.state_dict(), file)
    loaded = load_fid_inception(str(file))
    for name, tensor in net.state_dict().items():
        if not name.startswith("fc."):
            assert torch.equal(loaded.state_dict()[name], tensor), name
    feats = inception_features(loaded, torch.rand(1, 3, 32, 32))  # resized to 299 inside
    assert feats.shape == (1, 2048) and feats.dtype == torch.float64
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "empty"))
    with pytest.raises(MissingWeightsError, match="metrics.fid.inception_path"):
        load_fid_inception()


def test_fid_metric_against_its_own_statistics_is_zero(tmp_path):
    # A tiny stand-in feature network keeps this fast; the Inception graph is tested above.
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten())  # (B, 48)
    images = torch.rand(12, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    mu, sigma = feature_statistics(inception_features(net, images))
    stats = save_stats(tmp_path / "s.npz", mu, sigma, num_images=12, source="x", inception_weights="random")
    metric = FID(reference_stats=stats, network=net)
    metric.setup("cpu")
    metric.update(images[:5]), metric.update(images[5:])
    assert metric.count() == 12
    assert metric.compute() == pytest.approx(0.0, abs=1e-6)
    metric.reset()
    metric.update(torch.rand(12, 3, 48, 48))
    assert metric.compute() > 0.0
    with pytest.raises(MissingStatsError):
        FID(reference_stats=None, network=net).setup("cpu")


def test_fid_stats_command_features_and_refusals(tmp_path, monkeypatch):
    from gpen.cli.fid_stats import folder_features, main
    from gpen.utils.image_io import write_image

    hq = tmp_path / "ffhq"
    for i in range(4):
        write_image(hq / f"{i:05d}.png", np.random.default_rng(i).random((24, 24, 3)))
    (hq / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())  # tiny stand-in
    feats, dataset = folder_features(hq, net, batch_size=3, device=torch.device("cpu"))
    assert feats.shape == (4, 12) and dataset.skipped.unreadable == [str(hq / "bad.jpg")]

    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "no_weights"))
    assert main(["--input", str(hq), "--output", str(tmp_path / "stats.npz")]) == 1  # no Inception weights
    assert not (tmp_path / "stats.npz").exists()
    assert main(["--input", str(hq), "--output", str(hq / "stats.npz")]) == 2  # never inside the input
    (tmp_path / "old.npz").write_bytes(b"keep")
    assert main(["--input", str(hq), "--output", str(tmp_path / "old.npz")]) == 2  # no silent overwrite
    assert (tmp_path / "old.npz").read_bytes() == b"keep"


def test_trace_sqrt_with_rank_deficient_covariances_uses_the_fallback_correctly():
    g = np.random.default_rng(3)
    a, b = g.standard_normal((32, 10)), g.standard_normal((32, 12))
    s1, s2 = a @ a.T, b @ b.T  # both rank-deficient (fewer samples than dimensions)
    expected = np.sum(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)))
    assert trace_sqrt_product(torch.from_numpy(s1), torch.from_numpy(s2)).item() == pytest.approx(expected, rel=1e-6)
    full = _random_spd(32, 4)
    expected = np.trace(scipy.linalg.sqrtm(s1 @ full)).real
    assert trace_sqrt_product(torch.from_numpy(s1), torch.from_numpy(full)).item() == pytest.approx(expected, rel=1e-8)
