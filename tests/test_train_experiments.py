"""Every experiment file runs a couple of steps at a tiny size, and a two-process DDP run on CPU (gloo)
trains through `python train.py`."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))
TINY = [
    "data.out_size=32", "data.batch_size=2", "data.val_batch_size=2",
    "data.train_dataset.num_images=4", "data.val_dataset.num_images=2",
    "model.generator.num_style_feat=32", "model.generator.narrow=0.0625", "model.generator.num_mlp=1",
    "model.validator.num_samples=2", "loss.terms.gan.discriminator.narrow=0.0625",
    "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "~callbacks.progress_bar",
    "callbacks.model_checkpoint.every_n_train_steps=1",
]
# GPEN's constructor uses the reference implementation's names for the style width and mapping depth.
GPEN_TINY = [o.replace("num_style_feat", "style_dim").replace("num_mlp", "n_mlp") for o in TINY]
# The paper recipe at test size: synthetic data, CPU, small identity network, no pretrained files.
PAPER_AT_TEST_SIZE = [
    "data=synthetic", "trainer=cpu", "trainer.max_time=null", "callbacks=cpu",
    "loss.terms.identity.arcface.layers=[1,1,1,1]", "loss.terms.identity.arcface.input_size=32",
    "pretrained.generator=null", "pretrained.stylegan2_prior=null", "pretrained.vgg19=null", "pretrained.arcface=null",
]


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_experiment_is_tested():
    assert {"gfpgan_v1", "ablation_cs_sft", "ablation_sft", "ablation_latent_only", "ablation_no_prior",
            "ablation_no_pyramid", "ablation_no_component", "ablation_no_identity",
            "degradation_sweep", "gpen_bfr", "coupling_gpen"} <= set(EXPERIMENTS)


def tiny_overrides(experiment: str) -> list[str]:
    """TINY for the experiment's generator architecture (read from its composed config)."""
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        arch = compose("train", overrides=[f"experiment={experiment}"]).model.arch
    return GPEN_TINY if arch == "gpen" else TINY


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_two_steps(experiment, tmp_path):
    tiny = tiny_overrides(experiment)
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", *PAPER_AT_TEST_SIZE, *tiny,
                                          f"paths.run_dir={tmp_path}"])
    metrics = load_train_script().train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "generator_ema.pth").is_file()
    assert "val/psnr" in metrics
    weights = {name: cfg.loss.terms[name].weight for name in cfg.loss.terms}
    logged = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    for name, weight in weights.items():  # weight 0 removes the term from the log too
        assert (f"train/loss_{name}" in logged or f"train/loss_{name}_gan" in logged) == (weight != 0), name


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "train.py", "trainer=ddp_cpu", "trainer.max_time=null", *TINY,
           f"hydra.run.dir={run_dir}", "loss.terms.identity.weight=0", "loss.terms.percep.weight=0"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "Finished at iteration 2" in log
    assert "distributed_backend=gloo" in log and "All distributed processes registered" in log
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "generator_ema.pth").is_file()
