"""The benchmark results table: one row per method, one column per metric, plus metadata.

Written as results.md (for reading), results.csv (for spreadsheets) and results.json (everything,
including the metadata: test set, checkpoint, protocol options, image counts, package versions).
A cell holds a number or the text "unavailable: <reason>". Files are replaced atomically, so a run
that stops half-way leaves the last complete table, never a torn one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

Cell = float | str

UNAVAILABLE = "unavailable: "


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _parse_cell(text: str) -> Cell | None:
    if text == "":
        return None
    try:
        return float(text)  # also parses "inf" and "nan"
    except ValueError:
        return text


def _json_cell(value: Cell) -> Cell:
    return repr(value) if isinstance(value, float) and not math.isfinite(value) else value


def _format_md(value: Cell | None, decimals: int, note: int | None = None) -> str:
    """A number, or the short label of a text cell ("unavailable", "failed", ...) with its note number."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    label = value.split(":")[0].splitlines()[0].replace("|", "/").strip() if value else value
    return f"{label} [{note}]" if note is not None else label


@dataclass
class ResultsTable:
    """Rows (methods, e.g. "Input" and a checkpoint's name) × columns (metric names)."""

    metrics: list[str]
    rows: dict[str, dict[str, Cell]] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def set(self, row: str, metric: str, value: Cell) -> None:
        if metric not in self.metrics:
            self.metrics.append(metric)
        self.rows.setdefault(row, {})[metric] = value

    def get(self, row: str, metric: str) -> Cell | None:
        return self.rows.get(row, {}).get(metric)

    def to_markdown(self, decimals: int = 4) -> str:
        reasons = self._reasons()  # text cell -> note number; the full text goes below the table
        lines = ["| method | " + " | ".join(self.metrics) + " |",
                 "|---|" + "---|" * len(self.metrics)]
        for row, cells in self.rows.items():
            lines.append(f"| {row} | " + " | ".join(
                _format_md(cells.get(m), decimals, reasons.get((m, cells.get(m)))) for m in self.metrics) + " |")
        notes = [f"- [{number}] {', '.join(where)} / {metric}: {text}"
                 for (metric, text), (number, where) in self._note_rows(reasons).items()]
        notes += [f"- {metric} left out: {why}" for metric, why in self.metadata.get("left_out_metrics", {}).items()]
        meta = [f"- {key}: {json.dumps(value, default=str)}" for key, value in self.metadata.items()]
        text = "# Results\n\n"
        if self.metadata.get("interrupted"):
            text += f"**Partial results: {self.metadata['interrupted']}.**\n\n"
        text += "\n".join(lines) + "\n"
        if notes:
            text += "\n## Notes\n\n" + "\n".join(notes) + "\n"
        if meta:
            text += "\n## Run\n\n" + "\n".join(meta) + "\n"
        return text

    def _reasons(self) -> dict[tuple[str, str], int]:
        """(metric, text) of every text cell -> its note number, in table order."""
        reasons: dict[tuple[str, str], int] = {}
        for cells in self.rows.values():
            for metric in self.metrics:
                value = cells.get(metric)
                if isinstance(value, str) and (metric, value) not in reasons:
                    reasons[(metric, value)] = len(reasons) + 1
        return reasons

    def _note_rows(self, reasons: dict[tuple[str, str], int]) -> dict[tuple[str, str], tuple[int, list[str]]]:
        return {key: (number, [row for row, cells in self.rows.items() if cells.get(key[0]) == key[1]])
                for key, number in reasons.items()}

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["method", *self.metrics])
        for row, cells in self.rows.items():
            writer.writerow([row, *("" if cells.get(m) is None else repr(cells[m]) if isinstance(cells[m], float)
                                    else cells[m] for m in self.metrics)])
        return buffer.getvalue()

    def to_json(self) -> str:
        rows = {row: {m: _json_cell(v) for m, v in cells.items()} for row, cells in self.rows.items()}
        return json.dumps({"metrics": self.metrics, "rows": rows, "metadata": self.metadata},
                          indent=2, default=str, allow_nan=False)

    def write(self, folder: str | Path, stem: str = "results") -> dict[str, Path]:
        """Write <stem>.md, <stem>.csv and <stem>.json into `folder`; returns their paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {ext: folder / f"{stem}.{ext}" for ext in ("md", "csv", "json")}
        _write_atomic(paths["md"], self.to_markdown())
        _write_atomic(paths["csv"], self.to_csv())
        _write_atomic(paths["json"], self.to_json())
        return paths

    @classmethod
    def from_json(cls, path: str | Path) -> ResultsTable:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        rows = {row: {m: (float(v) if v in ("inf", "-inf", "nan") else v) for m, v in cells.items()}
                for row, cells in data["rows"].items()}
        return cls(list(data["metrics"]), rows, data.get("metadata", {}))

    @classmethod
    def from_csv(cls, path: str | Path) -> ResultsTable:
        with open(path, newline="", encoding="utf-8") as handle:
            header, *body = list(csv.reader(handle))
        metrics = header[1:]
        rows = {}
        for line in body:
            cells = {m: _parse_cell(text) for m, text in zip(metrics, line[1:])}
            rows[line[0]] = {m: v for m, v in cells.items() if v is not None}
        return cls(metrics, rows)
