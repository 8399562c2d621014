"""Start-up config faults: the paper recipe without a GPU, bad optimiser values, typos in new keys."""

import importlib.util
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gpen.lit.build import build_module, build_trainer
from gpen.utils.validation import ConfigValueError

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.out_size=32", "data.train_dataset.num_images=6", "data.val_dataset.num_images=2",
    "model.generator.num_style_feat=32", "model.generator.narrow=0.0625", "model.generator.num_mlp=1",
    "loss.terms.gan.discriminator.narrow=0.0625", "trainer.max_time=null",
]


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cfg_for(run_dir, *overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=[f"paths.run_dir={run_dir}", *overrides])


def test_the_paper_recipe_without_a_gpu_says_how_to_run_on_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    cfg = cfg_for(tmp_path, "experiment=gfpgan_v1", "data.root=x")
    with pytest.raises(RuntimeError, match="trainer=cpu") as error:
        build_trainer(cfg)
    assert "trainer.accelerator=gpu" in str(error.value)


def test_bad_optimiser_values_are_refused_at_start_up_with_the_key(tmp_path):
    with pytest.raises(ConfigValueError, match=r"optim\.generator.*learning rate: -1"):
        build_module(cfg_for(tmp_path, *TINY, "optim.generator.lr=-1"))
    with pytest.raises(ConfigValueError, match=r"optim\.discriminators\.comp.*betas"):
        build_module(cfg_for(tmp_path, *TINY, "optim.discriminators.comp.betas=[0.9,1.5]"))


def test_unknown_top_level_keys_are_refused(tmp_path):
    with pytest.raises(ConfigValueError, match=r"modle.*model"):
        load_train_script().train(cfg_for(tmp_path, *TINY, "+modle.x=1"))
