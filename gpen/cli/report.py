"""`gpen-report SWEEP_DIR [RUN_DIR ...]`: one report for a sweep's runs.

Reads every run folder (a Hydra multirun folder, several run folders, or both) and writes
OUTPUT (default SWEEP_DIR/report/): report.md, results.csv, results.json and the figures (metric against
each swept numeric knob, training curves, face grids). Runs scored on different image sets or protocols
go to separate tables; runs that failed or did not finish are listed with the end of their log.
Only OUTPUT is written; the run folders are only read.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from gpen.sweep.figures import write_figures
from gpen.sweep.render import report_markdown, results_csv, results_json
from gpen.sweep.report import build_report
from gpen.sweep.runs import find_runs, read_run

log = logging.getLogger("gpen-report")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gpen-report", description=__doc__.split("\n")[0])
    parser.add_argument("paths", type=Path, nargs="+", help="a multirun folder and/or run folders")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="report folder (default: <the one folder given>/report, or <their parent>/report)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    return parser.parse_args(argv)


def default_output(paths: list[Path]) -> Path:
    if len(paths) == 1:
        return paths[0] / "report"
    return Path(os.path.commonpath([p.resolve() for p in paths])) / "report"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def make_report(paths: list[Path], output: Path, figures: bool = True) -> dict:
    runs = [read_run(p) for p in find_runs(paths)]
    if not runs:
        raise SystemExit(f"error: no run folder (with .hydra/ or results.json) in {', '.join(map(str, paths))}")
    report = build_report(runs)
    output.mkdir(parents=True, exist_ok=True)
    written = write_figures(report, output) if figures else []
    _write(output / "report.md", report_markdown(report, paths, written))
    _write(output / "results.csv", results_csv(report))
    _write(output / "results.json", results_json(report, written))
    return {"runs": len(runs), "failed": len(report.failed), "tables": len(report.tables), "figures": written}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    output = args.output or default_output(args.paths)
    summary = make_report(args.paths, output, figures=not args.no_figures)
    log.info("%d runs (%d failed or incomplete), %d table(s), %d figure(s) -> %s", summary["runs"],
             summary["failed"], summary["tables"], len(summary["figures"]), output / "report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
