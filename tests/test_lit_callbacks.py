"""Preemption (SIGUSR1/SIGTERM saves and stops), bf16 mixed precision, fine-tuning from an exported
generator, and the wandb offline/online decision."""

import os
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from gpen.lit.build import build_module, build_trainer
from gpen.lit.checkpointing import export_generator_ema
from gpen.lit.loggers import wandb_logged_in, wandb_logger
from gpen.lit.pretrained import load_pretrained

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")
TINY = [
    "scale=tiny", "data.out_size=32", "data.batch_size=2", "data.val_batch_size=2",
    "data.train_dataset.num_images=6", "data.val_dataset.num_images=2",
    "model.generator.num_style_feat=32", "model.generator.narrow=0.0625", "model.generator.num_mlp=1",
    "model.validator.num_samples=2", "loss.terms.gan.discriminator.narrow=0.0625",
    "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "trainer.max_time=null", "trainer.limit_val_batches=0",
]


def tiny_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose("train", overrides=[*TINY, f"paths.run_dir={tmp_path}", *overrides])


class SignalAt(pl.Callback):
    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_preemption_signal_saves_and_stops(tmp_path, signum):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=5", "callbacks.model_checkpoint.every_n_train_steps=100")
    trainer = build_trainer(cfg)
    trainer.callbacks.append(SignalAt(1, signum))
    previous = signal.getsignal(signum)
    trainer.fit(build_module(cfg), datamodule=instantiate(cfg.data))
    assert trainer.global_step == 2  # the step in flight finishes, then the run stops
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 2
    assert signal.getsignal(signum) == previous  # handlers restored


def test_bf16_mixed_precision_step(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=1", "trainer.precision=bf16-mixed")
    module = build_module(cfg)
    before = {k: v.clone() for k, v in module.generator.state_dict().items()}
    build_trainer(cfg).fit(module, datamodule=instantiate(cfg.data))
    assert module.skipped_steps == 0
    assert any(not torch.equal(before[k], v) for k, v in module.generator.state_dict().items())
    assert all(v.dtype == torch.float32 for v in module.generator.state_dict().values() if v.is_floating_point())


def test_finetune_from_an_exported_generator(tmp_path):
    cfg = tiny_cfg(tmp_path)
    donor = build_module(cfg)
    export_generator_ema(donor, tmp_path / "generator_ema.pth")
    module = build_module(cfg)
    notes = load_pretrained(module, {"generator": str(tmp_path / "generator_ema.pth")})
    assert not any(n.startswith("generator") for n in notes)
    for key, value in donor.generator_ema.state_dict().items():
        assert torch.equal(module.generator.state_dict()[key], value)
        assert torch.equal(module.generator_ema.state_dict()[key], value)


def test_wandb_is_offline_unless_logged_in(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert not wandb_logged_in()
    assert wandb_logger(save_dir=str(tmp_path))._offline
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert wandb_logged_in()
    monkeypatch.setenv("WANDB_MODE", "offline")  # an explicit offline mode always wins
    assert wandb_logger(save_dir=str(tmp_path))._offline
