"""The sweep report: every run's results.json gathered into tables, one per (image set, protocol).

Rows are named by the overrides that differ between the runs; runs that differ only in `seed` are
pooled into one row (mean ± std over seeds, n). Each table has the degraded inputs' "Input" row and the
best value of every metric column marked (direction per metric: PSNR / SSIM higher, LPIPS / FID / NIQE /
Deg / LMD lower, ...). Rows scored on different image sets, or under different evaluation protocols,
never share a table. Runs without results are listed with the last lines of their log.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from gpen.sweep.naming import differing_keys, run_names, split_override
from gpen.sweep.runs import Run

SEED_KEY = "seed"
INPUT_ROW = "Input"
# used when a results file does not record its metrics' directions (results.json "directions")
HIGHER_IS_BETTER = {"PSNR", "SSIM", "MS-SSIM", "CLIP-IQA", "CLIPIQA", "MANIQA", "MUSIQ", "Q-Align", "NTIRE-score",
                    "IDS", "ID-sim", "precision", "recall"}


@dataclass
class Row:
    """One configuration of a table: its runs (one per seed) and their aggregated values."""

    name: str
    values: dict[str, str]                      # differing override key -> value
    runs: list[Run] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # metric -> text of a non-numeric cell


@dataclass
class Table:
    key: str
    image_set: dict
    protocol: dict
    metrics: list[str] = field(default_factory=list)
    directions: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    input_row: dict = field(default_factory=dict)
    best: dict[str, list[str]] = field(default_factory=dict)
    unfinished: list[str] = field(default_factory=list)   # runs scored before training reached max_steps


@dataclass
class Report:
    runs: list[Run]
    names: dict[Path, str]                      # run folder -> row name (differing overrides)
    keys: list[str]                             # differing override keys (table columns)
    tables: list[Table]

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if r.status != "finished"]


def _parsed(run: Run) -> dict[str, str]:
    return dict(map(split_override, run.overrides))


def _name_runs(runs: list[Run]) -> dict[Path, str]:
    names = run_names([r.overrides for r in runs]) if runs else []
    if len(runs) < 2 or len(set(names)) < len(names) or any(not r.overrides for r in runs):
        names = [r.name for r in runs]  # no usable overrides: the folder names
        if len(set(names)) < len(names):
            names = [f"{r.path.parent.name}/{r.name}" for r in runs]
    return {r.path: n for r, n in zip(runs, names)}


def image_set_key(metadata: dict) -> dict:
    """What identifies the scored images: a test set's manifest hash (same pairs wherever they were
    written) or its folder and file names; older results: the folder and image count."""
    image_set = metadata.get("image_set") or {}
    if "manifest_sha1" in image_set:
        return {"name": image_set.get("root"), "manifest_sha1": image_set["manifest_sha1"],
                "images": image_set.get("images")}
    if image_set:
        return {"name": image_set.get("root"), "names_sha1": image_set.get("names_sha1"),
                "images": image_set.get("images")}
    return {"name": metadata.get("testset"), "images": metadata.get("images", {}).get(INPUT_ROW)}


def protocol_key(metadata: dict) -> dict:
    """How the images were scored: protocol options, metric settings, preset, FID statistics file hash."""
    key = {k: metadata[k] for k in ("protocol", "metrics", "metrics_preset") if k in metadata}
    key["fid_sha256"] = (metadata.get("fid_reference_stats") or {}).get("sha256")
    return key


def _digest(value: dict) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:8]


def method_cells(run: Run) -> dict:
    rows = {k: v for k, v in run.results.rows.items() if k != INPUT_ROW}
    return next(iter(rows.values()), {})


def direction(metric: str, directions: dict[str, str]) -> str:
    """higher | lower | zero (closest to 0 is best, e.g. the HF ratio)."""
    if metric in directions:
        return directions[metric]
    return "higher" if metric in HIGHER_IS_BETTER else "lower"


def _aggregate(row: Row, metrics: list[str]) -> None:
    for metric in metrics:
        cells = [method_cells(run).get(metric) for run in row.runs]
        numbers = [c for c in cells if isinstance(c, float) and math.isfinite(c)]
        if numbers and len(numbers) == len(cells):
            row.mean[metric] = statistics.fmean(numbers)
            row.std[metric] = statistics.stdev(numbers) if len(numbers) > 1 else 0.0
        else:
            texts = sorted({str(c) for c in cells if not isinstance(c, float)})
            row.notes[metric] = "; ".join(texts) or "not finite"


def _mark_best(table: Table) -> None:
    for metric in table.metrics:
        scored = [(row.mean[metric], row.name) for row in table.rows if metric in row.mean]
        if len(scored) < 2:
            continue
        goal = direction(metric, table.directions)
        rank = {"higher": lambda v: -v, "zero": abs}.get(goal, lambda v: v)
        best = min(rank(v) for v, _ in scored)
        table.best[metric] = [name for v, name in scored if rank(v) == best]


def _build_table(key: str, runs: list[Run], names: dict[Path, str], keys: list[str]) -> Table:
    first = runs[0].results.metadata
    table = Table(key, image_set_key(first), protocol_key(first))
    for run in runs:
        table.metrics += [m for m in run.results.metrics if m not in table.metrics]
        table.directions.update(run.results.metadata.get("directions", {}))
        if not table.input_row and INPUT_ROW in run.results.rows:
            table.input_row = dict(run.results.rows[INPUT_ROW])
    pooled_keys = [k for k in keys if k != SEED_KEY]
    groups: dict[tuple, Row] = {}
    for run in runs:  # runs that differ only in the seed share a row; any other run has its own
        values = {k: _parsed(run).get(k, "") for k in pooled_keys}
        group = tuple(values.items()) if SEED_KEY in keys else (str(run.path),)
        if group not in groups:
            label = ",".join(f"{k}={v}" for k, v in values.items()) or "all runs (seeds pooled)"
            groups[group] = Row(label if SEED_KEY in keys else names[run.path], values)
        groups[group].runs.append(run)
    table.rows = list(groups.values())
    for run in runs:
        training = run.results.metadata.get("training", {})
        if training.get("finished") is False:
            table.unfinished.append(f"{names[run.path]} (step {training.get('global_step')} of "
                                    f"{training.get('max_steps')})")
    for row in table.rows:  # a row of one run is that run, named as such (its seed included)
        if len(row.runs) == 1:
            row.name = names[row.runs[0].path]
    for row in table.rows:
        _aggregate(row, table.metrics)
    _mark_best(table)
    return table


def build_report(runs: list[Run]) -> Report:
    names = _name_runs(runs)
    keys = differing_keys([r.overrides for r in runs]) if len(runs) > 1 else []
    finished = [r for r in runs if r.status == "finished" and r.results is not None]
    by_key: dict[str, list[Run]] = {}
    for run in finished:
        meta = run.results.metadata
        key = f"{_digest(image_set_key(meta))}-{_digest(protocol_key(meta))}"
        by_key.setdefault(key, []).append(run)
    tables = [_build_table(key, group, names, keys) for key, group in by_key.items()]
    return Report(runs, names, keys, tables)
