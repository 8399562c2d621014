"""Figures of the sweep report (matplotlib, Agg: no display needed):

- `<knob>.png`: every metric against a swept numeric knob (error bars: std over seeds), one line per
  setting of the other swept keys;
- `training_curves.png`: the runs' validation metrics and training losses over the iterations, from
  each run's CSV logger (csv/version_*/metrics.csv; a resumed run's versions are joined);
- `faces_<table>.png`: the same test faces across the runs of a table, LQ first and GT last.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from gpen.metrics.benchmark import FACES_FOLDER
from gpen.sweep.report import SEED_KEY, Report, Table
from gpen.utils.image_io import list_images, read_image

MAX_FACES = 4
CURVE_PREFIXES = ("val/", "train/loss_")


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def numeric_knobs(report: Report) -> list[str]:
    knobs = []
    for key in report.keys:
        values = {row.values.get(key) for t in report.tables for row in t.rows}
        if key != SEED_KEY and len(values) > 1 and all(_float(v) is not None for v in values):
            knobs.append(key)
    return knobs


def knob_figure(report: Report, knob: str, out: Path) -> Path | None:
    metrics = [m for m in dict.fromkeys(m for t in report.tables for m in t.metrics)
               if any(m in row.mean for t in report.tables for row in t.rows)]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        lines: dict[str, list[tuple[float, float, float]]] = {}
        for i, table in enumerate(report.tables, 1):
            for row in table.rows:
                if metric not in row.mean:
                    continue
                others = ",".join(f"{k}={v}" for k, v in row.values.items() if k != knob)
                label = f"{others} (table {i})" if len(report.tables) > 1 and others else others
                lines.setdefault(label, []).append((float(row.values[knob]), row.mean[metric], row.std[metric]))
        for label, points in sorted(lines.items()):
            xs, ys, es = zip(*sorted(points))
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=label or None)
        ax.set_xlabel(knob)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    if any(label for ax in axes[0] for label in ax.get_legend_handles_labels()[1]):
        axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = out / f"{knob.replace('/', '_')}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def read_curves(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """metric -> [(step, value)] from every csv/version_*/metrics.csv of the run, in version order."""
    curves: dict[str, list[tuple[float, float]]] = {}
    files = sorted((run_dir / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            for line in csv.DictReader(handle):
                step = _float(line.get("step"))
                for key, text in line.items():
                    value = _float(text)
                    if step is not None and value is not None and key and key.startswith(CURVE_PREFIXES):
                        curves.setdefault(key, []).append((step, value))
    return curves


def curves_figure(report: Report, out: Path) -> Path | None:
    curves = {report.names[r.path]: read_curves(r.path) for r in report.runs}
    curves = {name: c for name, c in curves.items() if c}
    keys = sorted({k for c in curves.values() for k in c if not k.endswith("_lq")})
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        for name, run_curves in curves.items():
            if key in run_curves:
                steps, values = zip(*sorted(run_curves[key]))
                ax.plot(steps, values, label=name, marker="." if len(steps) < 20 else None)
        ax.set_title(key)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path = out / "training_curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _faces(run_dir: Path, kind: str) -> dict[str, Path]:
    folder = run_dir / FACES_FOLDER / kind
    return {p.stem: p for p in list_images(folder)} if folder.is_dir() else {}


def faces_figure(table: Table, index: int, report: Report, out: Path) -> Path | None:
    columns = [(row.name, row.runs[0].path) for row in table.rows if _faces(row.runs[0].path, "restored")]
    if not columns:
        return None
    first = columns[0][1]
    names = sorted(set.intersection(*(set(_faces(p, "restored")) for _, p in columns)))[:MAX_FACES]
    panels = [("LQ", _faces(first, "lq")), *((n, _faces(p, "restored")) for n, p in columns), ("GT", _faces(first, "gt"))]
    panels = [(title, faces) for title, faces in panels if faces]
    if not names:
        return None
    fig, axes = plt.subplots(len(names), len(panels), figsize=(1.6 * len(panels), 1.6 * len(names) + 0.4),
                             squeeze=False)
    for r, name in enumerate(names):
        for c, (title, faces) in enumerate(panels):
            ax = axes[r][c]
            if name in faces:
                ax.imshow(read_image(faces[name]))
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=6)
    fig.tight_layout()
    path = out / f"faces_table{index}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_figures(report: Report, out: Path) -> list[Path]:
    figures = [knob_figure(report, knob, out) for knob in numeric_knobs(report)]
    figures.append(curves_figure(report, out))
    figures += [faces_figure(t, i, report, out) for i, t in enumerate(report.tables, 1)]
    return [f for f in figures if f is not None]
