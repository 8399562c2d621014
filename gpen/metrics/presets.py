"""Evaluation presets (docs/evaluation.md): what each results file records about its protocol.

The field's scripts disagree on PSNR/SSIM correction, identity measure and FID reference, so a number
is only comparable within one preset. Every results file names its preset and the SHA-256 of the FID
statistics file (and of the reference features file, for KID and precision / recall); the ntire2025
preset adds its combined score.
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


QALIGN = "Q-Align"


def ntire2025_score(cells: Mapping[str, object]) -> float | str:
    """CLIPIQA + MANIQA + MUSIQ/100 + max(0, (10 - NIQE)/10) + Q-Align/5 + max(0, (100 - FID)/100)
    (NTIRE 2025 real-world FR). The Q-Align/5 term is left out when Q-Align has no value (see
    `qalign_note`); the reason as text when another component is missing.
    """
    needed = ("CLIPIQA", "MANIQA", "MUSIQ", "NIQE", "FID")
    missing = [name for name in needed if not isinstance(cells.get(name), float)]
    if missing:
        return f"unavailable: needs {', '.join(missing)}"
    qalign = cells.get(QALIGN)
    return (cells["CLIPIQA"] + cells["MANIQA"] + cells["MUSIQ"] / 100.0 + max(0.0, (10.0 - cells["NIQE"]) / 10.0)
            + (qalign / 5.0 if isinstance(qalign, float) else 0.0) + max(0.0, (100.0 - cells["FID"]) / 100.0))


def qalign_note(cells: Mapping[str, object]) -> str:
    """Whether a row's NTIRE score holds the Q-Align/5 term, and why not."""
    qalign = cells.get(QALIGN)
    if isinstance(qalign, float):
        return "with the Q-Align/5 term"
    why = qalign if isinstance(qalign, str) else "metrics.qalign is off"
    return f"without the Q-Align/5 term ({why.splitlines()[0]}); not comparable with the challenge's full score"


def add_combined_score(table: ResultsTable, formula: str | None) -> None:
    """Append the preset's combined score column (only ntire2025 has one) and say which terms it holds."""
    if formula is None:
        return
    if formula != "ntire2025":
        raise ValueError(f"metrics.score={formula!r} is not a known combined score (valid: ntire2025, null)")
    notes = table.metadata.setdefault("ntire_score_terms", {})
    for row, cells in table.rows.items():
        score = ntire2025_score(cells)
        table.set(row, "NTIRE score", score)
        if isinstance(score, float):
            notes[row] = qalign_note(cells)
