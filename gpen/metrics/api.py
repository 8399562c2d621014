"""One evaluation API over every metric family (docs/evaluation.md).

`evaluate_rows` scores each "row" (a method's restored images, or the degraded inputs for the
"Input" row) with every metric, metric by metric, and fills a `ResultsTable`; after each metric the
`on_update` callback gets the table so the caller can write partial results. A metric whose weights
or reference statistics are missing is marked "unavailable: <reason>" and the others still run; a
metric that fails for another reason is marked "failed: <error>" with the traceback in the log.

A metric compares each image with the ground truth, unless its `reference_kind` says otherwise: the
texture measures compare with the degraded input ("input"), or with the ground truth where the set has
it and the input elsewhere ("gt_or_input"); `input_rows` pairs each row's images with the inputs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from gpen.data.testsets import ImagePairs, collate_same_size
from gpen.metrics.base import Metric, NotApplicableError
from gpen.metrics.fid import MissingStatsError
from gpen.metrics.report import UNAVAILABLE, ResultsTable
from gpen.utils.pretrained import MissingWeightsError

log = logging.getLogger(__name__)

#: Errors that mean "this metric cannot run here" rather than "something is broken".
UNAVAILABLE_ERRORS = (MissingWeightsError, MissingStatsError)


@dataclass
class MetricOutcome:
    """What one metric gave on one row."""

    value: float | None
    count: int = 0
    seconds: float = 0.0
    details: dict = field(default_factory=dict)


@torch.no_grad()
def score_dataset(metric: Metric, dataset: ImagePairs, device: torch.device, batch_size: int = 8,
                  num_workers: int = 0, progress: bool = True, label: str = "") -> MetricOutcome:
    """Run an already set-up metric over a dataset, batched on `device`."""
    metric.reset()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_same_size)
    start = time.perf_counter()
    for batch in tqdm(loader, desc=f"{metric.name} {label}".strip(), disable=not progress, leave=False):
        reference = batch.get("reference") if metric.needs_reference else None
        metric.update(batch["image"].to(device), None if reference is None else reference.to(device))
    value = metric.compute()
    return MetricOutcome(value, metric.count(), time.perf_counter() - start, metric.details())


def evaluate_rows(rows: Mapping[str, ImagePairs], metrics: Sequence[Metric], device: torch.device | str = "cpu",
                  batch_size: int = 8, num_workers: int = 0, progress: bool = True,
                  table: ResultsTable | None = None,
                  on_update: Callable[[ResultsTable], None] | None = None,
                  input_rows: Mapping[str, ImagePairs] | None = None) -> ResultsTable:
    """Score every row with every metric into `table` (columns in metric order)."""
    device = torch.device(device)
    table = table or ResultsTable([m.name for m in metrics])
    details = table.metadata.setdefault("metric_details", {})
    for metric in metrics:
        datasets = {r: paired_for(metric, r, rows, input_rows or {}) for r in rows}
        applicable = {r: data for r, data in datasets.items() if data is not None}
        if not applicable:
            continue
        too_small = _too_small(metric, list(applicable.values()))
        if too_small:
            log.warning("%s left out: %s", metric.name, too_small)
            table.metadata.setdefault("left_out_metrics", {})[metric.name] = too_small
            if metric.name in table.metrics and not any(metric.name in cells for cells in table.rows.values()):
                table.metrics.remove(metric.name)
            continue
        problem = _setup(metric, device)
        for row, data in applicable.items():
            try:
                value = problem or _score_row(metric, data, row, device, batch_size, num_workers, progress, details)
            except KeyboardInterrupt:  # keep what is finished and say where it stopped
                table.metadata["interrupted"] = f"interrupted while scoring {metric.name} on row {row}; " \
                                                "the table is partial"
                if on_update is not None:
                    on_update(table)
                raise
            table.set(row, metric.name, value)
            if on_update is not None:  # after every value: an interrupt loses at most the one in progress
                on_update(table)
    return table


def _too_small(metric: Metric, datasets: Sequence[ImagePairs]) -> str | None:
    """Why `metric` cannot score any of these rows (every first image is below its minimum size), else None."""
    if not metric.min_size:
        return None
    sizes = [tuple(data[0]["image"].shape[-2:]) for data in datasets if len(data)]
    if sizes and all(min(size) < metric.min_size for size in sizes):
        h, w = sizes[0]
        return f"not applicable below {metric.min_size} px (the images are {w}x{h})"
    return None


def paired_for(metric: Metric, row: str, rows: Mapping[str, ImagePairs],
               input_rows: Mapping[str, ImagePairs]) -> ImagePairs | None:
    """The dataset a metric scores for `row` (its images with the right reference), or None: not applicable."""
    kind = getattr(metric, "reference_kind", "gt")
    if not metric.needs_reference:
        return rows[row]
    if kind == "input" or (kind == "gt_or_input" and not rows[row].reference_folder):
        return input_rows.get(row)
    return rows[row] if rows[row].reference_folder else None


def _setup(metric: Metric, device: torch.device) -> str | None:
    """Set the metric up; the table text saying why it cannot run, or None when it can."""
    try:
        metric.setup(device)
    except UNAVAILABLE_ERRORS as error:
        log.warning("%s unavailable: %s", metric.name, error)
        return UNAVAILABLE + str(error)
    except Exception as error:  # e.g. a damaged weight file: report it, keep the other metrics
        log.exception("%s could not be set up", metric.name)
        return f"failed: {type(error).__name__}: {error}"
    return None


def _score_row(metric: Metric, dataset: ImagePairs, row: str, device: torch.device, batch_size: int,
               num_workers: int, progress: bool, details: dict) -> float | str:
    try:
        outcome = score_dataset(metric, dataset, device, batch_size, num_workers, progress, row)
    except UNAVAILABLE_ERRORS as error:
        return UNAVAILABLE + str(error)
    except NotApplicableError as error:
        log.warning("%s on %s: %s", metric.name, row, error)
        return f"{error}"
    except Exception as error:  # one broken metric must not lose the others' results
        log.exception("%s failed on %s", metric.name, row)
        return f"failed: {type(error).__name__}: {error}"
    details.setdefault(row, {})[metric.name] = {"images": outcome.count, "seconds": round(outcome.seconds, 3),
                                                **outcome.details}
    log.info("%s %s = %.4f (%d images, %.1f s)", row, metric.name, outcome.value, outcome.count, outcome.seconds)
    return outcome.value
