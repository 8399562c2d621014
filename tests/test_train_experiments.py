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
TINY = ["scale=tiny"]  # configs/scale/tiny.yaml: 32 px, 2 steps, random networks -- what users get too
PRIOR_EXPERIMENTS = {"stylegan2_prior"}


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_experiment_is_tested():
    assert {"gfpgan_v1", "stylegan2_prior", "ablation_cs_sft", "ablation_sft", "ablation_latent_only", "ablation_no_prior",
            "ablation_no_pyramid", "ablation_no_component", "ablation_no_identity", "ablation_comp_gan_only",
            "ablation_comp_feature_match", "ablation_comp_style",
            "degradation_sweep", "gpen_bfr", "coupling_gpen"} <= set(EXPERIMENTS)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_runs_two_steps(experiment, tmp_path):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", *TINY, f"paths.run_dir={tmp_path}"])
    metrics = load_train_script().train(cfg)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "generator_ema.pth").is_file()
    assert "val/swd" in metrics
    restoration = experiment not in PRIOR_EXPERIMENTS  # restoration runs log the LQ references beside
    assert ("val/psnr" in metrics) == ("val/swd_lq" in metrics) == ("val/ssim_lq" in metrics) == restoration
    assert (tmp_path / "results.json").is_file() == restoration  # the end-of-training evaluation
    weights = {name: cfg.loss.terms[name].weight for name in cfg.loss.terms}
    logged = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    for name, weight in weights.items():  # weight 0 removes the term from the log too
        assert (f"train/loss_{name}" in logged or f"train/loss_{name}_gan" in logged) == (weight != 0), name


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "train.py", *TINY, "trainer=ddp_cpu", f"hydra.run.dir={run_dir}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = proc.stdout + proc.stderr
    assert "Finished at iteration 2" in log
    assert "distributed_backend=gloo" in log and "All distributed processes registered" in log
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "generator_ema.pth").is_file()
