"""Evaluation presets (docs/evaluation.md): what each results file records about its protocol.

The field's scripts disagree on PSNR/SSIM correction, identity measure and FID reference, so a number
is only comparable within one preset. Every results file names its preset and the SHA-256 of the FID
statistics file; the ntire2025 preset adds its combined score.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from gpen.metrics.report import ResultsTable


def file_sha256(path: str | Path | None) -> str | None:
    """Hex SHA-256 of a file, or None when there is no such file."""
    if path is None or not Path(path).is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ntire2025_score(cells: Mapping[str, object]) -> float | str:
    """CLIPIQA + MANIQA + MUSIQ/100 + max(0, (10 - NIQE)/10) + max(0, (100 - FID)/100) (NTIRE 2025 real-world FR).

    The challenge adds Q-Align/5 where available; it is not part of this score. Returns the reason as
    text when a component is missing.
    """
    needed = ("CLIPIQA", "MANIQA", "MUSIQ", "NIQE", "FID")
    missing = [name for name in needed if not isinstance(cells.get(name), float)]
    if missing:
        return f"unavailable: needs {', '.join(missing)}"
    return (cells["CLIPIQA"] + cells["MANIQA"] + cells["MUSIQ"] / 100.0 + max(0.0, (10.0 - cells["NIQE"]) / 10.0)
            + max(0.0, (100.0 - cells["FID"]) / 100.0))


def add_combined_score(table: ResultsTable, formula: str | None) -> None:
    """Append the preset's combined score column (only ntire2025 has one)."""
    if formula is None:
        return
    if formula != "ntire2025":
        raise ValueError(f"metrics.score={formula!r} is not a known combined score (valid: ntire2025, null)")
    for row, cells in table.rows.items():
        table.set(row, "NTIRE score", ntire2025_score(cells))
