"""evaluate.py faults: rows of one table on the same pairs, a restored folder that is the ground truth,
NIQE on small images, readable cells, and an interrupted evaluation that keeps what it finished."""

import importlib.util
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from gpen.cli.make_testset import main as make_testset
from gpen.metrics.report import ResultsTable
from gpen.utils.image_io import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
PIXEL_ONLY = ["metrics.lpips=null", "metrics.fid=null", "metrics.niqe=null", "metrics.deg=null"]


def _evaluate_module():
    spec = importlib.util.spec_from_file_location("gpen_evaluate_script", ROOT / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("evaluate", overrides=["progress=false", "batch_size=2", *overrides])


@pytest.fixture
def testset(tmp_path):
    root = tmp_path / "set"
    assert make_testset(["--synthetic", "6", "--size", "32", "--output", str(root)]) == 0
    return root


def _restored_like_gt(testset: Path, folder: Path) -> Path:
    for path in sorted((testset / "gt").glob("*.png")):
        noisy = read_image(path) + 0.02 * np.random.default_rng(0).standard_normal((32, 32, 3))
        write_image(folder / path.name, np.clip(noisy, 0, 1))
    return folder


def test_every_row_of_a_table_is_scored_on_the_same_pairs(testset, tmp_path):
    restored = _restored_like_gt(testset, tmp_path / "ours")  # 6 restored images
    for name in ("synthetic_00004.png", "synthetic_00005.png"):
        (testset / "lq" / name).unlink()  # the Input row has only 4 pairs
    cfg = _config([f"testset={testset}", f"restored={restored}", *PIXEL_ONLY])
    table = _evaluate_module().run(cfg, tmp_path / "run")
    assert table.metadata["images"] == {"ours": 4, "Input": 4}
    details = table.metadata["metric_details"]
    assert details["ours"]["PSNR"]["images"] == details["Input"]["PSNR"]["images"] == 4
    assert sorted(table.metadata["left_out_for_common_pairs"]["ours"]) == ["synthetic_00004", "synthetic_00005"]


def test_restored_folder_that_is_the_ground_truth_is_refused(testset, tmp_path):
    cfg = _config([f"testset={testset}", f"restored={testset / 'gt'}", *PIXEL_ONLY])
    with pytest.raises(ValueError, match="ground truth"):
        _evaluate_module().run(cfg, tmp_path / "run")
    copy = tmp_path / "copy_of_gt"
    shutil.copytree(testset / "gt", copy)
    cfg = _config([f"testset={testset}", f"restored={copy}", *PIXEL_ONLY])
    with pytest.raises(ValueError, match="identical to the ground truth"):
        _evaluate_module().run(cfg, tmp_path / "run2")


def test_an_interrupted_evaluation_keeps_every_finished_value_and_says_so(testset, tmp_path, monkeypatch):
    from gpen.metrics import pixel

    restored = _restored_like_gt(testset, tmp_path / "ours")
    calls = []
    real_update = pixel.SSIM.update

    def update(self, *args):
        calls.append(1)
        if len(calls) == 4:  # the first batch of the Input row (3 batches of 2 per row)
            raise KeyboardInterrupt
        return real_update(self, *args)

    monkeypatch.setattr(pixel.SSIM, "update", update)
    cfg = _config([f"testset={testset}", f"restored={restored}", *PIXEL_ONLY])
    with pytest.raises(KeyboardInterrupt):
        _evaluate_module().run(cfg, tmp_path / "run")
    saved = ResultsTable.from_json(tmp_path / "run" / "results.json")
    assert isinstance(saved.get("ours", "SSIM"), float)  # finished before the interrupt
    assert isinstance(saved.get("Input", "PSNR"), float) and saved.get("Input", "SSIM") is None
    assert "SSIM" in saved.metadata["interrupted"] and "Input" in saved.metadata["interrupted"]
    assert "interrupted" in (tmp_path / "run" / "results.md").read_text().split("## ")[0].lower()


def test_niqe_below_192_px_is_left_out_in_one_line_without_tracebacks(testset, tmp_path, caplog):
    restored = _restored_like_gt(testset, tmp_path / "ours")
    cfg = _config([f"testset={testset}", f"restored={restored}", "metrics.lpips=null", "metrics.fid=null",
                   "metrics.deg=null"])
    with caplog.at_level(logging.WARNING):
        table = _evaluate_module().run(cfg, tmp_path / "run")
    assert "NIQE" not in table.metrics and "PSNR" in table.metrics
    assert "192" in table.metadata["left_out_metrics"]["NIQE"]
    niqe_lines = [r for r in caplog.records if "NIQE" in r.getMessage()]
    assert len(niqe_lines) == 1 and "not applicable below 192 px" in niqe_lines[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)
    assert "NIQE" in (tmp_path / "run" / "results.md").read_text()  # the note says why


def test_long_reasons_stay_out_of_the_table_cells():
    table = ResultsTable(["PSNR", "FID"])
    reason = "unavailable: Missing pretrained weights for FID Inception-v3: pt_inception.pth\n  looked in: somewhere"
    table.set("ours", "PSNR", 30.0)
    table.set("ours", "FID", reason)
    table.set("Input", "FID", reason)
    text = table.to_markdown()
    rows = [line for line in text.splitlines() if line.startswith(("| ours", "| Input"))]
    assert rows == ["| ours | 30.0000 | unavailable [1] |", "| Input |  | unavailable [1] |"]
    assert "[1] ours, Input / FID: unavailable: Missing pretrained weights" in text and "looked in: somewhere" in text
