"""gpen-report on a crafted sweep folder: pooled seeds (mean ± std), best values marked per metric
direction, the Input row, a failed and an unfinished run listed with their log, a run scored on another
test set kept in its own table, and the figures."""

import json
import statistics
from pathlib import Path

import numpy as np
import pytest
import yaml

from gpen.cli.report import main as report
from gpen.metrics.report import ResultsTable
from gpen.utils.image_io import write_image

METRICS = {"psnr": {"_target_": "gpen.metrics.pixel.PSNR"}, "lpips": {"_target_": "gpen.metrics.perceptual.LPIPS"}}


def make_run(sweep: Path, overrides: list[str], cells: dict | None, manifest: str = "aaaa",
             log: str = "[INFO] step 10\n", finished: bool = True) -> Path:
    """A run folder as a Hydra multirun job leaves it; `cells` None: no results.json."""
    name = ",".join(o for o in overrides if not o.startswith("scale="))
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run / "train.log").write_text(log)
    if cells is None:
        return run
    metadata = {"testset": f"synthetic {manifest}", "image_set": {"root": f"synthetic {manifest}", "images": 4,
                                                                 "manifest_sha1": manifest},
                "protocol": {"input_size": None, "resize": None}, "metrics": METRICS,
                "directions": {"PSNR": "higher", "LPIPS": "lower"}, "metric_details": {},
                "training": {"global_step": 300 if finished else 100, "max_steps": 300, "finished": finished}}
    ResultsTable(["PSNR", "LPIPS"], {name: cells, "Input": {"PSNR": 15.0, "LPIPS": 0.6}}, metadata).write(run)
    (run / "csv" / "version_0").mkdir(parents=True)
    (run / "csv" / "version_0" / "metrics.csv").write_text(
        "step,train/loss_pix,val/psnr\n" + "".join(f"{s},{1 / (s + 1)},\n{s},,{cells['PSNR'] - 1 / (s + 1)}\n"
                                                   for s in range(0, 50, 10)))
    rng = np.random.default_rng(len(name))
    for kind in ("lq", "restored", "gt"):
        for face in ("synthetic_00000", "synthetic_00001"):
            write_image(run / "test_faces" / kind / f"{face}.png", rng.uniform(0, 1, (16, 16, 3)))
    return run


def psnr_of(strength: float, seed: int) -> float:
    return 20.0 + strength + 0.1 * seed


def lpips_of(strength: float, seed: int) -> float:
    return 0.3 + 0.1 * (strength - 1.0) ** 2 + 0.01 * seed


def craft_sweep(sweep: Path, strengths=(0.5, 1.0, 1.5), seeds=(0, 1)) -> None:
    for strength in strengths:
        for seed in seeds:
            make_run(sweep, ["scale=demo", f"restore.sft_strength={strength}", f"seed={seed}"],
                     {"PSNR": psnr_of(strength, seed), "LPIPS": lpips_of(strength, seed)})
    make_run(sweep, ["scale=demo", "restore.sft_strength=2.0", "seed=0"], None,
             log="[INFO] start\nTraceback (most recent call last):\n  File \"train.py\", line 1\nValueError: boom\n")
    make_run(sweep, ["scale=demo", "restore.sft_strength=2.5", "seed=0"], None, log="[INFO] step 100 of 300\n")
    make_run(sweep, ["scale=demo", "restore.sft_strength=1.0", "seed=9"], {"PSNR": 30.0, "LPIPS": 0.1},
             manifest="bbbb", finished=False)  # another test set: never in the same table


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("multirun")
    craft_sweep(sweep)
    assert report([str(sweep)]) == 0
    return sweep


def test_pooled_seeds_best_values_and_input_row(crafted):
    data = json.loads((crafted / "report" / "results.json").read_text())
    assert data["keys"] == ["restore.sft_strength", "seed"]
    main, other = data["tables"]
    rows = {row["name"]: row for row in main["rows"]}
    assert list(rows) == ["restore.sft_strength=0.5", "restore.sft_strength=1.0", "restore.sft_strength=1.5"]
    assert all(row["n"] == 2 for row in rows.values())
    expected = [psnr_of(1.5, s) for s in (0, 1)]
    assert rows["restore.sft_strength=1.5"]["mean"]["PSNR"] == pytest.approx(statistics.fmean(expected))
    assert rows["restore.sft_strength=1.5"]["std"]["PSNR"] == pytest.approx(statistics.stdev(expected))
    assert main["best"] == {"PSNR": ["restore.sft_strength=1.5"], "LPIPS": ["restore.sft_strength=1.0"]}
    assert main["input"] == {"PSNR": 15.0, "LPIPS": 0.6}
    assert [row["name"] for row in other["rows"]] == ["restore.sft_strength=1.0,seed=9"] and other["rows"][0]["n"] == 1

    text = (crafted / "report" / "report.md").read_text()
    assert "**2 tables**" in text and "different image sets" in text
    best_psnr = statistics.fmean(expected)
    assert f"**{best_psnr:.4f} ± {statistics.stdev(expected):.4f}**" in text
    assert "| *Input* |" in text and "PSNR ↑" in text and "LPIPS ↓" in text
    assert other["unfinished"] == ["restore.sft_strength=1.0,seed=9 (step 100 of 300)"] and not main["unfinished"]
    assert "restore.sft_strength=1.0,seed=9 (step 100 of 300)" in text


def test_failed_and_unfinished_runs_are_listed_with_their_log(crafted):
    data = json.loads((crafted / "report" / "results.json").read_text())
    status = {run["name"]: (run["status"], run["error"]) for run in data["runs"]}
    assert status["restore.sft_strength=2.0,seed=0"][0] == "failed"
    assert "ValueError: boom" in status["restore.sft_strength=2.0,seed=0"][1]
    assert status["restore.sft_strength=2.5,seed=0"][0] == "incomplete"
    text = (crafted / "report" / "report.md").read_text()
    assert "## Failed or incomplete runs" in text and "ValueError: boom" in text
    lines = (crafted / "report" / "results.csv").read_text().splitlines()
    assert lines[0] == "table,run,folder,status,restore.sft_strength,seed,PSNR,LPIPS"
    assert len(lines) == 1 + 9 + 2  # every run, then one Input row per table
    assert any(",failed,2.0,0,," in line for line in lines)


def test_figures(crafted):
    figures = json.loads((crafted / "report" / "results.json").read_text())["figures"]
    assert {"restore.sft_strength.png", "training_curves.png", "faces_table1.png", "faces_table2.png"} <= set(figures)
    for name in figures:
        assert (crafted / "report" / name).stat().st_size > 1000


def test_several_run_folders_and_no_runs(tmp_path):
    craft_sweep(tmp_path / "a", strengths=(0.5,), seeds=(0,))
    craft_sweep(tmp_path / "b", strengths=(1.0,), seeds=(0,))
    runs = [str(p) for p in sorted((tmp_path / "a").iterdir())[:1] + sorted((tmp_path / "b").iterdir())[:1]]
    assert report([*runs, "--no-figures"]) == 0
    assert (tmp_path / "report" / "report.md").is_file()  # their common parent
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no run folder"):
        report([str(tmp_path / "empty")])
