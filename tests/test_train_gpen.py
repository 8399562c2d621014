"""GPEN in the framework's pipelines: its training recipe (four steps at test size, optimisers, export), fine-tuning
errors, and evaluate.py restoring a test set with a GPEN file."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from gpen.data.synthetic import SyntheticFaceDataset
from gpen.models.gpen import GPENGenerator
from gpen.models.loading import load_generator

ROOT = Path(__file__).resolve().parents[1]
# scale=tiny (32 px, two steps, random networks) plus a small identity network, and four steps so the
# lazy path-length regulariser (every 4 iterations) runs once.
TEST_SIZE = [
    "scale=tiny", "model.validator.lpips=false", "loss.terms.identity.weight=1.0",
    "loss.terms.identity.arcface.layers=[1,1,1,1]", "loss.terms.identity.arcface.input_size=32",
    "trainer.max_steps=4",
]


def compose_gpen(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=["experiment=gpen_bfr", *TEST_SIZE, *overrides])


def test_recipe_optimisers_use_the_lazy_scalings(tmp_path):
    from gpen.lit.build import build_module

    module = build_module(compose_gpen(f"paths.run_dir={tmp_path}"))
    g_opt, d_opt = module.configure_optimizers()[0]
    assert g_opt.param_groups[0]["lr"] == pytest.approx(1.6e-3)
    assert g_opt.param_groups[0]["betas"] == pytest.approx((0.0, 0.99**0.8))
    assert d_opt.param_groups[0]["lr"] == pytest.approx(2e-3 * 16 / 17)
    assert d_opt.param_groups[0]["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))
    assert sorted(module.losses) == ["gan", "identity", "smooth_l1"]
    assert list(module.regularizers) == ["path_length"] and module.regularizers["path_length"].interval == 4


@pytest.mark.slow
def test_two_training_steps_export_a_loadable_gpen(tmp_path):
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    train_script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_script)
    metrics = train_script.train(compose_gpen(f"paths.run_dir={tmp_path}"))
    assert "val/psnr" in metrics
    logged = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    for name in ("smooth_l1", "identity", "gan", "d_gan", "path_length"):
        assert f"train/loss_{name}" in logged
    generator = load_generator(tmp_path / "checkpoints" / "generator_ema.pth")
    assert isinstance(generator, GPENGenerator) and generator.out_size == 32
    with torch.no_grad():
        assert torch.isfinite(generator(torch.zeros(1, 3, 32, 32))[0]).all()


def test_fine_tuning_from_a_file_of_the_other_architecture_names_the_config_that_fits(tmp_path):
    from types import SimpleNamespace

    from gpen.lit.pretrained import load_generator_weights
    from gpen.models.gfpgan_clean import GFPGANv1Clean
    from gpen.models.loading import CheckpointMismatchError

    gpen_file, gfpgan_file = tmp_path / "GPEN-BFR-64.pth", tmp_path / "GFPGANv1.4.pth"
    torch.save({"g_ema": GPENGenerator(64, 16, 1, narrow=0.0625).state_dict()}, gpen_file)
    gfpgan = GFPGANv1Clean(out_size=64, num_style_feat=16, narrow=0.0625, num_mlp=1)
    torch.save({"params_ema": gfpgan.state_dict()}, gfpgan_file)
    with pytest.raises(CheckpointMismatchError, match=r"GPEN-BFR-64\.pth .*holds a GPENGenerator .*model=gpen"):
        load_generator_weights(SimpleNamespace(generator=gfpgan), str(gpen_file))
    with pytest.raises(CheckpointMismatchError, match=r"GFPGANv1\.4\.pth .*holds a GFPGANv1Clean .*model=gfpgan_clean"):
        load_generator_weights(SimpleNamespace(generator=GPENGenerator(64, 16, 1, narrow=0.0625)), str(gfpgan_file))


@pytest.mark.slow
def test_evaluate_restores_with_a_gpen_file(tmp_path, monkeypatch):
    from gpen.cli.make_testset import main as make_testset

    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "no_weights"))
    root = tmp_path / "set64"
    assert make_testset(["--synthetic", "2", "--size", "96", "--output", str(root)]) == 0
    torch.manual_seed(0)
    checkpoint = tmp_path / "GPEN-BFR-64.pth"  # a flat file, as released: settings inferred from shapes
    torch.save(GPENGenerator(64, 16, 2, narrow=0.0625).state_dict(), checkpoint)
    spec = importlib.util.spec_from_file_location("gpen_evaluate_script", ROOT / "evaluate.py")
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            "progress=false", "batch_size=2", f"testset={root}", f"checkpoint={checkpoint}",
            f"save_restored={tmp_path / 'restored'}", "protocol.resize=64", "metrics.niqe=null",
            "+generator_overrides.sft_strength=0.5"])
    table = evaluate.run(cfg, tmp_path / "run")
    assert isinstance(table.get("GPEN-BFR-64", "PSNR"), float)
    assert len(list((tmp_path / "restored").iterdir())) == 2


def test_gpen_degradation_makes_the_gt_of_gray_samples_gray(tmp_path):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):  # (scale=tiny swaps it)
        degradation = compose("train", overrides=["experiment=gpen_bfr", "degradation.gray_prob=1.0"]).degradation
    dataset = SyntheticFaceDataset(num_images=1, out_size=32, degradation=instantiate(degradation), seed=0)
    item = dataset[0]
    for image in (item["gt"], item["lq"]):
        assert torch.allclose(image[0], image[1], atol=1e-6) and torch.allclose(image[1], image[2], atol=1e-6)
    colour = instantiate(degradation, gray_gt=False)
    gt = SyntheticFaceDataset(num_images=1, out_size=32, degradation=colour, seed=0)[0]["gt"]
    assert not np.allclose(gt[0].numpy(), gt[1].numpy())
