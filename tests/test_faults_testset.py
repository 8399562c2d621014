"""`gpen-make-testset` faults: no leakage of training faces, a degradation that fits the size, an exact
overwrite, and no silent loss of inputs whose names differ only by suffix."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpen.cli import make_testset
from gpen.data.synthetic import render_face


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def test_synthetic_test_faces_are_disjoint_from_training_and_validation_faces(tmp_path):
    make_testset.main(["--synthetic", "2", "--size", "32", "--output", str(tmp_path / "o")])
    first_id = manifest(tmp_path / "o")["synthetic_first_id"]
    assert first_id >= 2_000_000  # training: ids 0..9999, validation: 1,000,000 + i
    gt = cv2.imread(str(tmp_path / "o" / "gt" / "synthetic_00001.png"))[:, :, ::-1]
    expected = (render_face(first_id + 1, 32)[0] * 255).round().astype(np.uint8)
    assert np.array_equal(gt, expected)
    assert not np.array_equal(gt, (render_face(1, 32)[0] * 255).round().astype(np.uint8))
    assert manifest(tmp_path / "o")["images"][1]["source"] == f"synthetic:{first_id + 1}"


def test_degradation_is_scaled_to_the_output_size_and_recorded(tmp_path):
    make_testset.main(["--synthetic", "1", "--size", "64", "--output", str(tmp_path / "small")])
    small = manifest(tmp_path / "small")
    assert small["degradation"]["blur_kernel_size"] == 5  # 41 px at 512 -> 5 px at 64, as gfpgan_small
    assert small["degradation"]["blur_sigma"] == pytest.approx([0.0125, 1.25])
    assert "64" in small["degradation_preset"] and "gfpgan" in small["degradation_preset"]
    assert small["images"][0]["params"]["sigma_x"] <= 1.25
    make_testset.main(["--synthetic", "1", "--size", "64", "--degradation", "gfpgan",
                       "--output", str(tmp_path / "official")])
    assert manifest(tmp_path / "official")["degradation"]["blur_kernel_size"] == 41
    assert manifest(tmp_path / "official")["degradation_preset"] == "gfpgan"
    make_testset.main(["--synthetic", "1", "--size", "64", "--degradation", "gfpgan_small",
                       "--output", str(tmp_path / "preset")])
    assert manifest(tmp_path / "preset")["degradation"]["blur_sigma"] == pytest.approx([0.0125, 1.25])
    with pytest.raises(SystemExit, match="no_such_preset.*gfpgan_small"):
        make_testset.main(["--synthetic", "1", "--degradation", "no_such_preset", "--output", str(tmp_path / "x")])


def test_overwrite_leaves_exactly_the_new_set_and_never_deletes_unknown_files(tmp_path):
    out = tmp_path / "o"
    make_testset.main(["--synthetic", "3", "--size", "32", "--output", str(out)])
    make_testset.main(["--synthetic", "1", "--size", "32", "--output", str(out), "--overwrite"])
    assert sorted(p.name for p in (out / "gt").iterdir()) == ["synthetic_00000.png"]
    assert sorted(p.name for p in (out / "lq").iterdir()) == ["synthetic_00000.png"]
    assert manifest(out)["count"] == 1
    (out / "gt" / "mine.png").write_bytes(b"user data")
    with pytest.raises(SystemExit, match="mine.png"):
        make_testset.main(["--synthetic", "2", "--size", "32", "--output", str(out), "--overwrite"])
    assert (out / "gt" / "mine.png").read_bytes() == b"user data"
    assert (out / "gt" / "synthetic_00000.png").is_file()  # the refused run removed nothing


def test_inputs_whose_names_differ_only_by_suffix_are_refused(tmp_path):
    source = tmp_path / "hq"
    source.mkdir()
    face = (render_face(0, 32)[0][:, :, ::-1] * 255).round().astype(np.uint8)
    cv2.imwrite(str(source / "a.png"), face)
    cv2.imwrite(str(source / "a.jpg"), face)
    cv2.imwrite(str(source / "b.png"), face)
    with pytest.raises(SystemExit, match=r"a\.jpg.*a\.png|a\.png.*a\.jpg"):
        make_testset.main(["--input", str(source), "--output", str(tmp_path / "o"), "--size", "32"])
    assert not (tmp_path / "o" / "gt").exists()
