"""Evaluation presets: each composes, names itself and its FID statistics hash in the results."""

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from gpen.metrics.presets import ntire2025_score
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
    if preset == "ntire2025":
        assert metrics.psnr is None and metrics.score == "ntire2025" and metrics.musiq.metric == "musiq"


def test_ntire_score_formula():
    cells = {"CLIPIQA": 0.7, "MANIQA": 0.5, "MUSIQ": 60.0, "NIQE": 4.0, "FID": 40.0}
    assert ntire2025_score(cells) == pytest.approx(0.7 + 0.5 + 0.6 + 0.6 + 0.6)
    assert ntire2025_score({**cells, "NIQE": 12.0, "FID": 130.0}) == pytest.approx(1.8)
    assert ntire2025_score({**cells, "MUSIQ": "unavailable: x"}) == "unavailable: needs MUSIQ"


def test_pyiqa_metric_missing_weights_and_a_weightless_pyiqa_metric(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(MissingWeightsError, match=r"musiq_koniq_ckpt-e95806b9.pth.*metrics.musiq=null"):
        PyIQAMetric("musiq", ["musiq_koniq_ckpt-e95806b9.pth"], "MUSIQ").setup("cpu")
    entropy = PyIQAMetric("entropy", [], "Entropy")  # pyiqa's image entropy needs no weights
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
