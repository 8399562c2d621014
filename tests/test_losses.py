"""Each loss term against a value worked out by hand on tiny tensors."""

import math

import pytest
import torch
from torch import nn

from gpen.data.regions import REGION_IDS
from gpen.losses.adversarial import GANLoss, d_logistic_loss, g_nonsaturating_loss, r1_penalty
from gpen.losses.base import ActiveUntil, LossInputs, gram_matrix
from gpen.losses.component import (
    ComponentGANLoss,
    component_style_loss,
    crop_component,
    feature_matching_loss,
)
from gpen.losses.identity import IdentityLoss, gray_resize
from gpen.losses.perceptual import PerceptualLoss
from gpen.losses.pixel import PixelLoss, PyramidLoss, RegionWeightMap, image_pyramid
from gpen.utils.validation import ConfigValueError

LOG2 = math.log(2.0)


def inputs(output, gt, **kw):
    return LossInputs(output=output, gt=gt, **kw)


def test_pixel_loss_is_weighted_l1():
    out, gt = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5)
    assert PixelLoss(weight=0.1)(inputs(out, gt))["pix"].item() == pytest.approx(0.05)


def test_region_weights_scale_each_pixel():
    out, gt = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    regions = torch.tensor([[[REGION_IDS["eyes"], REGION_IDS["eyes"]], [REGION_IDS["skin"], REGION_IDS["hair"]]]])
    term = PixelLoss(weight=1.0, region_weights=RegionWeightMap({"eyes": 0.5, "skin": 0.0}))
    # per pixel weights 0.5, 0.5, 0.0, 1.0 (hair keeps the default 1.0) -> mean 0.5
    assert term(inputs(out, gt, regions=regions))["pix"].item() == pytest.approx(0.5)


def test_region_weights_refuse_bad_values():
    with pytest.raises(ConfigValueError, match=r"loss.region_weights.eyes.*\[0, 1.5\]"):
        RegionWeightMap({"eyes": 1.6})
    with pytest.raises(ConfigValueError, match="unknown regions"):
        RegionWeightMap({"ears": 1.0})
    term = PixelLoss(region_weights=RegionWeightMap({"eyes": 0.5}))
    with pytest.raises(ValueError, match="no 'regions' map"):
        term(inputs(torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)))


def test_pyramid_loss_and_switch_off():
    gt = torch.full((1, 3, 8, 8), 0.4)
    rgbs = [torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8)]
    assert [t.shape[-1] for t in image_pyramid(gt, 3)] == [2, 4, 8]
    term = PyramidLoss(weight=2.0, schedule=ActiveUntil(10))
    assert term(inputs(gt, gt, out_rgbs=rgbs, step=10))["pyramid"].item() == pytest.approx(2.0 * 3 * 0.4)
    assert term(inputs(gt, gt, out_rgbs=rgbs, step=11)) == {}


def test_gram_matrix_by_hand():
    feats = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    assert torch.allclose(gram_matrix(feats), expected)


