"""`gpen-make-testset` and `gpen-landmarks`: reproducible output, safe with user folders."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpen.cli import landmarks as landmarks_cli
from gpen.cli import make_testset
from gpen.data.synthetic import render_face


def digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_faces(folder: Path, count: int, size: int, first: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + count):
        cv2.imwrite(str(folder / f"face{i}.png"), (render_face(i, size)[0][:, :, ::-1] * 255).round().astype(np.uint8))


def test_synthetic_testset_is_byte_identical_per_seed(tmp_path):
    args = ["--synthetic", "3", "--size", "48"]
    make_testset.main(args + ["--output", str(tmp_path / "a"), "--seed", "1"])
    make_testset.main(args + ["--output", str(tmp_path / "b"), "--seed", "1"])
    make_testset.main(args + ["--output", str(tmp_path / "c"), "--seed", "2"])
    a, b, c = (digest(tmp_path / n) for n in "abc")
    assert a == b and len(a) == 7  # 3 gt + 3 lq + manifest
    assert {k for k in a if a[k] != c[k]} >= {"lq/synthetic_00000.png", "manifest.json"}
    assert a["gt/synthetic_00000.png"] == c["gt/synthetic_00000.png"]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["count"] == 3 and manifest["seed"] == 1
    assert [e["name"] for e in manifest["images"]] == [f"synthetic_{i:05d}.png" for i in range(3)]
    assert {"sigma_x", "downsample", "noise_sigma", "jpeg_quality"} <= set(manifest["images"][0]["params"])


def test_scale_zero_gives_identical_pairs(tmp_path):
    make_testset.main(["--synthetic", "2", "--size", "32", "--output", str(tmp_path / "o"), "--degradation-scale", "0"])
    d = digest(tmp_path / "o")
    assert d["lq/synthetic_00001.png"] == d["gt/synthetic_00001.png"]


def test_folder_testset_skips_bad_files_and_never_touches_input(tmp_path):
    source = tmp_path / "hq"
    write_faces(source, 2, size=40)
    (source / "bad.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    before = digest(source)
    make_testset.main(["--input", str(source), "--output", str(tmp_path / "out"), "--size", "32"])
    out = digest(tmp_path / "out")
    assert sorted(k for k in out if k.startswith("lq/")) == ["lq/face0.png", "lq/face1.png"]
    assert cv2.imread(str(tmp_path / "out" / "gt" / "face0.png")).shape == (32, 32, 3)
    assert digest(source) == before
    with pytest.raises(SystemExit, match="overlaps"):
        make_testset.main(["--input", str(source), "--output", str(source / "sub")])
    with pytest.raises(SystemExit, match="strict|unreadable"):
        try:
            make_testset.main(["--input", str(source), "--output", str(tmp_path / "strict"), "--strict"])
        except OSError as err:  # UnreadableImageError from the scan
            raise SystemExit(str(err)) from err
    assert digest(source) == before


def test_non_empty_output_needs_overwrite(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    with pytest.raises(SystemExit, match="not empty"):
        make_testset.main(["--synthetic", "1", "--size", "32", "--output", str(out)])
    make_testset.main(["--synthetic", "1", "--size", "32", "--output", str(out), "--overwrite"])
    assert (out / "keep.txt").read_text() == "user file" and (out / "lq" / "synthetic_00000.png").is_file()
    with pytest.raises(SystemExit, match="degradation-scale"):
        make_testset.main(["--synthetic", "1", "--output", str(tmp_path / "x"), "--degradation-scale", "2"])


def test_landmarks_cli_refuses_unsafe_outputs(tmp_path):
    write_faces(tmp_path / "hq", 1, size=64)
    with pytest.raises(SystemExit, match="inside the input"):
        landmarks_cli.main(["--input", str(tmp_path / "hq"), "--output", str(tmp_path / "hq" / "lm.json")])
    (tmp_path / "lm.json").write_text("{}")
    with pytest.raises(SystemExit, match="overwrite"):
        landmarks_cli.main(["--input", str(tmp_path / "hq"), "--output", str(tmp_path / "lm.json")])


@pytest.mark.slow
def test_landmarks_cli_finds_synthetic_eyes_and_mouth(tmp_path):
    from gpen.data.degradation import GFPGANDegradation
    from gpen.data.folder import FaceFolderDataset

    source = tmp_path / "hq"
    write_faces(source, 2, size=128, first=1)  # faces MTCNN finds at this size (it misses a few)
    landmarks_cli.main(["--input", str(source), "--output", str(tmp_path / "lm.json")])
    payload = json.loads((tmp_path / "lm.json").read_text())
    for i in (1, 2):
        points = np.array(payload["images"][f"face{i}.png"]["landmarks"])
        boxes = render_face(i, 128)[2]
        for name, point in (("left_eye", points[0]), ("right_eye", points[1])):
            x1, y1, x2, y2 = boxes[name]
            assert x1 <= point[0] <= x2 and y1 <= point[1] <= y2
        x1, y1, x2, y2 = boxes["mouth"]
        assert x1 <= points[3:, 0].mean() <= x2 and y1 <= points[3:, 1].mean() <= y2
    dataset = FaceFolderDataset(source, 80, GFPGANDegradation(), landmarks_path=tmp_path / "lm.json", flip_prob=0)
    truth = np.array(render_face(1, 80)[2]["left_eye"])
    assert np.abs(dataset[0]["loc_left_eye"].numpy() - truth).max() < 6
