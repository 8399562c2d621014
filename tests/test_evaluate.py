"""evaluate.py end to end on tiny generated test sets, composing the real Hydra config."""

import importlib.metadata
import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from gpen.cli.make_testset import main as make_testset
from gpen.metrics.report import ResultsTable
from gpen.utils.image_io import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
TEXTURE = ["HF ratio", "HF ratio (skin)", "LFD", "LFD (skin)", "Grain", "Grain (skin)"]


def _evaluate_module():
    spec = importlib.util.spec_from_file_location("gpen_evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("evaluate", overrides=["progress=false", "batch_size=2", *overrides])


@pytest.fixture(scope="module")
def testset(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "celeba_tiny"
    assert make_testset(["--synthetic", "3", "--size", "192", "--output", str(root)]) == 0
    return root


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_restored_folder_on_a_paired_set_gets_every_metric_and_an_input_row(testset, tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "no_weights"))
    before = _snapshot(testset)
    restored = tmp_path / "ours"
    for path in sorted((testset / "gt").glob("*.png")):  # a "method" close to GT: GT plus mild noise
        noisy = read_image(path) + 0.02 * np.random.default_rng(0).standard_normal((192, 192, 3))
        write_image(restored / path.name, np.clip(noisy, 0, 1))
    (restored / "broken.png").write_bytes(b"\x89PNG truncated")
    cfg = _config([f"testset={testset}", f"restored={restored}", f"save_restored={tmp_path / 'unused'}"])
    table = _evaluate_module().run(cfg, tmp_path / "run")

    assert list(table.rows) == ["ours", "Input"]
    assert table.metrics == ["PSNR", "SSIM", "LPIPS", "FID", "NIQE", "Deg", *TEXTURE]
    assert table.get("ours", "PSNR") > table.get("Input", "PSNR")
    assert table.get("ours", "SSIM") > table.get("Input", "SSIM")
    assert all(isinstance(table.get(row, "NIQE"), float) for row in table.rows)
    assert "arcface_resnet18.pth" in table.get("ours", "Deg") and table.get("ours", "Deg").startswith("unavailable")
    assert "reference statistics" in table.get("Input", "FID")
    saved = ResultsTable.from_json(tmp_path / "run" / "results.json")
    assert saved.rows == table.rows
    meta = saved.metadata
    assert meta["images"] == {"ours": 3, "Input": 3} and meta["paired"] is True
    assert meta["skipped"]["ours"]["unreadable"] == [str(restored / "broken.png")]
    assert meta["packages"]["torch"] == importlib.metadata.version("torch")
    assert meta["protocol"] == {"input_size": None, "resize": None}
    assert (tmp_path / "run" / "results.md").read_text().startswith("# Results")
    assert ResultsTable.from_csv(tmp_path / "run" / "results.csv").get("Input", "SSIM") == table.get("Input", "SSIM")
    assert _snapshot(testset) == before  # the test set is only read


def test_unpaired_folder_gets_only_no_reference_metrics(testset, tmp_path):
    web = tmp_path / "webphoto"
    shutil.copytree(testset / "lq", web)
    cfg = _config([f"testset={web}", f"restored={web}", "method_name=as_is", "metrics.fid=null",
                   f"save_restored={tmp_path / 'unused'}"])
    table = _evaluate_module().run(cfg, tmp_path / "run")
    assert list(table.rows) == ["as_is"] and table.metrics == ["NIQE", *TEXTURE]
    assert table.get("as_is", "NIQE") > 0
    assert all(table.get("as_is", name) == 0.0 for name in TEXTURE)  # the inputs are their own reference


def test_vqfr_protocol_config_switches_the_documented_options():
    cfg = _config(["testset=x", "metrics=vqfr"])
    assert cfg.metrics.psnr.match_mean_std and cfg.metrics.ssim.match_mean_std
    assert cfg.metrics.deg.exclude_below_deg == 1.0 and cfg.metrics.lmd is None
    assert _config(["testset=x", "metrics=with_lmd"]).metrics.lmd._target_ == "gpen.metrics.identity.LMD"


@pytest.mark.slow
def test_checkpoint_is_restored_in_batches_and_scored(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "no_weights"))
    from gpen.models.gfpgan_clean import GFPGANv1Clean

    root = tmp_path / "set64"
    assert make_testset(["--synthetic", "2", "--size", "96", "--output", str(root)]) == 0
    kwargs = {"out_size": 64, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.25}
    torch.manual_seed(0)
    generator = GFPGANv1Clean(**kwargs)
    checkpoint = tmp_path / "tiny_gfpgan.pth"
    torch.save({"params_ema": generator.state_dict(), "gpen_generator": {"arch": "clean", "kwargs": kwargs}},
               checkpoint)
    cfg = _config([f"testset={root}", f"checkpoint={checkpoint}", f"save_restored={tmp_path / 'restored'}",
                   "protocol.resize=64", "metrics.niqe=null", "+generator_overrides.sft_strength=0.5"])
    table = _evaluate_module().run(cfg, tmp_path / "run")
    assert list(table.rows) == ["tiny_gfpgan", "Input"]
    assert isinstance(table.get("tiny_gfpgan", "PSNR"), float)
    assert sorted(p.name for p in (tmp_path / "restored").iterdir()) == ["synthetic_00000.png", "synthetic_00001.png"]
    assert read_image(tmp_path / "restored" / "synthetic_00000.png").shape == (64, 64, 3)
    assert table.metadata["restoration"]["input_resized_to"] == 64
    with pytest.raises(ValueError, match="inside the test set"):
        _evaluate_module().run(_config([f"testset={root}", f"checkpoint={checkpoint}",
                                        f"save_restored={root / 'out'}"]), tmp_path / "run2")


