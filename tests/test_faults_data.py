"""Data faults: images that go bad mid-run, symlink loops, tiny images, libpng noise, one warning per
bad file, unreadable folders, and a scan cache that makes a restart skip the decode of every file."""

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from gpen.data.degradation import GFPGANDegradation
from gpen.data.folder import FaceFolderDataset
from gpen.data.synthetic import render_face
from gpen.utils import image_io
from gpen.utils.image_io import UnreadableImageError, list_images, scan_images


@pytest.fixture(autouse=True)
def scan_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_CACHE_DIR", str(tmp_path / "cache"))


def write_faces(folder: Path, count: int, size: int = 32) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:05d}.png"), (render_face(i, size)[0][:, :, ::-1] * 255).round().astype(np.uint8))


def test_an_image_that_becomes_unreadable_mid_run_is_skipped_counted_and_named(tmp_path, caplog):
    write_faces(tmp_path / "hq", 3)
    dataset = FaceFolderDataset(tmp_path / "hq", 32, GFPGANDegradation(), flip_prob=0.0)
    (tmp_path / "hq" / "00001.png").write_bytes(b"\x89PNG gone bad")
    with caplog.at_level(logging.WARNING):
        item = dataset[1]
    assert item["name"] == "00002" and "00001.png" in caplog.text
    assert dataset.unreadable_at_run_time == [str(tmp_path / "hq" / "00001.png")]
    (tmp_path / "hq" / "00002.png").unlink()
    dataset[2]
    assert len(dataset.unreadable_at_run_time) == 2 and "2 image(s)" in caplog.text
    strict = FaceFolderDataset(tmp_path / "hq", 32, GFPGANDegradation(), strict=True, verify=False)
    with pytest.raises(UnreadableImageError, match="00001.png"):
        strict[1]


def test_symlink_loops_and_tiny_images_are_reported(tmp_path, caplog):
    write_faces(tmp_path / "hq", 2, size=64)
    os.symlink(tmp_path / "hq" / "loop.png", tmp_path / "hq" / "loop.png")
    cv2.imwrite(str(tmp_path / "hq" / "tiny.png"), np.full((20, 20, 3), 128, np.uint8))
    with caplog.at_level(logging.WARNING):
        dataset = FaceFolderDataset(tmp_path / "hq", 64, GFPGANDegradation())
    assert len(dataset) == 3
    assert "loop.png" in caplog.text and "symlink" in caplog.text
    assert "tiny.png" in caplog.text and "20x20" in caplog.text and "upscaled" in caplog.text


def test_the_same_bad_file_is_warned_about_once_per_run(tmp_path, caplog):
    write_faces(tmp_path / "hq", 2)
    (tmp_path / "hq" / "bad.png").write_bytes(b"\x89PNG broken")
    with caplog.at_level(logging.WARNING):
        FaceFolderDataset(tmp_path / "hq", 32, GFPGANDegradation())  # training set
        FaceFolderDataset(tmp_path / "hq", 32, GFPGANDegradation(), max_images=100)  # validation, same folder
    assert caplog.text.count("bad.png") == 1


def test_libpng_errors_do_not_leak_to_the_console(tmp_path, capfd):
    _, buf = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))
    data = bytearray(buf.tobytes())
    data[60] ^= 0xFF  # a CRC / zlib error inside the image data
    (tmp_path / "crc.png").write_bytes(bytes(data))
    with pytest.raises(UnreadableImageError, match="crc.png"):
        image_io.read_image(tmp_path / "crc.png")
    assert "libpng" not in capfd.readouterr().err


def test_an_unreadable_folder_names_the_path(tmp_path, monkeypatch):
    write_faces(tmp_path / "hq", 1)

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(PermissionError, match=str(tmp_path / "hq")):
        list_images(tmp_path / "hq")


def test_a_restart_reuses_the_scan_and_rescans_only_changed_files(tmp_path, monkeypatch, caplog):
    write_faces(tmp_path / "hq", 4)
    (tmp_path / "hq" / "bad.png").write_bytes(b"\x89PNG broken")
    assert len(scan_images(tmp_path / "hq")) == 4
    assert list((tmp_path / "cache").rglob("*.json")), "no scan cache written"
    assert not list((tmp_path / "hq").glob("*.json")), "the cache must not go into the data folder"
    decoded = []
    real = image_io.read_image
    monkeypatch.setattr(image_io, "read_image", lambda path: decoded.append(Path(path).name) or real(path))
    image_io.forget_scans()  # a new process: only the on-disk cache is left
    with caplog.at_level(logging.WARNING):
        assert len(scan_images(tmp_path / "hq")) == 4
    assert decoded == [] and "bad.png" in caplog.text  # the bad file is still reported
    write_faces(tmp_path / "hq", 1)  # 00000.png rewritten
    os.utime(tmp_path / "hq" / "00000.png", ns=(1, 1))
    image_io.forget_scans()
    assert len(scan_images(tmp_path / "hq")) == 4
    assert decoded == ["00000.png"]
