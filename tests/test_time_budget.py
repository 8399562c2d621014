"""A run stopped by its time budget says so, saves last.ckpt at the stopping step, resumes with a fresh
budget, and never replaces an export with an older one."""

import importlib.util
import logging
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gpen.lit.checkpointing import TimeBudget, export_step, parse_duration

ROOT = Path(__file__).resolve().parents[1]


def train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cfg_for(run_dir: Path, *overrides: str):
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=["scale=tiny", "trainer.max_steps=4", "trainer.val_check_interval=4",
                                           "callbacks.model_checkpoint.every_n_train_steps=1",
                                           f"paths.run_dir={run_dir}", *overrides])


def test_time_budget_stops_saves_and_resumes_with_a_fresh_budget(tmp_path, caplog):
    script = train_script()
    with caplog.at_level(logging.INFO):
        script.train(cfg_for(tmp_path, "callbacks.time_budget.max_time=0.001"))  # over after the first step
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 1
    text = caplog.text
    assert "Stopped by the time budget" in text and "ckpt_path=last" in text and "Finished" not in text
    assert export_step(tmp_path / "checkpoints" / "generator_ema.pth") == 1

    caplog.clear()
    with caplog.at_level(logging.INFO):  # the same budget again: a fresh one, so one more step is made
        script.train(cfg_for(tmp_path, "callbacks.time_budget.max_time=0.001", "ckpt_path=last"))
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    with caplog.at_level(logging.INFO):
        script.train(cfg_for(tmp_path, "ckpt_path=last"))  # tiny scale: no budget
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4
    assert export_step(tmp_path / "checkpoints" / "generator_ema.pth") == 4
    assert "Finished at iteration 4" in caplog.text


def test_an_export_is_never_replaced_by_an_older_one(tmp_path):
    newer = {"params_ema": {}, "gpen_generator": {}, "step": 50}
    (tmp_path / "checkpoints").mkdir()
    torch.save(newer, tmp_path / "checkpoints" / "generator_ema.pth")
    with pytest.warns(UserWarning, match="never replaced by an older one"):
        train_script().train(cfg_for(tmp_path, "trainer.max_steps=1"))
    assert export_step(tmp_path / "checkpoints" / "generator_ema.pth") == 50


def test_duration_formats():
    assert parse_duration("00:00:15:00") == 900 and parse_duration(2.5) == 2.5
    assert parse_duration("01:02:03:04") == ((24 + 2) * 60 + 3) * 60 + 4
    for bad in ("15:00", "0", -1):
        with pytest.raises(ValueError, match="time_budget.max_time"):
            parse_duration(bad)
    assert TimeBudget("x", None).seconds is None
