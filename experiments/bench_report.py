"""How long `gpen-report` takes on a crafted 10-run sweep (5 knob values x 2 seeds, with training curves and
test faces, plus a failed run), and how much disk a tiny training run takes.

    python experiments/bench_report.py [--run outputs/train/multirun/<time>/seed=0]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

from gpen.cli.report import make_report
from gpen.utils.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]


def crafting_helpers():
    """The crafted-sweep builder of the report tests (one definition of what a run folder holds)."""
    spec = importlib.util.spec_from_file_location("sweep_report_tests", ROOT / "tests" / "test_sweep_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def folder_size(path: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for file in path.rglob("*"):
        if file.is_file():
            top = file.relative_to(path).parts[0]
            sizes[top] = sizes.get(top, 0) + file.stat().st_size
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a finished tiny training run folder to measure")
    args = parser.parse_args()
    print(describe_machine())
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "multirun"
        crafting_helpers().craft_sweep(sweep, strengths=(0.25, 0.5, 1.0, 1.25, 1.5), seeds=(0, 1))
        for figures in (False, True):
            start = time.perf_counter()
            summary = make_report([sweep], sweep / "report", figures=figures)
            print(f"gpen-report, {summary['runs']} run folders ({summary['failed']} not finished), "
                  f"{len(summary['figures'])} figures: {time.perf_counter() - start:.2f} s")
    if args.run:
        sizes = folder_size(args.run)
        total = sum(sizes.values())
        print(f"disk use of {args.run}: {total / 2**20:.1f} MiB; " +
              ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
