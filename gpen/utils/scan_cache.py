"""A per-folder cache of image scans, so a restart (or a second dataset on the same folder) does not
decode every file again (FFHQ's 70,000 files take minutes).

One JSON file per folder under the cache folder (`$GPEN_CACHE_DIR`, default `~/.cache/gpen/scans`;
`GPEN_CACHE_DIR=off` turns it off), never inside the data folder. Each entry is keyed by the file name
and valid only while the file's size and modification time are unchanged: a changed or new file is
decoded again, a removed one drops out. Entries hold the image size (h, w) or the reason it is unreadable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

Entry = list  # [size_bytes, mtime_ns, h, w] or [size_bytes, mtime_ns, "reason it is unreadable"]

_memory: dict[Path, dict[str, Entry]] = {}


def cache_dir() -> Path | None:
    value = os.environ.get("GPEN_CACHE_DIR")
    if value is not None and value.lower() in ("", "off", "0", "none"):
        return None
    if value:
        return Path(value).expanduser() / "scans"
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "gpen" / "scans"


def _cache_file(folder: Path) -> Path | None:
    root = cache_dir()
    if root is None:
        return None
    digest = hashlib.sha1(str(folder).encode()).hexdigest()[:16]
    return root / f"{folder.name[:40]}-{digest}.json"


def load(folder: Path) -> dict[str, Entry]:
    """The cached entries of `folder` (absolute path), from memory or disk; empty when there are none."""
    if folder not in _memory:
        path = _cache_file(folder)
        entries: dict[str, Entry] = {}
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
                entries = dict(data["files"]) if data.get("folder") == str(folder) else {}
            except (OSError, ValueError, KeyError, TypeError):
                entries = {}  # a damaged cache is only a slower start
        _memory[folder] = entries
    return _memory[folder]


def save(folder: Path) -> None:
    """Write the entries of `folder` to its cache file (atomically); a cache that cannot be written is skipped."""
    path = _cache_file(folder)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w") as handle:
            json.dump({"folder": str(folder), "files": _memory.get(folder, {})}, handle)
        os.replace(tmp, path)
    except OSError as error:
        log.debug("scan cache not written (%s): %s", path, error)


def forget() -> None:
    """Drop the in-memory copy (the next scan reads the disk cache, as a new process would)."""
    _memory.clear()