def test_texture_controls_on_a_restored_folder_move_the_grain_measure(testset, tmp_path):
    """restore.keep_grain on another method's outputs: written to save_restored, scored, inputs untouched."""
    from gpen.restore.filters import gaussian_blur

    smooth = tmp_path / "smooth"  # "another method": GT smoothed (no grain, no pores)
    for path in sorted((testset / "gt").glob("*.png")):
        image = torch.from_numpy(read_image(path)).permute(2, 0, 1)[None]
        write_image(smooth / path.name, gaussian_blur(image, 1.5)[0].permute(1, 2, 0).numpy())
    before = _snapshot(smooth)
    common = [f"testset={testset}", f"restored={smooth}", "metrics.lpips=null", "metrics.fid=null",
              "metrics.deg=null", "metrics.niqe=null", "method_name=smooth"]
    plain = _evaluate_module().run(_config([*common, f"save_restored={tmp_path / 'a'}"]), tmp_path / "run_a")
    kept = _evaluate_module().run(_config([*common, f"save_restored={tmp_path / 'b'}", "restore.keep_grain=true"]),
                                  tmp_path / "run_b")
    assert kept.get("smooth", "Grain") < plain.get("smooth", "Grain")
    assert kept.get("smooth", "PSNR") != plain.get("smooth", "PSNR")  # the scored images are the controlled ones
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted(p.name for p in smooth.iterdir())
    assert kept.metadata["restore"]["keep_grain"] and kept.metadata["texture_controls"]["images"] == 3
    assert _snapshot(smooth) == before and not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="need a generator"):
        _evaluate_module().run(_config([*common, "restore.latent_steps=2"]), tmp_path / "run_c")
    with pytest.raises(FileNotFoundError, match="restore.parser_path=.*parsing_bisenet.pth"):
        _evaluate_module().run(_config([*common, f"restore.parser_path={tmp_path / 'parsing.pth'}"]), tmp_path / "run_d")


@pytest.mark.slow
def test_checkpoint_with_a_restore_preset(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "no_weights"))
    from gpen.models.gfpgan_clean import GFPGANv1Clean

    root = tmp_path / "set32"
    assert make_testset(["--synthetic", "2", "--size", "32", "--output", str(root)]) == 0
    kwargs = {"out_size": 32, "num_style_feat": 32, "channel_multiplier": 1, "narrow": 0.125}
    torch.manual_seed(0)
    checkpoint = tmp_path / "tiny.pth"
    torch.save({"params_ema": GFPGANv1Clean(**kwargs).state_dict(), "gpen_generator": {"arch": "clean", "kwargs": kwargs}},
               checkpoint)
    only = ["metrics.lpips=null", "metrics.fid=null", "metrics.deg=null", "metrics.niqe=null"]
    runs = {}
    for preset in ("default", "film_scan"):
        cfg = _config([f"testset={root}", f"checkpoint={checkpoint}", f"save_restored={tmp_path / preset}",
                       f"restore={preset}", *only])
        runs[preset] = _evaluate_module().run(cfg, tmp_path / f"run_{preset}")
    assert runs["film_scan"].metadata["restore"]["latent_steps"] == 10
    assert runs["film_scan"].get("tiny", "Grain") < runs["default"].get("tiny", "Grain")
