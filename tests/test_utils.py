"""Shared helpers: config validation, pretrained-weight lookup, image reading."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from gpen.utils.image_io import (EmptyImageFolderError, UnreadableImageError, read_image, scan_images,
                                 write_image)
from gpen.utils.pretrained import MissingWeightsError, resolve_weights
from gpen.utils.validation import ConfigValueError, check_interval, check_odd, check_range


def test_check_range_names_key_and_range():
    assert check_range("a.b", 0.5, 0.0, 1.5) == 0.5
    with pytest.raises(ConfigValueError, match=r"a\.b=2.0 is out of range; valid range is \[0, 1.5\]"):
        check_range("a.b", 2.0, 0.0, 1.5)
    with pytest.raises(ConfigValueError, match="not a number"):
        check_range("k", "x", 0, 1)


def test_check_interval_and_odd():
    assert check_interval("jpeg", [60, 100], 1, 100) == (60, 100)
    with pytest.raises(ConfigValueError, match=r"jpeg\[1\]"):
        check_interval("jpeg", [60, 101], 1, 100)
    with pytest.raises(ConfigValueError, match="larger than max"):
        check_interval("sigma", [5, 1], 0, None)
    with pytest.raises(ConfigValueError, match="odd integer"):
        check_odd("blur_kernel_size", 40)


def test_resolve_weights_cache_and_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path))
    (tmp_path / "w.pth").write_bytes(b"x")
    assert resolve_weights("w.pth", what="VGG19", config_key="loss.vgg") == tmp_path / "w.pth"
    with pytest.raises(MissingWeightsError) as err:
        resolve_weights("missing.pth", what="ArcFace", config_key="loss.identity.path",
                        disable_hint="loss.identity.weight=0")
    text = str(err.value)
    assert "missing.pth" in text and "loss.identity.path" in text and str(tmp_path) in text
    assert "loss.identity.weight=0" in text


@pytest.fixture()
def rgb():
    rng = np.random.default_rng(0)
    return rng.random((12, 10, 3), dtype=np.float32)


def test_roundtrip_png_and_channel_variants(tmp_path, rgb):
    write_image(tmp_path / "a.png", rgb)
    back = read_image(tmp_path / "a.png")
    assert back.shape == (12, 10, 3) and np.abs(back - rgb).max() <= 0.5 / 255 + 1e-6
    gray = (rgb[:, :, 0] * 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    g = read_image(tmp_path / "g.png")
    assert g.shape == (12, 10, 3) and np.allclose(g[:, :, 0], g[:, :, 2])
    rgba = np.dstack([(rgb * 255).astype(np.uint8)[:, :, ::-1], np.full((12, 10), 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    assert np.abs(read_image(tmp_path / "rgba.png") - read_image(tmp_path / "a.png")).max() <= 1 / 255 + 1e-6
    deep = (rgb * 65535).astype(np.uint16)[:, :, ::-1]
    cv2.imwrite(str(tmp_path / "d16.png"), deep)
    d = read_image(tmp_path / "d16.png")
    assert np.abs(d - rgb).max() < 2 / 65535  # 16-bit precision kept


def test_bad_files_are_skipped_or_fatal(tmp_path, rgb, caplog):
    write_image(tmp_path / "ok.png", rgb)
    (tmp_path / "notes.png").write_text("not an image")
    write_image(tmp_path / "full.jpg", rgb)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "full.jpg").unlink()
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    assert scan_images(tmp_path) == [tmp_path / "ok.png"]
    assert "2 unreadable image(s)" in caplog.text and "cut.jpg" in caplog.text and "notes.png" in caplog.text
    with pytest.raises(UnreadableImageError, match="strict"):
        scan_images(tmp_path, strict=True)
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == before  # nothing written
    (tmp_path / "ok.png").unlink()
    with pytest.raises(EmptyImageFolderError, match=str(tmp_path)):
        scan_images(tmp_path)
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        scan_images(Path(tmp_path) / "nope")
