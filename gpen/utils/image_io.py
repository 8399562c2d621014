"""Reading and listing images, with bad input reported instead of crashing a long run.

Images are returned as float32 RGB arrays (H, W, 3) in [0, 1]. Grayscale is expanded to three
channels, an alpha channel is dropped (aligned faces carry no useful alpha), and 16-bit files keep
their precision. Input files are only ever read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from gpen.utils import scan_cache

log = logging.getLogger(__name__)

#: (path, mtime) of the bad files already reported in this process: one warning per file per run.
_warned: set[tuple[str, int]] = set()

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


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C libraries (libpng, libjpeg) that print their own error lines to fd 2; our error says it."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def read_image(path: str | Path) -> np.ndarray:
    """Decode `path` to float32 RGB (H, W, 3) in [0, 1]; raise `UnreadableImageError` naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UnreadableImageError(f"{path}: cannot read file ({err.strerror or err})") from err
    with _quiet_stderr():
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
    """Image files directly in `folder` (by suffix), sorted by name; clear error if the folder is absent
    or cannot be read. Broken symlinks and symlink loops are left out with one warning."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    suffixes = tuple(s.lower() for s in suffixes)
    try:
        entries = [p for p in folder.iterdir() if p.suffix.lower() in suffixes]
    except PermissionError as err:
        raise PermissionError(err.errno, f"cannot list the image folder {folder} ({err.strerror or err}); "
                              "check its permissions") from None
    files = sorted(p for p in entries if p.is_file())
    dangling = sorted(p.name for p in entries if p.is_symlink() and not p.exists())
    if dangling and _first_report(folder / "\0links", len(dangling)):
        log.warning("skipping %d broken symlink(s) or symlink loop(s) in %s: %s", len(dangling), folder,
                    ", ".join(dangling[:20]))
    return files


def _first_report(path: Path, stamp: int) -> bool:
    key = (str(path), stamp)
    if key in _warned:
        return False
    _warned.add(key)
    return True


def _scan(folder: Path, candidates: list[Path]) -> dict[Path, tuple[int, int] | str]:
    """(h, w) or the reason it is unreadable, per candidate; decoded only when not in the scan cache."""
    cache = scan_cache.load(folder.resolve())
    results: dict[Path, tuple[int, int] | str] = {}
    changed = False
    for path in candidates:
        try:
            stat = path.stat()
            stamp = [stat.st_size, stat.st_mtime_ns]
        except OSError as err:
            results[path] = f"{path}: cannot read file ({err.strerror or err})"
            continue
        entry = cache.get(path.name)
        if entry is None or entry[:2] != stamp:
            try:
                image = read_image(path)
                entry = [*stamp, int(image.shape[0]), int(image.shape[1])]
            except UnreadableImageError as err:
                entry = [*stamp, str(err)]
            cache[path.name] = entry
            changed = True
        results[path] = tuple(entry[2:]) if len(entry) == 4 else entry[2]
    if changed:
        scan_cache.save(folder.resolve())
    return results


def scan_image_sizes(folder: str | Path, strict: bool = False,
                     candidates: Iterable[Path] | None = None) -> dict[Path, tuple[int, int]]:
    """The readable images of `folder` with their (h, w); unreadable ones are skipped with one warning
    per file and run (or raise if strict). Results are cached per folder (see gpen.utils.scan_cache).

    `candidates` restricts the check to those files of the folder (e.g. the first N of a large set).
    Raises `EmptyImageFolderError` when nothing readable is left.
    """
    folder = Path(folder)
    candidates = list_images(folder) if candidates is None else list(candidates)
    results = _scan(folder, candidates)
    good = {p: r for p, r in results.items() if isinstance(r, tuple)}
    bad = {p: r for p, r in results.items() if isinstance(r, str)}
    if bad:
        message = f"{len(bad)} unreadable image(s) in {folder}: " + "; ".join(bad.values())
        if strict:
            raise UnreadableImageError(message + " (strict mode: fix or remove them)")
        new = [r for p, r in bad.items() if _first_report(p, _mtime(p))]
        if new:
            log.warning("skipping %d unreadable image(s) in %s: %s", len(new), folder, "; ".join(new))
    if not good:
        raise EmptyImageFolderError(
            f"no readable image in {folder} (looked for {', '.join(IMAGE_SUFFIXES)}; "
            f"{len(candidates)} candidate file(s), {len(bad)} unreadable)")
    return good


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def scan_images(folder: str | Path, strict: bool = False,
                candidates: Iterable[Path] | None = None) -> list[Path]:
    """List the images of `folder` that decode; skip the others with one warning (or raise if strict).

    `candidates` restricts the check to those files of the folder (e.g. the first N of a large set).
    Raises `EmptyImageFolderError` when nothing readable is left.
    """
    return list(scan_image_sizes(folder, strict, candidates))


def forget_scans() -> None:
    """Forget this process's scans and reported files (the on-disk scan cache stays)."""
    scan_cache.forget()
    _warned.clear()
