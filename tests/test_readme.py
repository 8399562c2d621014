"""The README's two commands: the test command is what CI runs; the main command trains (smoke run)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    return [block.strip() for block in blocks[:2]]


def test_ci_runs_the_readme_test_command():
    main, tests = readme_commands()
    assert main.endswith("python train.py") and "pip install -r requirements.lock" in main
    assert "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text()


def test_main_command_trains_and_leaves_a_run_folder(tmp_path):
    main, _ = readme_commands()
    train_cmd = main.split("&&")[-1].split()  # `python train.py`: the setup part is this environment
    assert train_cmd == ["python", "train.py"]
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "train.py", f"hydra.run.dir={run_dir}", "trainer.max_steps=2",
           "trainer.val_check_interval=2", "callbacks.model_checkpoint.every_n_train_steps=1",
           "data.train_dataset.num_images=8", "data.val_dataset.num_images=2", "num_threads=1"]
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "NO_ALBUMENTATIONS_UPDATE": "1"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"Run folder: {run_dir}" in proc.stdout + proc.stderr
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "checkpoints" / "generator_ema.pth").is_file()
    assert list((run_dir / "samples").glob("*.png")), "no sample grid written"
    assert list(run_dir.glob("csv/*/metrics.csv")), "no metrics log written"