class TwoLevelFeatures(nn.Module):
    """Stand-in extractor: conv1_2 = x, conv2_2 = 2x; remembers whether its input needed a graph."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.graph_calls = []

    def forward(self, x):
        self.graph_calls.append(torch.is_grad_enabled())
        return {"conv1_2": x * self.scale, "conv2_2": 2 * x * self.scale}


def test_perceptual_and_style_by_hand():
    extractor = TwoLevelFeatures()
    term = PerceptualLoss(extractor, weight=1.0, style_weight=10.0, layer_weights={"conv1_2": 0.1, "conv2_2": 1.0})
    out = torch.zeros(1, 3, 2, 2, requires_grad=True)
    losses = term(inputs(out, torch.ones(1, 3, 2, 2)))
    assert losses["percep"].item() == pytest.approx(0.1 * 1 + 1.0 * 2)
    # Gram of ones (1, 3, 2, 2): every entry 4 / 12; of 2·ones: 16 / 12; Gram of zeros is 0.
    assert losses["percep_style"].item() == pytest.approx(10 * (0.1 * 4 / 12 + 1.0 * 16 / 12))
    assert extractor.graph_calls == [True, False]  # GT features are computed without a graph
    assert not extractor.scale.requires_grad


def test_gan_losses_by_hand():
    zeros = torch.zeros(4, 1)
    assert g_nonsaturating_loss(zeros).item() == pytest.approx(LOG2)
    assert d_logistic_loss(zeros, zeros).item() == pytest.approx(2 * LOG2)
    assert d_logistic_loss(torch.full((4, 1), 100.0), torch.full((4, 1), -100.0)).item() == pytest.approx(0, abs=1e-6)


class LinearD(nn.Module):
    """D(x) = sum(a * x) per sample, so dD/dx = a and R1 = sum(a²)."""

    def __init__(self, shape):
        super().__init__()
        self.a = nn.Parameter(torch.full(shape, 0.5))

    def forward(self, x):
        return (x * self.a).flatten(1).sum(1, keepdim=True)


def test_r1_penalty_and_lazy_scaling():
    disc = LinearD((3, 2, 2))
    real = torch.randn(2, 3, 2, 2, requires_grad=True)
    assert r1_penalty(disc(real), real).item() == pytest.approx(12 * 0.25)
    term = GANLoss(disc, weight=0.1, r1_gamma=10.0, r1_interval=16)
    zero = torch.zeros(2, 3, 2, 2)
    on = term.discriminator_loss(inputs(zero, zero, step=32))
    assert on["d_gan"].item() == pytest.approx(2 * LOG2)
    assert on["d_gan_r1"].item() == pytest.approx(10 / 2 * 3.0 * 16)
    assert "d_gan_r1" not in term.discriminator_loss(inputs(zero, zero, step=33))
    assert term(inputs(zero, zero))["gan"].item() == pytest.approx(0.1 * LOG2)


def test_roi_align_crop_by_hand():
    ramp = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 3, 8, 8)  # value = x coordinate
    crop = crop_component(ramp, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), size=4)
    # bins of one pixel sampled at their centres 0.5 .. 3.5 (bilinear is exact on a ramp)
    assert torch.allclose(crop[0, 0, 0], torch.tensor([0.5, 1.5, 2.5, 3.5]))


def test_component_style_loss_by_hand():
    fake = [torch.ones(1, 2, 2, 2), torch.ones(1, 2, 1, 1)]
    real = [torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 1, 1)]
    # Gram of ones (C=2, HW=4): 4 / 8 = 0.5; (C=2, HW=1): 1 / 2 = 0.5
    assert component_style_loss(fake, real).item() == pytest.approx(0.5 * 0.5 + 1.0 * 0.5)


class ConstantComponentD(nn.Module):
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, x, return_feats=False):
        logits = x.mean((1, 2, 3), keepdim=True) * 0 + self.bias  # always 0
        return logits, ([x, x[..., ::2, ::2]] if return_feats else None)


def test_component_gan_by_hand():
    term = ComponentGANLoss(ConstantComponentD, out_size=64, weight=1.0, style_weight=200.0)
    assert term.crop_sizes == {"left_eye": 16, "right_eye": 16, "mouth": 16}  # 10/10/15 px, raised to 16
    box = torch.tensor([[8.0, 8.0, 24.0, 24.0]])
    boxes = {"left_eye": box, "right_eye": box, "mouth": box}
    img = torch.zeros(1, 3, 64, 64)
    losses = term(inputs(img, img, boxes=boxes))
    assert losses["comp_gan"].item() == pytest.approx(3 * LOG2)
    assert losses["comp_style"].item() == pytest.approx(0.0)
    assert term.discriminator_loss(inputs(img, img, boxes=boxes))["d_comp"].item() == pytest.approx(6 * LOG2)
    with pytest.raises(ValueError, match="needs boxes"):
        term(inputs(img, img, boxes={"mouth": box}))


def test_feature_matching_by_hand():
    fake = [torch.ones(1, 2, 2, 2), torch.full((1, 2, 1, 1), 3.0)]
    real = [torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 1, 1)]
    assert feature_matching_loss(fake, real).item() == pytest.approx(0.5 * 1.0 + 1.0 * 3.0)
    # as a loss option: only the matching term is added, no style term (the Fig. 7 row)
    term = ComponentGANLoss(ConstantComponentD, out_size=64, style_weight=0.0, feature_match_weight=2.0)
    box = torch.tensor([[8.0, 8.0, 24.0, 24.0]])
    boxes = {"left_eye": box, "right_eye": box, "mouth": box}
    out, gt = torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    out[:, :, 4:28, 4:28] = 0.5  # every crop is 0.5 everywhere vs 0: both levels differ by 0.5
    losses = term(inputs(out, gt, boxes=boxes))
    assert set(losses) == {"comp_gan", "comp_fm"}
    assert losses["comp_fm"].item() == pytest.approx(2.0 * 3 * (0.5 * 0.5 + 1.0 * 0.5), rel=1e-4)


def test_identity_loss_by_hand():
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    gray = gray_resize(red, size=2)
    assert gray.shape == (1, 1, 2, 2) and torch.allclose(gray, torch.full_like(gray, 0.2989))

    class MeanEmbed(nn.Module):
        def forward(self, x):
            return x.mean((2, 3)).expand(-1, 4)

    term = IdentityLoss(MeanEmbed(), weight=10.0, input_size=2)
    assert term(inputs(red, torch.zeros(1, 3, 4, 4)))["identity"].item() == pytest.approx(10 * 0.2989, rel=1e-4)


def test_negative_weight_is_refused():
    with pytest.raises(ConfigValueError, match="loss.terms.pix.weight"):
        PixelLoss(weight=-1.0)
