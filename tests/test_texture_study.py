"""experiments/texture_study.py: the lever sweep on a tiny random GFPGANv1 checkpoint (built and loaded by
the repo's own code), on 3 synthetic film_scan faces at 64 px."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gpen.models import GFPGANv1, load_generator
from gpen.restore import RestoreSettings
from gpen.utils.image_io import read_image

ROOT = Path(__file__).resolve().parents[1]
TINY = {"out_size": 64, "num_style_feat": 16, "narrow": 0.0625, "channel_multiplier": 1, "num_mlp": 2}
TEXTURE = ["HF ratio", "HF ratio (skin)", "LFD", "LFD (skin)", "Grain", "Grain (skin)"]


def _study_module():
    spec = importlib.util.spec_from_file_location("texture_study", ROOT / "experiments" / "texture_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def study_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("texture_study")
    torch.manual_seed(0)
    path = folder / "generator_ema.pth"
    torch.save({"params_ema": GFPGANv1(**TINY).state_dict(), "gpen_generator": {"arch": "v1", "kwargs": TINY}}, path)
    module = _study_module()
    testset = module.make_testset(folder / "testset", "film_scan", faces=3, size=64, seed=0)
    return module, load_generator(path), testset, folder


@pytest.fixture(autouse=True)
def _no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "no_weights"))  # LPIPS / Deg: unavailable


def test_every_lever_and_metric_is_in_the_table(study_setup):
    module, generator, testset, folder = study_setup
    base = dataclasses.replace(module.restore_preset("film_scan"), latent_steps=2)
    study = module.run_study(generator, testset, base, folder / "run_all", module.metrics_config(), name="film_scan")
    for metric in ["PSNR", "SSIM", "LPIPS", "Deg", *TEXTURE, module.LOW_PASS, module.TO_INPUT, module.TO_PLAIN]:
        assert metric in study.metrics, metric
    for lever in module.LEVERS:
        for value in lever.values:
            row = study.row(lever.name, value)
            assert all(isinstance(row.cells[m], float) for m in ["PSNR", "SSIM", *TEXTURE, module.TO_INPUT]), row
            assert row.cells["LPIPS"].startswith("unavailable")
        assert sum(study.row(lever.name, v).is_base for v in lever.values) == (lever.name != "latent_steps K")
    base_rows = [r for r in study.rows if r.is_base]
    assert all(r.cells == base_rows[0].cells for r in base_rows)  # one base setting, restored once
    # the knobs act: refinement with a larger step moves the output further from the feed-forward one
    steps = [study.row("latent_step η", v).cells[module.TO_PLAIN] for v in (0.02, 0.2)]
    assert steps[0] < steps[1]
    text = module.study_markdown(study, "film_scan")
    assert "| keep_grain | **on** |" in text and "- LPIPS: unavailable" in text
    assert text.count("\n| ") == 3 + sum(len(lever.values) for lever in module.LEVERS)
    figure = module.plot_studies({"film_scan": study}, folder / "figure.png")
    assert figure.stat().st_size > 0


def test_keep_grain_off_is_the_plain_output_and_on_brings_the_grain_back(study_setup):
    module, generator, testset, folder = study_setup
    grain = next(lever for lever in module.LEVERS if lever.name == "keep_grain")
    study = module.run_study(generator, testset, RestoreSettings(), folder / "run_grain", module.metrics_config(),
                             levers=[grain])
    off, on = study.row("keep_grain", False), study.row("keep_grain", True)
    plain = next(r for r in study.rows if r.lever == module.PLAIN_ROW)
    assert off.cells == plain.cells and off.cells[module.TO_PLAIN] == 0.0
    assert on.cells[module.TO_PLAIN] > 0.5
    assert on.cells["Grain"] < off.cells["Grain"] and on.cells[module.TO_INPUT] < off.cells[module.TO_INPUT]
    # the plain row is the generator itself, computed here independently of the restore path
    _, inputs, _ = module.load_testset(testset)
    with torch.no_grad():
        expected = ((generator(inputs * 2 - 1)[0] + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    restored = folder / "run_grain" / "restored" / "setting_00"  # the plain settings come first
    images = np.stack([read_image(p) for p in sorted(restored.iterdir())])
    assert np.abs(images - expected).max() <= 1 / 255 + 1e-6
