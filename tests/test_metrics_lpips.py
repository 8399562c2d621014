"""LPIPS through the lpips package: zero on identical images, symmetric, trunk loading from a file."""

import pytest
import torch
import torchvision

from gpen.metrics.perceptual import LPIPS, build_lpips, load_lpips_trunk
from gpen.utils.pretrained import MissingWeightsError
from gpen.utils.validation import ConfigValueError


@pytest.fixture(scope="module")
def alex_lpips():
    torch.manual_seed(0)
    metric = LPIPS(net="alex", network=build_lpips("alex"))
    metric.setup("cpu")
    return metric


def test_lpips_of_identical_images_is_zero_and_symmetric(alex_lpips):
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 64, 64, generator=g), torch.rand(2, 3, 64, 64, generator=g)
    assert torch.allclose(alex_lpips.score(x, x), torch.zeros(2), atol=1e-7)
    xy, yx = alex_lpips.score(x, y), alex_lpips.score(y, x)
    assert torch.allclose(xy, yx, atol=1e-6) and (xy > 0).all()


def test_trunk_weights_are_copied_from_a_torchvision_file(tmp_path):
    torch.manual_seed(1)
    features = torchvision.models.alexnet(weights=None).features
    file = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, file)
    model = load_lpips_trunk(build_lpips("alex"), "alex", file, "metrics.lpips.trunk_path")
    first_conv = model.net.slice1[0]
    assert torch.equal(first_conv.weight, features[0].weight)
    assert torch.equal(getattr(model.net.slice5, "10").weight, features[10].weight)


def test_missing_trunk_names_file_and_config_key(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path))
    metric = LPIPS(net="vgg")
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth") as info:
        metric.setup("cpu")
    assert "metrics.lpips.trunk_path" in str(info.value)
    with pytest.raises(ConfigValueError, match="metrics.lpips.net"):
        LPIPS(net="squeezenet")
