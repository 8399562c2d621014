"""The built-in demo (`python train.py`) uses demo-scale choices; the paper recipe (`experiment=gfpgan_v1`
and every experiment built on it) must keep the official docs/training.md / docs/degradation.md values."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
PAPER_EXPERIMENTS = ["gfpgan_v1", "ablation_sft", "degradation_sweep", "finetune_gfpgan_v14"]


def compose_train(*overrides: str):
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def test_demo_degradation_is_scaled_to_64px():
    cfg = compose_train()
    assert cfg.data.out_size == 64
    assert cfg.degradation.blur_kernel_size == 5
    assert list(cfg.degradation.blur_sigma) == [0.0125, 1.25]
    assert cfg.model.generator.narrow == 0.125 and cfg.model.generator.num_style_feat == 128


@pytest.mark.parametrize("experiment", PAPER_EXPERIMENTS)
def test_paper_recipe_keeps_official_values(experiment):
    cfg = compose_train(f"experiment={experiment}", "data.root=/nonexistent")
    deg = cfg.degradation
    assert deg.blur_kernel_size == 41 and list(deg.blur_sigma) == [0.1, 10]
    assert list(deg.downsample_range) == [0.8, 8] and list(deg.noise_range) == [0, 20]
    assert list(deg.jpeg_range) == [60, 100]
    assert cfg.model.ema_decay == pytest.approx(0.5 ** (32 / 10000))
    assert cfg.model.generator.num_style_feat == 512 and cfg.model.generator.narrow == 1.0
    assert cfg.optim.generator.lr == 2e-3 and list(cfg.optim.generator.betas) == [0.0, 0.99]
    terms = cfg.loss.terms
    assert (terms.pix.weight, terms.gan.weight, terms.comp.weight, terms.comp.style_weight) == (0.1, 0.1, 1.0, 200.0)
    assert (terms.percep.weight, terms.identity.weight, terms.pyramid.weight) == (1.0, 10.0, 1.0)
