"""GPEN's loss terms: SmoothL1 reconstruction and the cosine identity term."""

import pytest
import torch
import torch.nn.functional as F

from gpen.data.regions import REGION_NAMES
from gpen.losses.base import LossInputs
from gpen.losses.identity import CosineIdentityLoss
from gpen.losses.pixel import RegionWeightMap, SmoothL1PixelLoss
from gpen.models.arcface import ResNetArcFace
from gpen.utils.validation import ConfigValueError


def inputs(output, gt, regions=None):
    return LossInputs(output=output, gt=gt, regions=regions)


def test_smooth_l1_is_quadratic_below_beta_and_linear_above():
    gt = torch.zeros(1, 3, 4, 4)
    small, large = torch.full_like(gt, 0.5), torch.full_like(gt, 3.0)
    term = SmoothL1PixelLoss(weight=2.0, beta=1.0)
    assert term(inputs(small, gt))["smooth_l1"].item() == pytest.approx(2.0 * 0.5 * 0.5**2)
    assert term(inputs(large, gt))["smooth_l1"].item() == pytest.approx(2.0 * (3.0 - 0.5))
    with pytest.raises(ConfigValueError, match="loss.terms.smooth_l1.beta"):
        SmoothL1PixelLoss(beta=-1.0)


def test_smooth_l1_region_weights():
    gt, output = torch.zeros(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    regions = torch.zeros(1, 4, 4, dtype=torch.int64)
    regions[:, :2] = REGION_NAMES.index("skin")
    skin_off = SmoothL1PixelLoss(region_weights=RegionWeightMap({"skin": 0.0}))
    expected = F.smooth_l1_loss(output, gt, reduction="none")[:, :, 2:].sum() / output.numel()
    torch.testing.assert_close(skin_off(inputs(output, gt, regions))["smooth_l1"], expected)
    uniform = SmoothL1PixelLoss(region_weights=RegionWeightMap({}))
    torch.testing.assert_close(uniform(inputs(output, gt))["smooth_l1"], F.smooth_l1_loss(output, gt))


def test_cosine_identity_is_zero_for_the_same_face_and_trains_the_output_only():
    torch.manual_seed(0)
    arcface = ResNetArcFace(layers=(1, 1, 1, 1), input_size=32)
    term = CosineIdentityLoss(arcface, weight=1.0, input_size=32)
    gt = torch.rand(2, 3, 32, 32) * 2 - 1
    assert term(inputs(gt.clone(), gt))["identity"].abs().item() < 1e-5
    output = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    loss = term(inputs(output, gt))["identity"]
    assert 0 < loss.item() <= 2
    loss.backward()
    assert output.grad.abs().sum() > 0 and all(p.grad is None for p in arcface.parameters())
