"""The evaluation API over test-set folders: unavailable metrics, failures, partial results, bad files."""

import numpy as np
import pytest
import torch

from gpen.data.testsets import ImagePairs, open_testset
from gpen.metrics.api import evaluate_rows
from gpen.metrics.base import PerImageMetric
from gpen.metrics.fid import FID
from gpen.metrics.niqe import NIQE
from gpen.metrics.perceptual import LPIPS
from gpen.metrics.pixel import PSNR, SSIM
from gpen.utils.image_io import write_image


def _write_set(root, names, size=32, seed=0, noise=0.05):
    rng = np.random.default_rng(seed)
    for name in names:
        gt = rng.random((size, size, 3))
        write_image(root / "gt" / f"{name}.png", gt)
        write_image(root / "lq" / f"{name}.png", np.clip(gt + noise * rng.standard_normal(gt.shape), 0, 1))
    return root


class Broken(PerImageMetric):
    name = "Broken"

    def score(self, restored, reference):
        raise RuntimeError("boom")


def test_paired_and_unpaired_sets_are_recognised(tmp_path):
    paired = open_testset(_write_set(tmp_path / "celeba", ["a", "b"]))
    assert paired.paired and paired.inputs.name == "lq" and paired.references.name == "gt"
    write_image(tmp_path / "web" / "x.jpg", np.zeros((8, 8, 3)))
    unpaired = open_testset(tmp_path / "web")
    assert not unpaired.paired and unpaired.inputs == tmp_path / "web"
    with pytest.raises(FileNotFoundError, match="testset"):
        open_testset(tmp_path / "absent")


def test_pairs_match_by_name_and_report_corrupt_and_unmatched_files(tmp_path):
    root = _write_set(tmp_path / "set", ["a", "b", "c"])
    (root / "lq" / "b.png").write_bytes(b"not an image")
    write_image(root / "lq" / "extra.png", np.zeros((32, 32, 3)))
    pairs = ImagePairs(root / "lq", root / "gt")
    assert pairs.names == ["a", "c"]
    assert pairs.skipped.unreadable == [str(root / "lq" / "b.png")]
    assert str(root / "lq" / "extra") in pairs.skipped.unmatched and str(root / "gt" / "b") in pairs.skipped.unmatched
    item = pairs[0]
    assert item["image"].shape == item["reference"].shape == (3, 32, 32)
    assert ImagePairs(root / "lq", root / "gt", size=16)[0]["image"].shape == (3, 16, 16)


def test_unavailable_and_failing_metrics_do_not_stop_the_others(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "no_weights"))
    root = _write_set(tmp_path / "set", ["a", "b", "c"])
    rows = {"ours": ImagePairs(root / "gt", root / "gt"), "Input": ImagePairs(root / "lq", root / "gt")}
    snapshots = []
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"not numpy")
    metrics = [PSNR(), LPIPS(), Broken(), FID(reference_stats=tmp_path / "ffhq.npz"), SSIM(),
               NIQE(params_file=damaged)]
    table = evaluate_rows(rows, metrics, "cpu", batch_size=2, progress=False,
                          on_update=lambda t: snapshots.append({r: dict(c) for r, c in t.rows.items()}))
    assert table.metrics == ["PSNR", "LPIPS", "Broken", "FID", "SSIM"]  # NIQE: 32 px images, left out
    assert table.get("ours", "PSNR") == float("inf") and 20 < table.get("Input", "PSNR") < 40
    assert table.get("ours", "SSIM") == pytest.approx(1.0) and table.get("Input", "SSIM") < 1.0
    assert table.get("ours", "LPIPS").startswith("unavailable: Missing pretrained weights for LPIPS vgg")
    assert table.get("Input", "FID").startswith("unavailable: FID reference statistics not found")
    assert table.get("ours", "Broken") == "failed: RuntimeError: boom"
    assert "not applicable below 192 px" in table.metadata["left_out_metrics"]["NIQE"]
    assert len(snapshots) == 10 and "Input" not in snapshots[0]  # written after every value (5 metrics x 2 rows)
    assert "SSIM" not in snapshots[1]["ours"]
    assert table.metadata["metric_details"]["Input"]["PSNR"]["images"] == 3


def test_reference_metrics_are_not_run_on_unpaired_rows(tmp_path):
    root = _write_set(tmp_path / "set", ["a", "b"])

    class MeanLevel(PerImageMetric):
        name, needs_reference = "Mean", False

        def score(self, restored, reference):
            return restored.mean(dim=(1, 2, 3))

    table = evaluate_rows({"ours": ImagePairs(root / "lq")}, [PSNR(), MeanLevel()], "cpu", progress=False)
    assert "PSNR" not in table.rows["ours"]
    expected = float(torch.stack([ImagePairs(root / "lq")[i]["image"].mean() for i in range(2)]).mean())
    assert table.get("ours", "Mean") == pytest.approx(expected, abs=1e-6)
