"""Sweeps end to end: run folders named by what differs, a result per training run (also after a
resume), re-launching an interrupted job, the launchers' configs, and studies composing."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import OmegaConf

from gpen.lit.build import build_module, build_trainer
from gpen.metrics.report import ResultsTable
from gpen.sweep.naming import differing_keys, run_names, safe_dirname

ROOT = Path(__file__).resolve().parents[1]
TINY = [  # the tiny scale (32 px, a few images, random networks) with a small final evaluation
    "scale=tiny", "callbacks.evaluation.synthetic.num_images=3", "callbacks.evaluation.saved_faces=2",
    "callbacks.evaluation.metrics.niqe=null",  # NIQE needs faces of 192 px and more
]
# what every results.json holds, whether written by evaluate.py or by the end of training
RESULTS_METADATA = {"testset", "paired", "image_set", "protocol", "metrics", "device", "machine", "packages",
                    "checkpoint", "restored_folder", "restoration", "images", "skipped", "directions",
                    "metric_details"}


def compose_train(*overrides, hydra_config=False):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=hydra_config)


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_names_keep_what_differs():
    jobs = [["scale=demo", "experiment=ablation_sft", "seed=0"], ["scale=demo", "experiment=ablation_cs_sft", "seed=0"],
            ["scale=demo", "experiment=ablation_sft", "seed=1"], ["scale=demo", "experiment=ablation_cs_sft", "seed=1"]]
    assert differing_keys(jobs) == ["experiment", "seed"]
    assert run_names(jobs) == ["experiment=ablation_sft,seed=0", "experiment=ablation_cs_sft,seed=0",
                               "experiment=ablation_sft,seed=1", "experiment=ablation_cs_sft,seed=1"]
    # one job: everything but the excluded keys; paths never nest folders; "+" prefixes dropped
    assert run_names([["study=table4", "+restore.sft_strength=0.5"]], exclude=["study"]) == ["restore.sft_strength=0.5"]
    assert run_names([["checkpoint=a/b.pth", "x=1"], ["checkpoint=a/c.pth", "x=1"]]) == \
        ["checkpoint=a_b.pth", "checkpoint=a_c.pth"]
    assert run_names([["study=t"]], exclude=["study"]) == ["run"]
    long = safe_dirname("k=" + "v" * 400)
    assert len(long) <= 150 and long != safe_dirname("k=" + "v" * 399 + "w")


@pytest.mark.parametrize("study, experiments", [
    ("table4", ["ablation_cs_sft", "ablation_sft", "ablation_latent_only", "ablation_no_prior", "ablation_no_pyramid"]),
    ("fig7", ["ablation_no_component", "ablation_comp_gan_only", "ablation_comp_feature_match", "ablation_comp_style"]),
    ("coupling", ["ablation_cs_sft", "ablation_sft", "ablation_latent_only", "coupling_gpen"]),
])
def test_studies_compose_one_command_sweeps(study, experiments):
    cfg = compose_train(f"study={study}", hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    assert cfg.hydra.sweeper._target_.endswith("NamedRunSweeper")
    assert cfg.hydra.sweeper.params.experiment.split(",") == experiments
    assert cfg.ckpt_path == "auto"
    sweep_dir = OmegaConf.to_yaml(cfg.hydra.sweep, resolve=False)
    assert "${now" not in sweep_dir  # re-launch finds the same folders
    assert "${hydra:" not in sweep_dir  # the sweeper reads it before Hydra sets HydraConfig
    assert cfg.hydra.sweep.dir == f"outputs/studies/{study}/paper"
    demo = compose_train(f"study={study}", "scale=demo", hydra_config=True)
    HydraConfig.instance().set_config(demo)
    assert demo.hydra.sweep.dir == f"outputs/studies/{study}/demo"  # demo and paper runs never share folders
    for experiment in experiments:  # every row composes at both scales (and its loss option exists)
        compose_train(f"experiment={experiment}")
        assert compose_train(f"experiment={experiment}", "scale=demo").data.out_size == 64


def test_coupling_study_turns_the_pyramid_loss_off_in_every_run():
    for experiment in ("ablation_cs_sft", "coupling_gpen"):
        assert compose_train("study=coupling", f"experiment={experiment}").loss.terms.pyramid.weight == 0


def test_fig7_rows_differ_in_the_component_loss():
    terms = {e: compose_train(f"experiment={e}").loss.terms.comp for e in
             ("ablation_no_component", "ablation_comp_gan_only", "ablation_comp_feature_match", "ablation_comp_style")}
    assert terms["ablation_no_component"].weight == 0
    assert (terms["ablation_comp_gan_only"].style_weight, terms["ablation_comp_gan_only"].feature_match_weight) == (0, 0)
    assert terms["ablation_comp_feature_match"].feature_match_weight > 0 == terms["ablation_comp_feature_match"].style_weight
    assert terms["ablation_comp_style"].style_weight == 200 and terms["ablation_comp_style"].feature_match_weight == 0


def test_slurm_launcher_config_composes_into_sbatch_options(tmp_path, monkeypatch):
    import submitit
    from submitit.slurm.slurm import _make_sbatch_string

    cfg = compose_train("hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2",
                        "hydra.launcher.partition=gpu", "hydra.launcher.timeout_min=600",
                        f"hydra.sweep.dir={tmp_path}", hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    launcher = instantiate(cfg.hydra.launcher)
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["tasks_per_node"] == 4 == launcher.params["gpus_per_node"]
    assert launcher.params["nodes"] == 2 and launcher.params["max_num_timeout"] > 0
    captured = {}

    def capture(executor, function, *args):  # instead of submitting: keep the executor's sbatch options
        captured["executor"] = executor._executor
        return []

    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # no srun here
    monkeypatch.setattr(submitit.AutoExecutor, "map_array", capture)
    launcher.config = cfg
    assert launcher.launch([["seed=0"]], initial_job_idx=0) == []
    executor = captured["executor"]
    assert executor.max_num_timeout == launcher.params["max_num_timeout"]
    sbatch = _make_sbatch_string(command="python train.py", folder=tmp_path, **executor.parameters)
    for option in ("--ntasks-per-node=4", "--gpus-per-node=4", "--nodes=2", "--partition=gpu", "--time=600",
                   "--signal=USR2@120"):
        assert option in sbatch, option


def test_auto_resume_picks_the_newest_checkpoint_of_the_run(tmp_path):
    from gpen.lit.checkpointing import find_resume_checkpoint

    assert find_resume_checkpoint(tmp_path) is None  # a fresh run
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir()
    last.write_bytes(b"a")
    hpc = tmp_path / "hpc_ckpt_1.ckpt"  # Lightning's SLURM auto-requeue save, in the run folder
    hpc.write_bytes(b"b")
    os.utime(last, (1, 1))
    assert find_resume_checkpoint(tmp_path) == hpc
    os.utime(hpc, (0, 0))
    assert find_resume_checkpoint(tmp_path) == last


def test_local_launcher_config_composes():
    cfg = compose_train("hydra/launcher=local", hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2


def _check_results(run_dir: Path, step: int) -> ResultsTable:
    table = ResultsTable.from_json(run_dir / "results.json")
    assert RESULTS_METADATA <= set(table.metadata)
    assert table.metadata["training"]["global_step"] == step
    assert table.metadata["image_set"]["images"] == 3 and "manifest_sha1" in table.metadata["image_set"]
    assert list(table.rows) == [run_dir.name, "Input"]
    assert isinstance(table.get("Input", "PSNR"), float) and isinstance(table.get(run_dir.name, "SSIM"), float)
    assert table.metadata["directions"]["PSNR"] == "higher" and table.metadata["directions"]["LPIPS"] == "lower"
    assert len(list((run_dir / "test_faces" / "restored").glob("*.png"))) == 2
    assert not list(run_dir.glob(".final_eval_*"))  # the temporary test set is gone
    return table


class SignalAt(pl.Callback):
    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_start(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def test_cluster_signal_saves_first_then_reaches_the_launchers_handler(tmp_path):
    """submitit's SIGUSR2 handler (requeue, then exit) must run after last.ckpt is saved, not mid-step."""
    cfg = compose_train(*TINY, "trainer.max_steps=5", f"paths.run_dir={tmp_path}")
    calls = []

    def launcher_handler(signum, frame):  # stands in for submitit's checkpoint_and_try_requeue
        last = tmp_path / "checkpoints" / "last.ckpt"
        calls.append(torch.load(last, weights_only=False)["global_step"] if last.is_file() else None)

    previous = signal.signal(signal.SIGUSR2, launcher_handler)
    try:
        trainer = build_trainer(cfg)
        trainer.callbacks.append(SignalAt(1, signal.SIGUSR2))
        trainer.fit(build_module(cfg), datamodule=instantiate(cfg.data))
        assert calls == [2] and trainer.global_step == 2  # saved at the step boundary, then handed on
        assert signal.getsignal(signal.SIGUSR2) is launcher_handler  # restored after training
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert not (tmp_path / "results.json").exists()  # stopped by a signal: scored when resumed


