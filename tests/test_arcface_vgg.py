"""ArcFace ResNet-18 and the VGG19 feature extractor: shapes, parameter counts, weight loading."""

import pytest
import torch
from torchvision.models import vgg19

from gpen.models.arcface import ResNetArcFace
from gpen.models.loading import CheckpointMismatchError, UnreadableCheckpointError, load_arcface, load_vgg19
from gpen.models.vgg import VGGFeatureExtractor
from gpen.utils.pretrained import MissingWeightsError

PERCEPTUAL_LAYERS = ("conv1_2", "conv2_2", "conv3_4", "conv4_4", "conv5_4")


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_arcface_parameter_count_and_official_keys():
    with torch.device("meta"):
        model = ResNetArcFace()
    assert count_parameters(model) == 25_627_081
    state = model.state_dict()
    assert len(state) == 181
    assert tuple(state["fc5.weight"].shape) == (512, 32768)
    assert tuple(state["layer2.0.downsample.0.weight"].shape) == (128, 64, 1, 1)
    assert "layer1.0.prelu.weight" in state and "bn5.running_var" in state


def test_arcface_embeds_gray_faces_and_refuses_other_shapes():
    torch.manual_seed(0)
    model = ResNetArcFace().eval()
    with torch.no_grad():
        out = model(torch.rand(2, 1, 128, 128) * 2 - 1)
    assert out.shape == (2, 512) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r"\(B, 1, 128, 128\)"):
        model(torch.rand(1, 3, 128, 128))


def test_arcface_se_variant_has_extra_keys():
    plain, with_se = ResNetArcFace(layers=(1, 1, 1, 1)), ResNetArcFace(layers=(1, 1, 1, 1), use_se=True)
    assert count_parameters(with_se) > count_parameters(plain)
    assert any(".se.fc." in k for k in with_se.state_dict())


def test_load_arcface_round_trip_with_module_prefix(tmp_path):
    torch.manual_seed(0)
    source = ResNetArcFace(layers=(1, 1, 1, 1)).eval()
    path = tmp_path / "arcface.pth"
    torch.save({f"module.{k}": v for k, v in source.state_dict().items()}, path)
    target = load_arcface(ResNetArcFace(layers=(1, 1, 1, 1)), path)
    assert not target.training
    x = torch.rand(1, 1, 128, 128)
    with torch.no_grad():
        torch.testing.assert_close(target(x), source(x), rtol=0, atol=0)


def test_load_arcface_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "cache"))
    with pytest.raises(MissingWeightsError, match="pretrained.arcface"):
        load_arcface(ResNetArcFace(), "arcface_resnet18.pth")
    path = tmp_path / "se.pth"
    torch.save({"params": ResNetArcFace(layers=(1, 1, 1, 1), use_se=True).state_dict()}, path)
    with pytest.raises(CheckpointMismatchError, match=r"se\.pth.*layer1\.0\.se\.fc\.0\.weight"):
        load_arcface(ResNetArcFace(layers=(1, 1, 1, 1)), path)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(UnreadableCheckpointError, match="broken.pth"):
        load_arcface(ResNetArcFace(layers=(1, 1, 1, 1)), broken)


def test_vgg_returns_pre_relu_features_of_torchvision_vgg19():
    torch.manual_seed(0)
    extractor = VGGFeatureExtractor(PERCEPTUAL_LAYERS)
    assert len(extractor.features) == 35  # cut after conv5_4, the deepest requested layer
    assert not any(p.requires_grad for p in extractor.parameters())
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    feats = extractor(x)
    shapes = {k: tuple(v.shape) for k, v in feats.items()}
    assert shapes == {"conv1_2": (1, 64, 32, 32), "conv2_2": (1, 128, 16, 16), "conv3_4": (1, 256, 8, 8),
                      "conv4_4": (1, 512, 4, 4), "conv5_4": (1, 512, 2, 2)}
    # Reference: torchvision's own trunk with the same weights, input mapped to [0, 1] and normalised.
    reference = vgg19(weights=None).features[:3]
    reference.load_state_dict(extractor.features[:3].state_dict())
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = reference((((x + 1) / 2) - mean) / std)
    torch.testing.assert_close(feats["conv1_2"], expected)
    assert (feats["conv1_2"] < 0).any()  # before the ReLU


def test_vgg_truncates_and_refuses_unknown_layers():
    assert len(VGGFeatureExtractor(["conv2_2"]).features) == 8
    with pytest.raises(ValueError, match="conv6_1"):
        VGGFeatureExtractor(["conv6_1"])
    trainable = VGGFeatureExtractor(["conv1_1"], requires_grad=True)
    assert all(p.requires_grad for p in trainable.parameters())


def test_load_vgg19_from_torchvision_layout(tmp_path, monkeypatch):
    torch.manual_seed(0)
    source = VGGFeatureExtractor(["conv2_2"])
    state = dict(source.state_dict())
    state["features.30.weight"] = torch.zeros(1)  # deeper layers and classifier are in the real file
    state["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path))
    target = load_vgg19(VGGFeatureExtractor(["conv2_2"]))  # found by file name in the cache folder
    torch.testing.assert_close(target.features[5].weight, source.features[5].weight, rtol=0, atol=0)
    del state["features.5.weight"]
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match=r"features\.5\.weight"):
        load_vgg19(VGGFeatureExtractor(["conv2_2"]), path)
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "empty"))
    with pytest.raises(MissingWeightsError, match="pretrained.vgg19"):
        load_vgg19(VGGFeatureExtractor(["conv2_2"]))
