"""Reading and listing images, with bad input reported instead of crashing a long run.

Images are returned as float32 RGB arrays (H, W, 3) in [0, 1]. Grayscale is expanded to three
channels, an alpha channel is dropped (aligned faces carry no useful alpha), and 16-bit files keep
their precision. Input files are only ever read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class UnreadableImageError(OSError):
    """An image file that cannot be decoded (corrupt, truncated, or not an image)."""


class EmptyImageFolderError(FileNotFoundError):
    """A folder that holds no readable image."""


def _looks_truncated(path: Path, data: bytes) -> bool:
    # cv2 decodes a truncated JPEG with a grey tail and only a warning; the end-of-image marker
    # tells a complete file (trailing padding after it is allowed).
    if path.suffix.lower() in (".jpg", ".jpeg"):
        return b"\xff\xd9" not in data[-64:]
    return False


def read_image(path: str | Path) -> np.ndarray:
    """Decode `path` to float32 RGB (H, W, 3) in [0, 1]; raise `UnreadableImageError` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UnreadableImageError(f"{path}: cannot read file ({err.strerror or err})") from err
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None:
        raise UnreadableImageError(f"{path}: not a decodable image (corrupt or unsupported format)")
    if _looks_truncated(path, data):
        raise UnreadableImageError(f"{path}: truncated image file (no end-of-image marker)")
    if image.dtype == np.uint16:
        scale = 65535.0
    elif image.dtype == np.uint8:
        scale = 255.0
    elif image.dtype in (np.float32, np.float64):
        scale = 1.0
    else:
        raise UnreadableImageError(f"{path}: unsupported pixel type {image.dtype}")
    image = image.astype(np.float32) / scale
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    elif image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    if image.shape[2] != 3:
        raise UnreadableImageError(f"{path}: unsupported channel count {image.shape[2]}")
    return np.ascontiguousarray(image[:, :, ::-1]).clip(0.0, 1.0)  # BGR -> RGB


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write float RGB in [0, 1] (or uint8 RGB) as an 8-bit file; PNG is lossless."""
    path = Path(path)
    if image.dtype != np.uint8:
        image = (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise OSError(f"{path}: cannot encode image")
    path.write_bytes(encoded.tobytes())


def list_images(folder: str | Path, suffixes: Iterable[str] = IMAGE_SUFFIXES) -> list[Path]:
    """Image files directly in `folder` (by suffix), sorted by name; clear error if the folder is absent."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    suffixes = tuple(s.lower() for s in suffixes)
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def scan_images(folder: str | Path, strict: bool = False,
                candidates: Iterable[Path] | None = None) -> list[Path]:
    """List the images of `folder` that decode; skip the others with one warning (or raise if strict).

    `candidates` restricts the check to those files of the folder (e.g. the first N of a large set).
    Raises `EmptyImageFolderError` when nothing readable is left.
    """
    folder = Path(folder)
    candidates = list_images(folder) if candidates is None else list(candidates)
    good, bad = [], []
    for path in candidates:
        try:
            read_image(path)
            good.append(path)
        except UnreadableImageError as err:
            bad.append(str(err))
    if bad:
        message = f"{len(bad)} unreadable image(s) in {folder}: " + "; ".join(bad)
        if strict:
            raise UnreadableImageError(message + " (strict mode: fix or remove them)")
        log.warning("skipping %s", message)
    if not good:
        raise EmptyImageFolderError(
            f"no readable image in {folder} (looked for {', '.join(IMAGE_SUFFIXES)}; "
            f"{len(candidates)} candidate file(s), {len(bad)} unreadable)")
    return good
