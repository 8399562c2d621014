"""Training faults: honest logs around skipped steps, work saved on Ctrl-C and crashes, images that go
bad mid-run, a full disk, clear start-up errors, and a train.log that tells the story."""

import csv
import os
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from gpen.lit.build import build_module, build_trainer
from gpen.lit.module import NonFiniteLossError
from gpen.losses.base import LossTerm

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")
TINY = [
    "data.out_size=32", "data.batch_size=2", "data.val_batch_size=2",
    "data.train_dataset.num_images=6", "data.val_dataset.num_images=2",
    "model.generator.num_style_feat=32", "model.generator.narrow=0.0625", "model.generator.num_mlp=1",
    "model.validator.num_samples=2", "loss.terms.gan.discriminator.narrow=0.0625",
    "trainer.accelerator=cpu", "~callbacks.progress_bar", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "trainer.max_time=null", "trainer.limit_val_batches=0",
    "stylegan2_prior_file=null",  # the shipped 64 px prior does not fit the tiny generator
    "prior_discriminator_file=null",  # nor its discriminator the tiny one
    "trainer.log_every_n_steps=1",
]


def tiny_cfg(run_dir, *overrides):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose("train", overrides=[*TINY, f"paths.run_dir={run_dir}", *overrides])


class NaNAtCalls(LossTerm):
    """NaN on the given (0-based) calls, 0 otherwise."""

    def __init__(self, bad_calls):
        super().__init__(1.0, "bad")
        self.bad_calls, self.calls = set(bad_calls), 0

    def forward(self, inputs):
        bad = self.calls in self.bad_calls
        self.calls += 1
        return {"bad": inputs.output.mean() * (float("nan") if bad else 0.0)}


def metrics_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "csv" / "version_0" / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_skipped_steps_log_no_stale_losses_and_the_step_is_the_iteration(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=3", "model.max_consecutive_nonfinite=5")
    module = build_module(cfg)
    module.losses["bad"] = NaNAtCalls({1, 2})  # batches 0 and 3, 4 train; 1 and 2 are skipped
    build_trainer(cfg).fit(module, datamodule=instantiate(cfg.data))
    assert module.trainer.global_step == 3 and module.skipped_steps == 2
    rows = [r for r in metrics_rows(tmp_path) if r.get("train/skipped_steps")]
    losses = [r for r in rows if r.get("train/loss_pix")]
    assert [int(float(r["step"])) for r in losses] == [0, 1, 2]  # the iteration (0-based) of each loss
    skipped = [r for r in rows if not r.get("train/loss_pix")]
    assert len(skipped) == 2 and all(not r.get("train/loss_g") for r in skipped)
    assert [int(float(r["step"])) for r in skipped] == [1, 1]  # both tried iteration 1 and failed
    assert all(int(float(r["step"])) <= 2 for r in metrics_rows(tmp_path))  # lr rows too


def test_non_finite_stop_without_a_checkpoint_does_not_claim_one(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=5", "model.max_consecutive_nonfinite=2")
    module = build_module(cfg)
    module.losses["bad"] = NaNAtCalls(range(100))
    with pytest.raises(NonFiniteLossError) as error:
        build_trainer(cfg).fit(module, datamodule=instantiate(cfg.data))
    assert "before this" not in str(error.value) and "no checkpoint" in str(error.value).lower()


class At(pl.Callback):
    """Run `action` at the start of the batch that would train iteration `step` (0-based)."""

    def __init__(self, step, action):
        self.step, self.action = step, action

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == self.step:
            self.action()


def fit_with(cfg, *callbacks, module=None):
    module = module or build_module(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.extend(callbacks)
    trainer.fit(module, datamodule=instantiate(cfg.data))
    return trainer


def saved_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"]


def test_ctrl_c_saves_last_checkpoint_and_export_then_stops(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=6")
    previous = signal.getsignal(signal.SIGINT)
    try:
        trainer = fit_with(cfg, At(2, lambda: os.kill(os.getpid(), signal.SIGINT)))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert trainer.global_step == 3  # the step in flight finished, then the run stopped
    assert saved_step(tmp_path) == 3
    assert (tmp_path / "checkpoints" / "generator_ema.pth").is_file()


def test_a_crash_between_iterations_saves_last_checkpoint_and_export(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=6")

    def crash():
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        fit_with(cfg, At(2, crash))
    assert saved_step(tmp_path) == 2
    assert (tmp_path / "checkpoints" / "generator_ema.pth").is_file()


def test_keyboard_interrupt_outside_the_signal_handler_still_saves(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=6")

    def interrupt():
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):  # Lightning's graceful shutdown exits with status 1
            fit_with(cfg, At(1, interrupt))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert saved_step(tmp_path) == 1


def test_a_non_finite_stop_saves_nothing(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=5", "model.max_consecutive_nonfinite=2")
    module = build_module(cfg)
    module.losses["bad"] = NaNAtCalls(range(100))
    with pytest.raises(NonFiniteLossError):
        fit_with(cfg, module=module)
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert not (tmp_path / "checkpoints" / "generator_ema.pth").exists()


def run_train_script(run_dir: Path, *overrides: str):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(root / "train.py"), *TINY, f"hydra.run.dir={run_dir}", *overrides],
                          check=False, capture_output=True, text=True, env=env, timeout=300, cwd=root)


def test_train_log_gets_the_console_messages_and_the_fatal_error(tmp_path):
    run = run_train_script(tmp_path / "run", "trainer.max_steps=3", "optim.generator.lr=1e30",
                           "model.max_consecutive_nonfinite=1", "num_threads=1")  # diverges at step 2
    assert run.returncode != 0 and "NonFiniteLossError" in run.stderr
    log = (tmp_path / "run" / "train.log").read_text()
    assert "Run folder" in log and "Random init" in log  # Lightning's console messages
    assert "Training stopped: NonFiniteLossError" in log and "Traceback" in log  # the fatal error
    assert "Not saving a checkpoint" in log
    assert not [p for p in (tmp_path / "run").rglob("*") if p.is_dir() and not any(p.iterdir())]  # no empty folders


def test_an_image_that_goes_bad_under_strict_stops_cleanly_with_a_checkpoint(tmp_path):
    import cv2
    import numpy as np

    from gpen.data.synthetic import render_face
    from gpen.utils.image_io import UnreadableImageError

    faces = tmp_path / "faces"
    faces.mkdir()
    for i in range(6):
        cv2.imwrite(str(faces / f"{i:05d}.png"), (render_face(i, 32)[0] * 255).astype(np.uint8))
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose("train", overrides=[
            "data=ffhq", f"data.root={faces}", "data.num_workers=0", "data.persistent_workers=false",
            "data.pin_memory=false", "data.out_size=32", "data.batch_size=2", "data.train_dataset.strict=true",
            *TINY[5:], f"paths.run_dir={tmp_path / 'run'}", "trainer.max_steps=6"])

    def corrupt():
        for path in faces.iterdir():
            path.write_bytes(b"\x89PNG gone")

    with pytest.raises(UnreadableImageError, match="strict"):
        fit_with(cfg, At(1, corrupt))
    assert saved_step(tmp_path / "run") == 2  # the batch in hand trained; the next read failed
