"""NIQE with the shipped pristine parameters against reference values on skimage's astronaut."""

import numpy as np
import pytest
import torch
from skimage import data

from gpen.metrics.niqe import NIQE, PRISTINE_PARAMS, load_pristine_params
from gpen.utils.validation import ConfigValueError


@pytest.fixture(scope="module")
def astronaut():
    return torch.from_numpy(data.astronaut()).permute(2, 0, 1)[None].float() / 255  # (1, 3, 512, 512)


def test_shipped_params_have_the_standard_shapes():
    mu, cov = load_pristine_params(PRISTINE_PARAMS)
    assert mu.shape == (36,) and cov.shape == (36, 36)
    assert torch.allclose(cov, cov.T)


def test_niqe_yiq_matches_pyiqa_reference(astronaut):
    metric = NIQE(color_space="yiq")
    metric.setup("cpu")
    metric.update(astronaut)
    # pyiqa `niqe` (its .mat copy of the same parameters): 3.0624; gpen gives 3.0615
    assert metric.compute() == pytest.approx(3.0624, abs=2e-3)


def test_niqe_ycbcr_close_to_basicsr_reference(astronaut):
    metric = NIQE(color_space="ycbcr")
    metric.setup("cpu")
    metric.update(astronaut)
    # BasicSR calculate_niqe (Y of YCbCr, crop 0): 3.0649 in its float32 NumPy code, 3.0916 in
    # float64, pyiqa's port 3.1236 (see gpen.metrics.niqe); gpen gives 3.0776.
    assert metric.compute() == pytest.approx(3.0649, abs=0.02)


def test_niqe_is_batched_per_image_and_separates_blur(astronaut):
    blurred = torch.nn.functional.avg_pool2d(astronaut, 5, stride=1, padding=2)
    metric = NIQE()
    metric.setup("cpu")
    metric.update(torch.cat([astronaut[..., :256, :256], blurred[..., :256, :256]]))
    sharp, blur = metric.values().tolist()
    assert blur > sharp + 1.0


def test_niqe_refuses_small_images_and_bad_options():
    with pytest.raises(ValueError, match="192x192"):
        NIQE().score(torch.rand(1, 3, 128, 128))
    with pytest.raises(ConfigValueError, match="color_space"):
        NIQE(color_space="lab")
    assert np.load(PRISTINE_PARAMS)["gaussian_window"].shape == (7, 7)


def test_aggd_binary_search_equals_the_grid_argmin_of_pyiqa():
    from pyiqa.archs.func_util import estimate_aggd_param

    from gpen.metrics.niqe import aggd_fit

    g = torch.Generator().manual_seed(0)
    blocks = torch.randn(6, 1, 48, 48, generator=g, dtype=torch.float64)
    blocks = blocks * torch.linspace(0.2, 3.0, 6, dtype=torch.float64).view(6, 1, 1, 1)
    blocks = torch.sign(blocks) * blocks.abs() ** torch.linspace(0.5, 2.0, 6, dtype=torch.float64).view(6, 1, 1, 1)
    ours = aggd_fit(blocks.flatten(-2).squeeze(1))
    reference = estimate_aggd_param(blocks)
    for a, b in zip(ours, reference):
        assert torch.allclose(a, b.reshape(-1).to(a), rtol=1e-6)  # pyiqa builds its γ grid in float32
