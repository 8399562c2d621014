"""One sweep run folder, as gpen-report reads it: its overrides (.hydra/overrides.yaml), its results
(results.json, written by evaluate.py or by the end-of-training evaluation), its status and, for a run
without results, the last error lines of its log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from gpen.metrics.report import ResultsTable

LOG_TAIL = 12
ERROR_MARKERS = ("Traceback", "Error", "Exception", "error:")


@dataclass
class Run:
    path: Path
    overrides: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    results: ResultsTable | None = None
    status: str = "finished"       # finished | failed | incomplete
    error: str = ""

    @property
    def name(self) -> str:
        return self.path.name


def is_run_folder(path: Path) -> bool:
    return (path / ".hydra").is_dir() or (path / "results.json").is_file()


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders among `paths` and below them (a multirun folder, several run folders, or both);
    report/ and hidden folders (.submitit) are skipped."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise FileNotFoundError(f"not a folder: {path} (give a multirun folder or run folders)")
        if is_run_folder(path):
            found.append(path)
            continue
        for child in sorted(path.rglob(".hydra")):
            run = child.parent
            parts = run.relative_to(path).parts
            if not any(p.startswith(".") or p == "report" for p in parts):
                found.append(run)
        found += [p.parent for p in sorted(path.rglob("results.json"))
                  if not (p.parent / ".hydra").is_dir() and "report" not in p.relative_to(path).parts]
    return sorted(set(found), key=lambda p: (str(p.parent), p.name))


def _yaml(path: Path, default):
    if not path.is_file():
        return default
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False) or default


def log_tail(run: Path, lines: int = LOG_TAIL) -> str:
    """The traceback's last lines (or the log's last lines) of the run's *.log files."""
    logs = sorted(run.glob("*.log"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return "no log file"
    text = logs[-1].read_text(encoding="utf-8", errors="replace").splitlines()
    starts = [i for i, line in enumerate(text) if "Traceback" in line]
    tail = text[starts[-1]:] if starts else text
    return "\n".join(tail[-lines:])


def read_run(path: Path) -> Run:
    run = Run(path, overrides=list(_yaml(path / ".hydra" / "overrides.yaml", [])),
              config=_yaml(path / ".hydra" / "config.yaml", {}))
    results = path / "results.json"
    if results.is_file():
        run.results = ResultsTable.from_json(results)
        if "metric_details" not in run.results.metadata:  # evaluation started, never finished
            run.status, run.error = "incomplete", "results.json without finished metrics\n" + log_tail(path)
        return run
    tail = log_tail(path)
    run.status = "failed" if any(m in tail for m in ERROR_MARKERS) else "incomplete"
    run.error = tail
    return run
