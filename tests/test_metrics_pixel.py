"""PSNR / SSIM against closed-form cases and scikit-image (RGB, 8-bit, no crop)."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from gpen.metrics.pixel import PSNR, SSIM, match_mean_std, psnr, ssim


def _pair(seed=0, size=48, noise=0.08):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(3, 3, size, size, generator=g)
    out = (gt + noise * torch.randn(gt.shape, generator=g)).clamp(0, 1)
    return out, gt


def _uint8(x):
    return (x * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_psnr_closed_form_constant_offset():
    gt = torch.full((1, 3, 16, 16), 100.0)
    for offset in (1.0, 5.0, 20.0):
        expected = 20 * math.log10(255.0 / offset)
        assert psnr(gt + offset, gt).item() == pytest.approx(expected, abs=1e-9)
    assert math.isinf(psnr(gt, gt).item())


def test_psnr_and_ssim_match_scikit_image():
    out, gt = _pair()
    p, s = PSNR(), SSIM()
    p.update(out, gt), s.update(out, gt)
    a, b = _uint8(out), _uint8(gt)
    ref_psnr = np.mean([peak_signal_noise_ratio(y, x, data_range=255) for x, y in zip(a, b)])
    ref_ssim = np.mean([structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                              data_range=255, channel_axis=2) for x, y in zip(a, b)])
    assert p.compute() == pytest.approx(ref_psnr, abs=1e-9)
    assert s.compute() == pytest.approx(ref_ssim, abs=1e-9)
    assert p.count() == s.count() == 3


def test_ssim_closed_form_cases():
    x = torch.rand(2, 3, 32, 32) * 255
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    # Two constant images: SSIM reduces to the luminance term (2ab + C1) / (a² + b² + C1).
    a, b, c1 = 100.0, 150.0, (0.01 * 255) ** 2
    value = ssim(torch.full((1, 3, 16, 16), a), torch.full((1, 3, 16, 16), b)).item()
    assert value == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), abs=1e-12)


def test_match_mean_std_is_opt_in_and_undoes_per_channel_affine_changes():
    _, gt = _pair(size=32, noise=0.0)
    gt = 0.25 + 0.5 * gt  # room for the affine change without clipping
    scaled = (gt - 0.5) * 0.8 + 0.52  # same image, other per-channel mean and contrast
    plain, matched = PSNR(), PSNR(match_mean_std=True)
    plain.update(scaled, gt), matched.update(scaled, gt)
    assert plain.compute() < 40 < matched.compute()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64) * 200
    y = 80 + torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64) * 60  # narrow: no clipping after matching
    m = match_mean_std(x, y)
    assert torch.allclose(m.mean((-2, -1)), y.mean((-2, -1)), atol=1e-9)
    assert torch.allclose(m.std((-2, -1)), y.std((-2, -1)), atol=1e-9)


def test_full_reference_metric_refuses_missing_or_mismatched_reference():
    out, gt = _pair()
    with pytest.raises(ValueError, match="ground-truth"):
        PSNR().update(out, None)
    with pytest.raises(ValueError, match="differ in shape"):
        SSIM().update(out, gt[..., :40, :40])
