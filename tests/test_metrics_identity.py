"""Deg (ArcFace angle) and LMD (MTCNN landmark distance)."""

import pytest
import torch
from skimage import data

from gpen.metrics.identity import LMD, Deg, arcface_input, embedding_angle_deg
from gpen.models.arcface import ResNetArcFace
from gpen.utils.pretrained import MissingWeightsError


def test_angle_of_identical_embeddings_is_zero_and_of_orthogonal_ones_ninety():
    e = torch.randn(4, 512, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(embedding_angle_deg(e, e), torch.zeros(4, dtype=torch.float64), atol=1e-5)
    a, b = torch.eye(512)[:3], torch.eye(512)[3:6]
    assert torch.allclose(embedding_angle_deg(a, b), torch.full((3,), 90.0, dtype=torch.float64))
    assert embedding_angle_deg(a, -a)[0].item() == pytest.approx(180.0)


def test_deg_runs_arcface_on_gray_128_inputs():
    torch.manual_seed(0)
    metric = Deg(network=ResNetArcFace())
    metric.setup("cpu")
    x = torch.rand(2, 3, 96, 96)
    assert arcface_input(x).shape == (2, 1, 128, 128)
    assert arcface_input(torch.ones(1, 3, 8, 8)).max().item() == pytest.approx(1.0, abs=1e-3)
    metric.update(x, x)
    metric.update(x, torch.rand(2, 3, 96, 96))
    values = metric.values()
    assert torch.allclose(values[:2], torch.zeros(2, dtype=torch.float64), atol=1e-3)
    assert (values[2:] > 0.5).all()


def test_deg_leaves_out_pairs_under_the_threshold_when_asked():
    metric = Deg(exclude_below_deg=1.0, network=torch.nn.Identity())
    metric.scores = [torch.tensor([0.2, 10.0, 30.0], dtype=torch.float64)]
    assert metric.compute() == pytest.approx(20.0)
    assert metric.details() == {"exclude_below_deg": 1.0, "pairs_left_out": 1}
    plain = Deg(network=torch.nn.Identity())
    plain.scores = list(metric.scores)
    assert plain.compute() == pytest.approx(40.2 / 3)


def test_deg_without_weights_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="arcface_resnet18.pth") as info:
        Deg().setup("cpu")
    assert "metrics.deg.arcface_path" in str(info.value)


def test_lmd_zero_for_identical_faces_and_tracks_a_shift():
    face = torch.from_numpy(data.astronaut()[:256, 96:352].copy()).permute(2, 0, 1)[None].float() / 255
    shifted = torch.roll(face, shifts=(0, 6), dims=(2, 3))
    metric = LMD()
    metric.setup("cpu")
    metric.update(torch.cat([face, shifted]), torch.cat([face, face]))
    same, moved = metric.values().tolist()
    assert same == pytest.approx(0.0, abs=1e-6)
    assert 3.0 < moved < 9.0
    metric.update(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))  # no face: left out, counted
    assert metric.count() == 2 and metric.details() == {"pairs_without_detected_face": 1}
