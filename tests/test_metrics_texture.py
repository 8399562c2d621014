"""Texture measures on constructed images: identical = 0, blurred < 0, noise > 0; LFD; grain fidelity."""

import pytest
import torch

from gpen.data.synthetic import render_face
from gpen.metrics.api import evaluate_rows
from gpen.metrics.texture import LFD, GrainFidelity, HFRatio
from gpen.restore.filters import gaussian_blur


@pytest.fixture(scope="module")
def faces():
    torch.manual_seed(0)
    return torch.stack([torch.from_numpy(render_face(i, 64)[0]).permute(2, 0, 1) for i in range(2)]).float()


@pytest.mark.parametrize("region", [None, "skin"])
def test_hf_ratio_signs(faces, region):
    metric = HFRatio(region=region)
    assert torch.equal(metric.score(faces, faces), torch.zeros(2, dtype=torch.float64))
    assert (metric.score(gaussian_blur(faces, 1.0), faces) < -0.5).all()  # over-smoothed: "plastic"
    noisy = (faces + 0.05 * torch.randn_like(faces)).clamp(0, 1)
    assert (metric.score(noisy, faces) > 0).all()
    assert metric.name == ("HF ratio" if region is None else "HF ratio (skin)")


@pytest.mark.parametrize("region", [None, "skin"])
def test_lfd_zero_for_identical_and_grows_with_the_difference(faces, region):
    metric = LFD(region=region)
    assert torch.equal(metric.score(faces, faces), torch.zeros(2, dtype=torch.float64))
    mild, strong = (metric.score(gaussian_blur(faces, s), faces) for s in (0.5, 2.0))
    assert (0 < mild).all() and (mild < strong).all()


def test_lfd_is_log_of_one_plus_the_summed_squared_error(faces):
    other = gaussian_blur(faces, 1.0)
    a, b = (torch.round(x.clamp(0, 1) * 255).double() for x in (other, faces))
    expected = torch.log1p((a - b).pow(2).sum(dim=(2, 3)).mean(1))  # Parseval
    assert torch.allclose(LFD().score(other, faces), expected, rtol=1e-6)


@pytest.mark.parametrize("region", [None, "skin"])
def test_grain_fidelity(faces, region):
    metric = GrainFidelity(region=region)
    grainy = (faces + 0.06 * torch.randn_like(faces)).clamp(0, 1)
    assert torch.equal(metric.score(grainy, grainy), torch.zeros(2, dtype=torch.float64))
    smoothed = metric.score(gaussian_blur(grainy, 1.5), grainy)
    same_grain = metric.score((faces + 0.06 * torch.randn_like(faces)).clamp(0, 1), grainy)  # other noise draw
    assert (smoothed > 0.5).all() and (same_grain < 0.1).all()
    assert metric.details()["mean_abs_slope_difference"] is not None


def test_texture_measures_run_through_the_metric_api_with_the_input_as_grain_reference(tmp_path, faces):
    from gpen.data.testsets import ImagePairs
    from gpen.utils.image_io import write_image

    for name, images in (("gt", faces), ("lq", gaussian_blur(faces, 1.0)), ("out", faces)):
        for i, image in enumerate(images):
            write_image(tmp_path / name / f"{i}.png", image.permute(1, 2, 0).numpy())
    rows = {"ours": ImagePairs(tmp_path / "out", tmp_path / "gt")}
    inputs = {"ours": ImagePairs(tmp_path / "out", tmp_path / "lq")}
    table = evaluate_rows(rows, [HFRatio(), GrainFidelity()], progress=False, input_rows=inputs)
    assert table.get("ours", "HF ratio") == 0.0  # against GT (identical)
    assert table.get("ours", "Grain") > 0.1  # against the blurred input: not the same grain
    details = table.metadata["metric_details"]["ours"]
    assert details["Grain"]["reference"] == "input" and details["HF ratio"]["band_cycles_per_pixel"] == [0.25, 0.5]


def test_grain_binned_std_matches_per_bin_std():
    """The scattered per-bin std equals torch.std over each bin's pixels; sparse bins are nan."""
    generator = torch.Generator().manual_seed(3)
    residual = torch.randn(2, 1, 24, 24, generator=generator, dtype=torch.float64) * 5
    bins = torch.randint(0, 4, (2, 1, 24, 24), generator=generator)
    bins[1][bins[1] == 3] = 2  # image 1 has no pixel in bin 3
    inside = torch.rand(2, 1, 24, 24, generator=generator) > 0.3
    grain = GrainFidelity(bins=4, min_pixels=16)
    got = grain.binned_std(residual, bins, inside)
    for i in range(2):
        for b in range(4):
            values = residual[i, 0][(bins[i, 0] == b) & inside[i, 0]]
            if values.numel() >= 16:
                assert torch.allclose(got[i, b], values.std(correction=0), atol=1e-9), (i, b)
            else:
                assert got[i, b].isnan(), (i, b)
    assert got[1, 3].isnan() and not got[0, 3].isnan()
