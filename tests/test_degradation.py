"""The GFP-GAN degradation model: fast blur == dense blur, statistics follow the sampled parameters,
scale 0 is identity, ranges are respected and invalid config values are refused."""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gpen.data.blur import L1_TOLERANCE, blur, blur_and_resize, fft_filter, gaussian_kernel, separable_terms
from gpen.data.degradation import GFPGANDegradation, add_gaussian_noise, color_jitter, jpeg
from gpen.utils.validation import ConfigValueError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def textured(size=96, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.random((8, 8, 3), dtype=np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(base * 0.7 + 0.3 * rng.random((size, size, 3), dtype=np.float32), 0, 1).astype(np.float32)


def only(**changes):
    """Params that do nothing but what `changes` asks (blur near-delta, no resize, no JPEG loss)."""
    params = {"identity": False, "degradation_scale": 1.0, "kernel": "iso", "sigma_x": 0.1, "sigma_y": 0.1,
              "theta": 0.0, "downsample": 1.0, "noise_sigma": 0.0, "noise_seed": 0, "jpeg_quality": 100,
              "color_shift": None, "gray": False, "color_jitter": None}
    params.update(changes)
    return params


@pytest.mark.parametrize("sx,sy,theta", [(0.1, 0.1, 0.0), (2.0, 2.0, 0.0), (9.0, 9.0, 0.0), (4.0, 1.0, 0.6),
                                         (8.0, 0.5, -2.0), (3.0, 7.0, 1.1), (10.0, 6.0, 0.3)])
def test_fast_blur_matches_dense_filter(sx, sy, theta):
    image = textured()
    kernel = gaussian_kernel(41, sx, sy, theta)
    dense = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    assert np.abs(blur(image, kernel) - dense).max() <= L1_TOLERANCE


@pytest.mark.parametrize("sx,sy,theta,size", [(3.0, 3.0, 0.0, (24, 24)), (5.0, 2.0, 0.0, (40, 30)),
                                              (2.0, 6.0, 0.9, (12, 12)), (8.0, 0.5, 0.7, (30, 30)),
                                              (1.0, 1.0, 0.0, (110, 110))])
def test_blur_then_resize_shortcuts_match_the_plain_order(sx, sy, theta, size):
    image = textured()
    kernel = gaussian_kernel(41, sx, sy, theta)
    dense = cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)
    expected = cv2.resize(dense, size, interpolation=cv2.INTER_LINEAR)
    assert np.abs(blur_and_resize(image, kernel, size) - expected).max() <= L1_TOLERANCE
    assert np.abs(fft_filter(image, kernel) - dense).max() < 1e-5


def test_kernel_shape_and_moments():
    kernel = gaussian_kernel(41, 3.0, 1.5, math.pi / 2)
    assert kernel.shape == (41, 41) and abs(kernel.sum() - 1) < 1e-5
    axis = np.arange(-20, 21)
    var_x = (kernel.sum(axis=0) * axis ** 2).sum()
    var_y = (kernel.sum(axis=1) * axis ** 2).sum()
    # rotated by 90 degrees: the wide axis (3.0) is now vertical
    assert var_y == pytest.approx(9.0, rel=0.02) and var_x == pytest.approx(2.25, rel=0.02)
    assert len(separable_terms(gaussian_kernel(41, 4.0, 4.0, 0.0))) == 1  # isotropic: one separable term


def test_blur_width_grows_with_sigma():
    degradation = GFPGANDegradation()
    line = np.zeros((81, 81, 3), np.float32)
    line[:, 40] = 1.0  # a vertical line: its blurred profile is a 1-D Gaussian of the same sigma
    widths = []
    for sigma in (1.0, 2.0, 4.0):
        profile = degradation.apply(line, only(sigma_x=sigma, sigma_y=sigma))[40, :, 0]
        axis = np.arange(81) - 40
        widths.append(math.sqrt((profile * axis ** 2).sum() / profile.sum()))
    assert widths[0] < widths[1] < widths[2]
    assert widths == pytest.approx([1.0, 2.0, 4.0], rel=0.1)  # 8-bit rounding trims the tails a little


def test_noise_std_follows_sigma():
    flat = np.full((128, 128, 3), 0.5, np.float32)
    for sigma in (5.0, 15.0):
        noisy = add_gaussian_noise(flat, sigma, seed=1)
        assert (noisy - 0.5).std() == pytest.approx(sigma / 255, rel=0.03)
        # Through the whole model the JPEG step (even at quality 100) subsamples chroma and so
        # averages colour noise away; the luma noise survives: std = sigma * |(0.299, 0.587, 0.114)|.
        through = GFPGANDegradation().apply(flat, only(noise_sigma=sigma, noise_seed=1))
        luma = (through - 0.5) @ np.array([0.299, 0.587, 0.114], np.float32)
        assert luma.std() == pytest.approx(sigma / 255 * 0.6686, rel=0.1)


def test_color_jitter_matches_torchvision():
    from torchvision.transforms import functional as tvf

    image = textured(seed=6)
    jitter = {"order": ["hue", "contrast", "brightness", "saturation"], "brightness": 1.3, "contrast": 0.6,
              "saturation": 1.4, "hue": 0.07}
    tensor = torch.from_numpy(image.transpose(2, 0, 1).copy())
    ops = {"brightness": tvf.adjust_brightness, "contrast": tvf.adjust_contrast,
           "saturation": tvf.adjust_saturation, "hue": tvf.adjust_hue}
    for name in jitter["order"]:
        tensor = ops[name](tensor, jitter[name])
    ours = color_jitter(image, jitter)
    # gray weights rounded differently (cv2 vs torchvision): ~2e-5, far below one 8-bit level
    assert np.abs(ours - tensor.numpy().transpose(1, 2, 0)).max() < 1e-4


def test_jpeg_error_grows_as_quality_drops():
    image = textured(seed=2)
    errors = [np.abs(jpeg(image, q) - image).mean() for q in (95, 70, 30)]
    assert errors[0] < errors[1] < errors[2]


def test_downsample_removes_detail():
    image = textured(seed=3)
    degradation = GFPGANDegradation()
    detail = [np.abs(cv2.Laplacian(degradation.apply(image, only(downsample=r)), cv2.CV_32F)).mean()
              for r in (1.0, 2.0, 6.0)]
    assert detail[0] > detail[1] > detail[2]


def test_scale_zero_is_identity():
    image = textured(seed=4)
    degradation = GFPGANDegradation(degradation_scale=0.0)
    for seed in range(5):
        lq, params = degradation(image, np.random.default_rng(seed))
        assert np.array_equal(lq, image) and params["identity"]


def test_sampled_params_stay_in_scaled_ranges():
    for s in (0.5, 1.0, 1.5):
        degradation = GFPGANDegradation(degradation_scale=s)
        rng = np.random.default_rng(0)
        draws = [degradation.sample_params(rng) for _ in range(400)]
        sig = np.array([[d["sigma_x"], d["sigma_y"]] for d in draws])
        assert sig.min() >= 0.1 * s and sig.max() <= 10 * s
        r = np.array([d["downsample"] for d in draws])
        assert r.min() >= 1 + (0.8 - 1) * s - 1e-9 and r.max() <= 1 + 7 * s + 1e-9
        assert max(d["noise_sigma"] for d in draws) <= 20 * s
        q = np.array([d["jpeg_quality"] for d in draws])
        assert q.min() >= round(100 - 40 * s) and q.max() <= 100
        iso = [d for d in draws if d["kernel"] == "iso"]
        assert 0.4 < len(iso) / len(draws) < 0.6 and all(d["sigma_x"] == d["sigma_y"] for d in iso)
        jitter = sum(d["color_jitter"] is not None for d in draws) / len(draws)
        assert 0.22 < jitter < 0.38  # p = 0.3
        for d in draws:
            if d["color_shift"] is not None:
                assert max(abs(v) for v in d["color_shift"]) <= 20 * s


def test_same_rng_gives_same_lq_and_json_params():
    image = textured(seed=5)
    degradation = GFPGANDegradation(color_jitter_pt_prob=1.0, color_jitter_prob=1.0)
    lq1, p1 = degradation(image, np.random.default_rng([7, 0, 3]))
    lq2, p2 = degradation(image, np.random.default_rng([7, 0, 3]))
    lq3, _ = degradation(image, np.random.default_rng([7, 1, 3]))
    assert np.array_equal(lq1, lq2) and p1 == p2 and not np.array_equal(lq1, lq3)
    assert json.loads(json.dumps(p1)) == p1
    assert np.array_equal(degradation.apply(image, json.loads(json.dumps(p1))), lq1)
    assert lq1.dtype == np.float32 and lq1.shape == image.shape
    assert np.allclose(lq1 * 255, np.round(lq1 * 255), atol=1e-3)  # 8-bit LQ


@pytest.mark.parametrize("kwargs,key", [
    ({"blur_sigma": (-1.0, 10.0)}, "blur_sigma"),
    ({"jpeg_range": (0, 100)}, "jpeg_range"),
    ({"jpeg_range": (60, 101)}, "jpeg_range"),
    ({"degradation_scale": 1.6}, "degradation_scale"),
    ({"degradation_scale": -0.1}, "degradation_scale"),
    ({"blur_kernel_size": 40}, "blur_kernel_size"),
    ({"noise_range": (5, 1)}, "noise_range"),
    ({"gray_prob": 1.5}, "gray_prob"),
])
def test_invalid_config_values_are_refused(kwargs, key):
    with pytest.raises(ConfigValueError, match=key):
        GFPGANDegradation(**kwargs)


def test_hydra_config_matches_defaults():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=["degradation=gfpgan", "degradation.degradation_scale=0.5"])
    built = instantiate(cfg.degradation)
    reference = GFPGANDegradation(degradation_scale=0.5)
    assert isinstance(built, GFPGANDegradation)
    flat = lambda v: np.array(list(v.values()) if isinstance(v, dict) else v, dtype=float).ravel()
    for key, value in vars(reference).items():
        assert np.allclose(flat(vars(built)[key]), flat(value)), key
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        bad = compose("train", overrides=["degradation.jpeg_range=[60,120]"])
    with pytest.raises(Exception, match="jpeg_range"):
        instantiate(bad.degradation)


def test_small_config_scales_blur_only():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        small = instantiate(compose("train", overrides=["degradation=gfpgan_small"]).degradation)
    assert small.blur_kernel_size == 5 and small.blur_sigma == pytest.approx((0.0125, 1.25))
    assert small.downsample_range == pytest.approx((0.8, 8)) and small.jpeg_range == pytest.approx((60, 100))
    lq, params = small(textured(size=64), np.random.default_rng(0))
    assert lq.shape == (64, 64, 3) and params["sigma_x"] <= 1.25
