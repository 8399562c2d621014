"""AdaFace IR-50: architecture and loading of the released (Lightning) checkpoint layout; the NTIRE 2025
identity check built on it, with small randomly initialised networks (no weights here)."""

import argparse

import numpy as np
import pytest
import torch

from gpen.metrics.adaface import ARCFACE_TEMPLATE_112, AdaFaceIdentity, adaface_input
from gpen.metrics.base import NotApplicableError
from gpen.models.adaface import AdaFaceIR
from gpen.models.loading import CheckpointMismatchError, load_adaface
from gpen.utils.pretrained import MissingWeightsError


def _tiny():
    torch.manual_seed(0)
    return AdaFaceIR(stages=((8, 1), (8, 1), (16, 1), (16, 1)), stem_channels=8).eval()


def test_ir50_layout_embedding_and_the_official_checkpoint_nesting(tmp_path):
    torch.manual_seed(0)
    net = AdaFaceIR().eval()
    state = net.state_dict()
    assert len(net.body) == 24 and state["output_layer.3.weight"].shape == (512, 512 * 7 * 7)
    assert "body.0.shortcut_layer.0.weight" not in state  # 64 -> 64: identity (1x1 max-pool) shortcut
    assert state["body.3.shortcut_layer.0.weight"].shape == (128, 64, 1, 1)
    assert "output_layer.4.weight" not in state and "output_layer.4.running_var" in state  # BN1d affine=False
    embedding, norm = net(torch.randn(2, 3, 112, 112))
    assert embedding.shape == (2, 512) and norm.shape == (2, 1)
    assert torch.allclose(embedding.norm(dim=1), torch.ones(2), atol=1e-5)
    # the released files: a Lightning checkpoint, backbone under `model.`, the margin head beside it
    file = tmp_path / "adaface_ir50_ms1mv2.ckpt"
    torch.save({"state_dict": {**{f"model.{k}": v for k, v in state.items()}, "head.kernel": torch.randn(512, 4)},
                "hyper_parameters": argparse.Namespace(arch="ir_50"), "epoch": 26}, file)
    loaded = load_adaface(AdaFaceIR(), str(file))
    assert not loaded.training
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())


def test_missing_and_mismatching_adaface_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "none"))
    with pytest.raises(MissingWeightsError, match=r"adaface_ir50_ms1mv2.ckpt(.|\n)*metrics.adaface.adaface_path"):
        AdaFaceIdentity().setup("cpu")
    file = tmp_path / "small.pth"
    torch.save({"state_dict": {f"model.{k}": v for k, v in _tiny().state_dict().items()}}, file)
    with pytest.raises(CheckpointMismatchError, match="small.pth"):
        load_adaface(AdaFaceIR(), str(file))


def test_adaface_input_aligns_to_the_arcface_template_in_bgr():
    image = torch.zeros(1, 3, 64, 64)
    image[:, 0] = 1.0  # pure red
    points = ARCFACE_TEMPLATE_112[None] * 64 / 112  # a face already laid out like the template, at 64 px
    crop = adaface_input(image, points)
    assert crop.shape == (1, 3, 112, 112)
    centre = crop[0, :, 40:70, 40:70]
    assert torch.allclose(centre[2], torch.ones_like(centre[2])) and torch.allclose(centre[0], -torch.ones_like(centre[0]))


def test_identity_check_similarity_pass_rate_and_thresholds():
    net = _tiny()
    faces = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    similarity = AdaFaceIdentity(network=net)
    similarity.setup("cpu")
    similarity.update(faces, faces)
    assert similarity.compute() == pytest.approx(1.0, abs=1e-6)
    similarity.reset()
    others = torch.rand(4, 3, 128, 128, generator=torch.Generator().manual_seed(2))  # outputs may be larger
    similarity.update(others, faces)
    mean = similarity.compute()
    assert mean < 0.999
    passing = AdaFaceIdentity(network=net, report="pass_rate", threshold_set="LFW-Test")
    passing.setup("cpu")
    passing.update(torch.cat([faces[:2], others[:2, :, ::2, ::2]]), faces)
    assert passing.name == "ID pass rate" and passing.details()["threshold"] == 0.6
    values = passing.values()
    assert passing.compute() == pytest.approx(float((values >= 0.6).double().mean()))
    assert passing.details()["below_threshold"] == int((values < 0.6).sum())
    assert AdaFaceIdentity(network=net, report="pass_rate", threshold=0.42).threshold == 0.42
    no_threshold = AdaFaceIdentity(network=net, report="pass_rate")
    no_threshold.setup("cpu")
    with pytest.raises(NotApplicableError, match="threshold_set"):
        no_threshold.update(faces, faces)


def test_mtcnn_landmarks_fall_back_to_the_template_and_are_counted():
    metric = AdaFaceIdentity(network=_tiny(), landmarks="mtcnn")
    metric.setup("cpu")
    flat = torch.full((2, 3, 64, 64), 0.5)  # no face to find
    metric.update(flat, flat)
    assert metric.details()["inputs_without_detected_face"] == 2
    assert np.isclose(metric.compute(), 1.0)