@pytest.mark.slow
def test_interrupted_job_is_not_scored_and_its_relaunch_resumes_and_scores(tmp_path, caplog):
    run_dir = tmp_path / "experiment=ablation_sft"
    cfg = compose_train(*TINY, "trainer.max_steps=4", "callbacks.model_checkpoint.every_n_train_steps=2",
                        f"paths.run_dir='{run_dir}'")  # quoted: '=' in the path
    assert cfg.ckpt_path == "auto"
    trainer = build_trainer(cfg)  # the job, killed by SIGTERM (time limit) during step 2
    trainer.callbacks.append(SignalAt(1, signal.SIGTERM))
    trainer.fit(build_module(cfg), datamodule=instantiate(cfg.data))
    assert trainer.global_step == 2 and (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert not (run_dir / "results.json").exists()  # preempted: no final evaluation yet

    metrics = load_train_script().train(cfg)  # the same job, re-launched
    assert "val/psnr" in metrics
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4
    resumed_log = (run_dir / "csv" / "version_1" / "metrics.csv").read_text().splitlines()
    steps = {int(line.split(",")[resumed_log[0].split(",").index("step")]) for line in resumed_log[1:]}
    assert min(steps) >= 2  # it went on from step 2, it did not start over
    _check_results(run_dir, step=4)
    before = (run_dir / "results.json").stat().st_mtime_ns
    load_train_script().train(cfg)  # a finished job, re-launched again: nothing is trained or scored twice
    assert (run_dir / "results.json").stat().st_mtime_ns == before


@pytest.mark.slow
def test_local_launcher_sweep_of_two_tiny_runs_then_report(tmp_path):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "train.py", "-m", "hydra/launcher=local", *TINY, "trainer.max_steps=2",
           "num_threads=1", "seed=0,1", f"hydra.sweep.dir={sweep}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["seed=0", "seed=1"]  # not 0/, 1/
    for name in ("seed=0", "seed=1"):
        _check_results(sweep / name, step=2)
        assert (sweep / name / "train.log").is_file()

    from gpen.cli.report import main as report

    assert report([str(sweep)]) == 0
    data = json.loads((sweep / "report" / "results.json").read_text())
    (table,) = data["tables"]
    assert [row["n"] for row in table["rows"]] == [2]  # the two seeds pooled: mean ± std
    assert "±" in (sweep / "report" / "report.md").read_text()
    assert (sweep / "report" / "training_curves.png").is_file() and (sweep / "report" / "faces_table1.png").is_file()
