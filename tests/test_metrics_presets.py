"""Evaluation presets: each composes, names itself and its FID statistics hash in the results."""

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gpen.metrics.fid import save_features
from gpen.metrics.presets import ntire2025_score, qalign_note
from gpen.metrics.pyiqa_nr import PyIQAMetric
from gpen.utils.image_io import write_image
from gpen.utils.pretrained import MissingWeightsError

ROOT = Path(__file__).resolve().parents[1]


def _config(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("evaluate", overrides=["progress=false", *overrides])


@pytest.mark.parametrize("preset", ["gfpgan_paper", "plain", "pmrf", "ntire2025", "vqfr"])
def test_every_preset_composes_and_names_itself(preset):
    metrics = _config(["testset=x", f"metrics={preset}"]).metrics
    assert metrics.preset == ("gfpgan_paper" if preset == "vqfr" else preset)
    if preset in ("gfpgan_paper", "vqfr"):
        assert metrics.psnr.match_mean_std and metrics.deg.exclude_below_deg == 1.0
    if preset == "pmrf":
        assert metrics.deg.measure == "cosine_distance"
        assert metrics.kid.subsets == 100 and metrics.kid.subset_size == 1000 and metrics.precision.k == 3
    if preset == "ntire2025":
        assert metrics.psnr is None and metrics.score == "ntire2025" and metrics.musiq.metric == "musiq"
        assert metrics.qalign.hf_models == ["q-future/one-align"] and metrics.adaface_pass.report == "pass_rate"
        assert metrics.adaface_pass.thresholds["WebPhoto-Test"] == 0.3


def test_one_key_gives_kid_precision_and_recall_their_reference_features():
    metrics = _config(["testset=x", "metrics=pmrf", "metrics.reference_features=/data/ffhq_features.npz"]).metrics
    plain = OmegaConf.to_container(metrics, resolve=True)
    assert {plain[k]["reference_features"] for k in ("kid", "precision", "recall")} == {"/data/ffhq_features.npz"}


def test_ntire_score_formula():
    cells = {"CLIPIQA": 0.7, "MANIQA": 0.5, "MUSIQ": 60.0, "NIQE": 4.0, "FID": 40.0}
    assert ntire2025_score(cells) == pytest.approx(0.7 + 0.5 + 0.6 + 0.6 + 0.6)
    assert ntire2025_score({**cells, "NIQE": 12.0, "FID": 130.0}) == pytest.approx(1.8)
    assert ntire2025_score({**cells, "MUSIQ": "unavailable: x"}) == "unavailable: needs MUSIQ"
    assert ntire2025_score({**cells, "Q-Align": 4.0}) == pytest.approx(3.0 + 0.8)  # the challenge's Q-Align/5
    assert qalign_note({**cells, "Q-Align": 4.0}) == "with the Q-Align/5 term"
    assert qalign_note({**cells, "Q-Align": "unavailable: Q-Align needs q-future/one-align"}).startswith(
        "without the Q-Align/5 term (unavailable: Q-Align needs")


def test_pyiqa_metric_missing_weights_and_a_weightless_pyiqa_metric(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError, match=r"musiq_koniq_ckpt-e95806b9.pth.*metrics.musiq=null"):
        PyIQAMetric("musiq", ["musiq_koniq_ckpt-e95806b9.pth"], "MUSIQ").setup("cpu")
    with pytest.raises(MissingWeightsError, match=r"Hugging Face model q-future/one-align(.|\n)*metrics.qalign=null"):
        PyIQAMetric("qalign", [], "Q-Align", hf_models=["q-future/one-align"], config_key="metrics.qalign").setup("cpu")
    entropy = PyIQAMetric("entropy", [], "Entropy", one_image_at_a_time=True)  # needs no weights
    entropy.setup("cpu")
    entropy.update(torch.rand(2, 3, 32, 32))
    assert 0.0 < entropy.compute() <= 8.0


def test_results_name_the_preset_and_the_fid_statistics_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "none"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    photos = tmp_path / "photos"
    for i in range(2):
        write_image(photos / f"{i}.png", np.random.default_rng(i).uniform(0, 1, (32, 32, 3)))
    stats = tmp_path / "ffhq.npz"
    stats.write_bytes(b"not really statistics")
    spec = importlib.util.spec_from_file_location("gpen_evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cfg = _config([f"testset={photos}", f"restored={photos}", "metrics=ntire2025", "metrics.niqe=null",
                   f"metrics.fid.reference_stats={stats}", f"save_restored={tmp_path / 'unused'}"])
    table = module.run(cfg, tmp_path / "run")
    assert table.metadata["metrics_preset"] == "ntire2025"
    assert table.metadata["fid_reference_stats"]["sha256"] == hashlib.sha256(stats.read_bytes()).hexdigest()
    assert table.get("photos", "MUSIQ").startswith("unavailable: MUSIQ (pyiqa 'musiq') needs")
    assert table.get("photos", "NTIRE score").startswith("unavailable: needs CLIPIQA, MANIQA, MUSIQ, NIQE, FID")
    assert table.get("photos", "Q-Align").startswith("unavailable: Q-Align (pyiqa 'qalign') needs the Hugging Face")
    assert "metrics.adaface.adaface_path" in table.get("photos", "AdaFace sim")
    assert "metrics.adaface_pass.adaface_path" in table.get("photos", "ID pass rate")


def _evaluate_module():
    spec = importlib.util.spec_from_file_location("gpen_evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pmrf_results_record_the_reference_features_hash_and_say_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "none"))
    photos = tmp_path / "photos"
    for i in range(3):
        write_image(photos / f"{i}.png", np.random.default_rng(i).uniform(0, 1, (32, 32, 3)))
    features = save_features(tmp_path / "ffhq_features.npz", torch.randn(4, 2048), source="x", inception_weights="y")
    common = [f"testset={photos}", f"restored={photos}", "metrics=pmrf", "metrics.niqe=null",
              f"save_restored={tmp_path / 'unused'}", "saved_faces=0"]
    module = _evaluate_module()
    table = module.run(_config([*common, f"metrics.reference_features={features}"]), tmp_path / "run")
    assert table.metadata["reference_features"] == [
        {"path": str(features), "sha256": hashlib.sha256(features.read_bytes()).hexdigest()}]
    for column in ("KID", "Precision", "Recall"):  # the features are there; the Inception weights are not
        assert f"metrics.{column.lower()}.inception_path" in table.get("photos", column)
    table = module.run(_config(common), tmp_path / "run2")
    assert table.metadata["reference_features"] == [{"path": None, "sha256": None}]
    assert "set metrics.reference_features" in table.get("photos", "KID")
    assert "--features" in table.get("photos", "Recall")
