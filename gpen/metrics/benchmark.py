"""Benchmark one restoration on one test set: the machinery `evaluate.py` and the end-of-training
evaluation share, so both write the same results files under the same protocol record.

`restore_folder` runs a generator (with the `restore` knobs) over a folder of inputs; `benchmark`
scores a folder of restored images (plus the "Input" row on paired sets) with every configured metric
and writes `<run>/results.{md,csv,json}`; `save_test_faces` keeps a few LQ / restored / GT faces in
`<run>/test_faces/` for the face grids of `gpen-report`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from gpen.data.testsets import ImagePairs, TestSet, collate_same_size, same_pairs
from gpen.metrics.api import evaluate_rows
from gpen.metrics.presets import add_combined_score, file_sha256
from gpen.metrics.report import ResultsTable
from gpen.restore import RestoreSettings, load_face_parser, restore_aligned
from gpen.utils.image_io import list_images, write_image
from gpen.utils.machine import describe_machine

log = logging.getLogger(__name__)
PACKAGES = ("gpen", "torch", "torchvision", "lpips", "pyiqa", "facenet-pytorch", "numpy", "scipy")
PRESET_KEYS = ("preset", "score", "reference_features")  # entries of the metrics group that are not metrics
FACES_FOLDER = "test_faces"


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def write_batch(out_dir: Path, names: list[str], faces: torch.Tensor) -> None:
    images = ((faces + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # (B, S, S, 3)
    for name, image in zip(names, images):
        write_image(out_dir / f"{name}.png", image)


@torch.no_grad()
def restore_folder(generator: torch.nn.Module, inputs: ImagePairs, out_dir: Path, device: torch.device,
                   batch_size: int, num_workers: int = 0, progress: bool = False,
                   settings: RestoreSettings | None = None) -> Path:
    """Restore every input (RGB [0, 1] -> [-1, 1] -> `restore_aligned` with the knobs) and write <name>.png."""
    settings = settings or RestoreSettings()
    out_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(inputs, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_same_size)
    generator = generator.to(device).eval()
    parser = load_face_parser(settings, device)
    for batch in tqdm(loader, desc="restore", disable=not progress):
        faces = batch["image"].to(device) * 2 - 1  # (B, 3, S, S)
        write_batch(out_dir, batch["name"], restore_aligned(generator, faces, settings, parser=parser))
    return out_dir


def image_set_record(testset: TestSet) -> dict[str, Any]:
    """What identifies the scored images: the folder, its file names and (when written by
    gpen-make-testset) the hash of its manifest, so a report can tell two image sets apart."""
    names = sorted(p.name for p in list_images(testset.inputs))
    record = {"name": testset.name, "root": str(testset.root.resolve()), "paired": testset.paired,
              "images": len(names), "names_sha1": hashlib.sha1("\n".join(names).encode()).hexdigest()[:12]}
    manifest = testset.root / "manifest.json"
    if manifest.is_file():
        record["manifest_sha1"] = hashlib.sha1(manifest.read_bytes()).hexdigest()[:12]
    return record


def metric_directions(metrics: list) -> dict[str, str]:
    """higher | lower | zero (closest to 0 is best), per column, for tables that mark the best value."""
    return {m.name: getattr(m, "best", None) or ("lower" if m.lower_is_better else "higher") for m in metrics}


def input_pairs(restored: Path, inputs: Path, size: int | None) -> ImagePairs | None:
    """Restored images paired with the inputs of the same name (texture measures); None when none match."""
    try:
        return ImagePairs(restored, inputs, size=size)
    except FileNotFoundError as error:
        log.warning("texture measures against the input left out: %s", error)
        return None


def reference_features_record(metrics_cfg: Mapping) -> list[dict] | None:
    """Path and SHA-256 of each reference features file the metrics read (KID, precision / recall), or
    None when no metric reads one."""
    specs = [spec for spec in metrics_cfg.values() if isinstance(spec, Mapping) and "reference_features" in spec]
    if not specs:
        return None
    paths = sorted({spec["reference_features"] for spec in specs}, key=str)
    return [{"path": path, "sha256": file_sha256(path)} for path in paths]


def _protocol_record(testset: TestSet, metrics_cfg: Mapping, protocol: Mapping, device: torch.device) -> dict:
    fid_stats = (metrics_cfg.get("fid") or {}).get("reference_stats")
    features = reference_features_record(metrics_cfg)
    return {"testset": str(testset.root), "paired": testset.paired, "image_set": image_set_record(testset),
            "protocol": dict(protocol), "metrics": dict(metrics_cfg), "metrics_preset": metrics_cfg.get("preset"),
            "fid_reference_stats": {"path": fid_stats, "sha256": file_sha256(fid_stats)},
            **({"reference_features": features} if features is not None else {}),
            "device": str(device), "machine": describe_machine(device), "packages": package_versions()}


def benchmark(restored: Path, testset: TestSet, method: str, metrics_cfg: Mapping[str, Any],
              protocol: Mapping[str, Any], run_dir: Path, metadata: dict, device: torch.device,
              batch_size: int = 4, num_workers: int = 0, progress: bool = False) -> ResultsTable:
    """Score `restored` (matched to the test set's GT by name) and, on paired sets, the inputs.

    `metrics_cfg` is the metrics group (`_target_` specs, None entries skipped, plus `preset` / `score`);
    `metadata` holds the caller's facts (checkpoint, restoration notes) and gets the protocol record. The
    results are rewritten after every metric, so an interrupted run keeps what finished.
    """
    metadata = {**_protocol_record(testset, metrics_cfg, protocol, device), **metadata}
    metadata["image_set"]["root"] = metadata["testset"]  # a caller's label for a temporary folder wins
    resize = protocol.get("resize")
    rows = {method: ImagePairs(restored, testset.references, size=resize)}
    if testset.paired:
        rows["Input"] = ImagePairs(testset.inputs, testset.references, size=resize)
        metadata["left_out_for_common_pairs"] = same_pairs(rows)
    metadata["images"] = {row: len(data) for row, data in rows.items()}
    metadata["skipped"] = {row: data.skipped.as_dict() for row, data in rows.items()}
    specs = {key: spec for key, spec in metrics_cfg.items() if key not in PRESET_KEYS}
    metrics = [hydra.utils.instantiate(spec) for spec in specs.values() if spec is not None]
    # unpaired: no-reference metrics, and the texture measures against the input
    metrics = [m for m in metrics if testset.paired or not m.needs_reference or m.reference_kind != "gt"]
    metadata["directions"] = metric_directions(metrics)
    if metrics_cfg.get("score"):
        metadata["directions"]["NTIRE score"] = "higher"
    input_rows = {method: input_pairs(restored, testset.inputs, resize)}
    table = ResultsTable([m.name for m in metrics], {row: {} for row in rows}, metadata)
    table.write(run_dir)  # the run's facts are on disk before the first metric starts
    try:
        table = evaluate_rows(rows, metrics, device, batch_size, num_workers, progress, table,
                              on_update=lambda t: t.write(run_dir),
                              input_rows={row: data for row, data in input_rows.items() if data is not None})
    except KeyboardInterrupt:
        log.warning("%s: every finished value is in %s", table.metadata.get("interrupted", "interrupted"),
                    run_dir / "results.md")
        raise
    add_combined_score(table, metrics_cfg.get("score"))
    table.write(run_dir)
    return table


def save_test_faces(testset: TestSet, restored: Path, run_dir: Path, count: int) -> Path | None:
    """Copy the first `count` faces (sorted names) as <run>/test_faces/{lq,restored,gt}/<name>.png."""
    if count <= 0:
        return None
    out = run_dir / FACES_FOLDER
    images = {p.stem: p for p in list_images(restored)}
    names = sorted(images)[:count]
    sources = {"restored": images, "lq": {p.stem: p for p in list_images(testset.inputs)}}
    if testset.references is not None:
        sources["gt"] = {p.stem: p for p in list_images(testset.references)}
    for kind, index in sources.items():
        (out / kind).mkdir(parents=True, exist_ok=True)
        for name in names:
            if name in index:
                shutil.copyfile(index[name], out / kind / f"{name}{index[name].suffix}")
    return out
