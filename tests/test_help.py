"""Usage texts of the entry points: train.py / evaluate.py --help (Hydra help templates), evaluate.py's
one-line usage errors, and defaults in the console commands' --help."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "NO_ALBUMENTATIONS_UPDATE": "1",
       "HYDRA_FULL_ERROR": "0"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=300, check=False)


def test_train_help_is_a_short_usage_page_with_examples():
    proc = run("train.py", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    assert "Usage: python train.py" in text and "Examples:" in text
    assert "python train.py experiment=gfpgan_v1 data.root=" in text
    assert "experiment: " in text and "ablation_sft" in text  # the config groups, with their options
    assert "docs/training.md" in text
    assert "_target_" not in text, "the help page should not dump the composed config"
    assert len(text.splitlines()) < 60


def test_evaluate_help_lists_only_its_own_config_groups():
    proc = run("evaluate.py", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    assert "Usage: python evaluate.py testset=" in text and "Examples:" in text
    defaults = yaml.safe_load((ROOT / "configs" / "evaluate.yaml").read_text())["defaults"]
    groups = [key for entry in defaults if isinstance(entry, dict) for key in entry if not key.startswith("override")]
    assert groups, "evaluate.yaml's defaults name no config group"
    for group in groups:
        options = ", ".join(sorted(p.stem for p in (ROOT / "configs" / group).glob("*.yaml")))
        assert f"{group}: {options}" in text, f"update configs/hydra/help/evaluate.yaml: {group}: {options}"
    for training_group in ("trainer:", "model:", "loss:", "experiment:", "optim:"):
        assert training_group not in text


def test_evaluate_without_testset_is_one_line_and_exit_status_2(tmp_path):
    proc = run("evaluate.py", f"hydra.run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "testset=" in lines[0], proc.stderr


def test_evaluate_needs_exactly_one_of_checkpoint_and_restored():
    spec = importlib.util.spec_from_file_location("gpen_evaluate_script", ROOT / "evaluate.py")
    evaluate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(evaluate)
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        neither = compose("evaluate", overrides=["testset=somewhere"])
        both = compose("evaluate", overrides=["testset=somewhere", "checkpoint=a.pth", "restored=b"])
        one = compose("evaluate", overrides=["testset=somewhere", "checkpoint=a.pth"])
    for cfg in (neither, both):
        message = evaluate.usage_error(cfg)
        assert message.startswith("error:") and "checkpoint=" in message and "\n" not in message
    assert evaluate.usage_error(one) is None


def help_text(main_module: str, capsys) -> str:
    module = __import__(f"gpen.cli.{main_module}", fromlist=["parse_args"])
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(["--help"])
    assert exit_info.value.code == 0
    return re.sub(r"\s+", " ", capsys.readouterr().out)


@pytest.mark.parametrize("module, shown", [
    ("make_testset", ["--size SIZE output side in pixels (default: 512)", "(default: 0)", "(default: 1.0)"]),
    ("landmarks", ["(default: cpu)", "(default: 40)"]),
    ("fid_stats", ["(default: 32)", "(default: 2)", "(default: pt_inception-2015-12-05-6726825d.pth)"]),
])
def test_console_command_help_shows_defaults(module, shown, capsys):
    text = help_text(module, capsys)
    for piece in shown:
        assert piece in text
    assert "(default: None)" not in text and "(default: False)" not in text
