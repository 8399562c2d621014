"""The sweep report as files: report.md (for reading), results.csv (one line per run and per Input row)
and results.json (everything, including the failed runs and their errors)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from gpen.sweep.naming import split_override
from gpen.sweep.report import INPUT_ROW, Report, Row, Table, direction, method_cells

ARROWS = {"higher": "↑", "lower": "↓", "zero": "→0"}


def _number(value: float, decimals: int = 4) -> str:
    return f"{value:.{decimals}f}" if math.isfinite(value) else str(value)


def _cell(row: Row, metric: str, table: Table) -> str:
    if metric not in row.mean:
        return "n/a" if metric in row.notes else ""
    text = _number(row.mean[metric])
    if len(row.runs) > 1:
        text += f" ± {_number(row.std[metric])}"
    return f"**{text}**" if row.name in table.best.get(metric, []) else text


def _input_cell(value) -> str:
    return _number(value) if isinstance(value, float) else ("n/a" if value else "")


def _describe(table: Table) -> str:
    image_set = ", ".join(f"{k} {v}" for k, v in table.image_set.items() if v is not None)
    protocol = table.protocol.get("protocol", {})
    preset = table.protocol.get("metrics_preset")
    return (f"Image set: {image_set}. Protocol: {'preset ' + str(preset) + ', ' if preset else ''}"
            f"options {json.dumps(protocol)}, metrics config hash {table.key.split('-')[1]}.")


def table_markdown(table: Table, keys: list[str]) -> str:
    columns = [k for k in keys if k != "seed"]
    pooled = any(len(row.runs) > 1 for row in table.rows)
    arrows = [f"{m} {ARROWS.get(direction(m, table.directions), '↓')}" for m in table.metrics]
    header = ["run", *columns, *(["n"] if pooled else []), *arrows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table.rows:
        cells = [row.name, *(row.values.get(k, "") for k in columns), *([str(len(row.runs))] if pooled else [])]
        lines.append("| " + " | ".join([*cells, *(_cell(row, m, table) for m in table.metrics)]) + " |")
    if table.input_row:
        blank = [""] * (len(columns) + pooled)
        lines.append("| " + " | ".join([f"*{INPUT_ROW}*", *blank,
                                        *(_input_cell(table.input_row.get(m)) for m in table.metrics)]) + " |")
    notes = sorted({f"- {m}: {text.splitlines()[0][:200]}" for row in table.rows for m, text in row.notes.items()})
    text = "\n".join(lines) + "\n"
    if table.unfinished:
        text += ("\nScored before training reached max_steps (stopped by the time budget; continue the run to "
                 "score its last step): " + ", ".join(table.unfinished) + ".\n")
    if pooled:
        text += "\nmean ± standard deviation over the n runs (seeds) of a row.\n"
    if notes:
        text += "\nn/a:\n" + "\n".join(notes) + "\n"
    return text


def report_markdown(report: Report, sources: list[Path], figures: list[Path]) -> str:
    finished = sum(r.status == "finished" for r in report.runs)
    parts = ["# Sweep report", "",
             (f"Sources: {', '.join(str(s) for s in sources)}. Runs: {len(report.runs)} "
             f"({finished} finished, {len(report.failed)} failed or incomplete). "
             "Best value per metric column in bold (↑ higher is better, ↓ lower is better, →0 closest to 0)."), ""]
    if len(report.tables) > 1:
        parts += [(f"**{len(report.tables)} tables**: these runs were scored on different image sets or under "
                  "different evaluation protocols, whose numbers must not be compared; each table holds "
                  "only runs scored alike."), ""]
    for i, table in enumerate(report.tables, 1):
        parts += [f"## Table {i}" if len(report.tables) > 1 else "## Results", "", _describe(table), "",
                  table_markdown(table, report.keys)]
        if any(len(row.runs) > 1 for row in table.rows):
            parts += ["Every run:", "", per_run_markdown(report, table)]
    if report.failed:
        parts += ["## Failed or incomplete runs", ""]
        for run in report.failed:
            parts += [f"### {report.names[run.path]} ({run.status})", "", f"Folder: {run.path}", "",
                      "```", run.error.strip() or "(empty log)", "```", ""]
    if figures:
        parts += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figures] + [""]
    return "\n".join(parts)


def _csv_cell(value) -> str:
    if isinstance(value, float):
        return repr(value)
    return value.splitlines()[0] if value else ""


def per_run_markdown(report: Report, table: Table) -> str:
    """Every run of a table on its own line (when seeds were pooled above)."""
    lines = ["| run | " + " | ".join(table.metrics) + " |", "|---|" + "---|" * len(table.metrics)]
    for row in table.rows:
        for run in row.runs:
            cells = method_cells(run)
            values = [_number(c) if isinstance(c, float) else ("n/a" if c else "") for c in map(cells.get, table.metrics)]
            lines.append(f"| {report.names[run.path]} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def results_csv(report: Report) -> str:
    metrics = list(dict.fromkeys(m for t in report.tables for m in t.metrics))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["table", "run", "folder", "status", *report.keys, *metrics])
    table_of = {run.path: i for i, t in enumerate(report.tables, 1) for row in t.rows for run in row.runs}
    for run in report.runs:
        overrides = dict(map(split_override, run.overrides))
        cells = method_cells(run) if run.results is not None else {}
        values = [_csv_cell(cells.get(m)) for m in metrics]
        writer.writerow([table_of.get(run.path, ""), report.names[run.path], str(run.path), run.status,
                         *(overrides.get(k, "") for k in report.keys), *values])
    for i, table in enumerate(report.tables, 1):
        if table.input_row:
            values = [_csv_cell(table.input_row.get(m)) for m in metrics]
            writer.writerow([i, INPUT_ROW, "", "", *([""] * len(report.keys)), *values])
    return buffer.getvalue()


def _finite(value):
    return value if not isinstance(value, float) or math.isfinite(value) else repr(value)


def results_json(report: Report, figures: list[Path]) -> str:
    tables = [{"table": i, "image_set": t.image_set, "protocol": t.protocol, "metrics": t.metrics,
               "directions": {m: direction(m, t.directions) for m in t.metrics}, "best": t.best,
               "input": {m: _finite(v) for m, v in t.input_row.items()}, "unfinished": t.unfinished,
               "rows": [{"name": r.name, "overrides": r.values, "n": len(r.runs),
                         "runs": [str(run.path) for run in r.runs],
                         "mean": {m: _finite(v) for m, v in r.mean.items()},
                         "std": {m: _finite(v) for m, v in r.std.items()}, "notes": r.notes} for r in t.rows]}
              for i, t in enumerate(report.tables, 1)]
    runs = [{"name": report.names[r.path], "folder": str(r.path), "status": r.status, "overrides": r.overrides,
             "error": r.error or None} for r in report.runs]
    return json.dumps({"keys": report.keys, "tables": tables, "runs": runs,
                       "figures": [f.name for f in figures]}, indent=2, default=str)
