"""Benchmark a restoration model on a test set: PSNR, SSIM, LPIPS, FID, NIQE, Deg (LMD), texture measures
(docs/evaluation.md, docs/knobs.md).

    python evaluate.py testset=data/celeba_test checkpoint=GFPGANv1.3.pth metrics.fid.reference_stats=ffhq.npz
    python evaluate.py testset=data/webphoto_test restored=outputs/restore/webphoto method_name=ours

A checkpoint restores the test set's inputs in batches (written to `save_restored`); a folder of
already-restored images is scored as it is. Paired sets (lq/ + gt/) get every metric and an "Input"
row for the degraded inputs; unpaired sets only the no-reference metrics. The table is rewritten
after every metric as results.md / .csv / .json in the run folder.

The `restore` block (configs/restore/, docs/knobs.md) sets the texture controls: with a checkpoint all
of them (fidelity, latent refinement, region weights, grain keeping); with a restored folder the region
blend and grain keeping, applied to (input, restored) pairs into `save_restored` before scoring.
"""

from __future__ import annotations

import importlib.metadata
import logging
import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from gpen.data.testsets import ImagePairs, collate_same_size, open_testset, resize_square
from gpen.metrics.api import evaluate_rows
from gpen.metrics.presets import add_combined_score, file_sha256
from gpen.metrics.report import ResultsTable
from gpen.restore import RestoreSettings, load_face_parser, restore_aligned, texture_controls
from gpen.utils.image_io import write_image
from gpen.utils.machine import describe_machine
from gpen.utils.pretrained import MissingWeightsError

log = logging.getLogger("gpen.evaluate")
PRESET_KEYS = ("preset", "score")  # entries of the metrics group that are not metrics
PACKAGES = ("gpen", "torch", "torchvision", "lpips", "pyiqa", "facenet-pytorch", "numpy", "scipy")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _write_batch(out_dir: Path, names: list[str], faces: torch.Tensor) -> None:
    images = ((faces + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # (B, S, S, 3)
    for name, image in zip(names, images):
        write_image(out_dir / f"{name}.png", image)


@torch.no_grad()
def restore_folder(generator: torch.nn.Module, inputs: ImagePairs, out_dir: Path, device: torch.device,
                   batch_size: int, num_workers: int, progress: bool,
                   settings: RestoreSettings | None = None) -> Path:
    """Restore every input (RGB [0, 1] -> [-1, 1] -> `restore_aligned` with the knobs) and write <name>.png."""
    settings = settings or RestoreSettings()
    out_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(inputs, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_same_size)
    generator = generator.to(device).eval()
    parser = load_face_parser(settings, device)
    for batch in tqdm(loader, desc="restore", disable=not progress):
        faces = batch["image"].to(device) * 2 - 1  # (B, 3, S, S)
        _write_batch(out_dir, batch["name"], restore_aligned(generator, faces, settings, parser=parser))
    return out_dir


@torch.no_grad()
def control_folder(pairs: ImagePairs, out_dir: Path, settings: RestoreSettings, device: torch.device,
                   batch_size: int, progress: bool) -> Path:
    """Region blend + grain keeping on another method's outputs: pairs = (restored, input) images."""
    out_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(pairs, batch_size=batch_size, collate_fn=_collate_input_at_output_size)
    parser = load_face_parser(settings, device)
    for batch in tqdm(loader, desc="texture controls", disable=not progress):
        restored = batch["image"].to(device) * 2 - 1  # (B, 3, S, S)
        inputs = batch["reference"].to(device) * 2 - 1
        _write_batch(out_dir, batch["name"], texture_controls(inputs, restored, settings, parser=parser))
    return out_dir


def _collate_input_at_output_size(items: list[dict]) -> dict:
    """Resize each input (the item's reference) to its restored image's size, then stack."""
    for item in items:
        item["reference"] = resize_square(item["reference"], item["image"].shape[-1])
    return collate_same_size(items)


def restore_settings(cfg: DictConfig) -> RestoreSettings:
    """The validated restore block; generator_overrides.sft_strength (older configs) is folded into it."""
    values = OmegaConf.to_container(cfg.restore, resolve=True)
    legacy = cfg.generator_overrides.get("sft_strength")
    if legacy is not None:
        if values.get("sft_strength", 1.0) not in (1.0, legacy):
            raise ValueError(f"generator_overrides.sft_strength={legacy} and restore.sft_strength="
                             f"{values['sft_strength']} disagree; set only restore.sft_strength")
        values["sft_strength"] = legacy
    settings = RestoreSettings.from_mapping(values)
    if settings.parser_path is not None and not Path(settings.parser_path).expanduser().is_file():
        raise MissingWeightsError(f"restore.parser_path={settings.parser_path}: no such file (facexlib's "
                                  f"parsing_{settings.parser}.pth; set restore.parser_path=null for template masks)")
    if cfg.restored is not None and (settings.latent_steps > 0 or settings.latent_start != "encoder"
                                     or settings.sft_strength != 1.0):
        raise ValueError("restore.latent_steps, latent_start and sft_strength need a generator (checkpoint=...); "
                         "on a restored folder only restore.region_weights and keep_grain apply")
    return settings


def restore_testset(cfg: DictConfig, inputs: Path, device: torch.device,
                    settings: RestoreSettings | None = None) -> tuple[Path, dict]:
    """Load the generator, restore the inputs into cfg.save_restored; returns the folder and notes."""
    from gpen.models import load_generator  # the networks package; only needed with a checkpoint

    out_dir = _output_folder(cfg)
    overrides = {k: v for k, v in OmegaConf.to_container(cfg.generator_overrides).items() if k != "sft_strength"}
    generator = load_generator(cfg.checkpoint, **overrides)
    size = cfg.protocol.input_size or generator.out_size  # other input sizes are resized to it (recorded)
    dataset = ImagePairs(inputs, size=size)
    if size is not None:
        log.info("inputs of another size than %dx%d are resized to it (bicubic, antialiased) before restoring; "
                 "recorded as restoration.input_resized_to", size, size)
    restore_folder(generator, dataset, out_dir, device, cfg.batch_size, cfg.num_workers, cfg.progress, settings)
    notes = {"restored_images": len(dataset), "input_resized_to": size, "skipped_inputs": dataset.skipped.as_dict()}
    return out_dir, notes


def _output_folder(cfg: DictConfig) -> Path:
    out_dir = Path(cfg.save_restored).resolve()
    if out_dir.is_relative_to(Path(cfg.testset).resolve()):
        raise ValueError(f"save_restored={out_dir} lies inside the test set {cfg.testset}, which is only read")
    return out_dir


def input_pairs(restored: Path, inputs: Path, size: int | None) -> ImagePairs | None:
    """Restored images paired with the inputs of the same name (texture measures); None when none match."""
    try:
        return ImagePairs(restored, inputs, size=size)
    except FileNotFoundError as error:
        log.warning("texture measures against the input left out: %s", error)
        return None


def run(cfg: DictConfig, run_dir: Path) -> ResultsTable:
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device)
    testset = open_testset(cfg.testset)
    if (cfg.checkpoint is None) == (cfg.restored is None):
        raise ValueError("give exactly one of `checkpoint` (restore, then score) or `restored` (score a folder)")
    settings = restore_settings(cfg)  # validated before any work
    metadata = {"testset": str(testset.root), "paired": testset.paired, "checkpoint": cfg.checkpoint,
                "restored_folder": cfg.restored, "protocol": OmegaConf.to_container(cfg.protocol),
                "metrics": OmegaConf.to_container(cfg.metrics), "device": str(device),
                "machine": describe_machine(device), "packages": package_versions(), "restore": settings.to_dict()}
    if cfg.checkpoint is not None:
        restored, metadata["restoration"] = restore_testset(cfg, testset.inputs, device, settings)
    elif settings.uniform_weights and not settings.keep_grain:
        restored = Path(cfg.restored)
    else:  # texture control on top of another method's outputs
        pairs = ImagePairs(cfg.restored, testset.inputs)
        restored = control_folder(pairs, _output_folder(cfg), settings, device, cfg.batch_size, cfg.progress)
        metadata["texture_controls"] = {"from": str(cfg.restored), "written_to": str(restored),
                                        "images": len(pairs), "skipped": pairs.skipped.as_dict()}
    method = cfg.method_name or Path(cfg.checkpoint or cfg.restored).stem
    rows = {method: ImagePairs(restored, testset.references, size=cfg.protocol.resize)}
    if testset.paired:
        rows["Input"] = ImagePairs(testset.inputs, testset.references, size=cfg.protocol.resize)
    metadata["images"] = {row: len(data) for row, data in rows.items()}
    metadata["skipped"] = {row: data.skipped.as_dict() for row, data in rows.items()}
    metadata["metrics_preset"] = cfg.metrics.get("preset")
    fid_stats = (cfg.metrics.get("fid") or {}).get("reference_stats")
    metadata["fid_reference_stats"] = {"path": fid_stats, "sha256": file_sha256(fid_stats)}
    specs = {key: spec for key, spec in cfg.metrics.items() if key not in PRESET_KEYS}
    metrics = [hydra.utils.instantiate(spec) for spec in specs.values() if spec is not None]
    # unpaired: no-reference metrics, and the texture measures against the input
    metrics = [m for m in metrics if testset.paired or not m.needs_reference or m.reference_kind != "gt"]
    input_rows = {method: input_pairs(restored, testset.inputs, cfg.protocol.resize)}
    table = ResultsTable([m.name for m in metrics], {row: {} for row in rows}, metadata)
    table.write(run_dir)  # the run's facts are on disk before the first metric starts
    table = evaluate_rows(rows, metrics, device, cfg.batch_size, cfg.num_workers, cfg.progress, table,
                          on_update=lambda t: t.write(run_dir),
                          input_rows={row: data for row, data in input_rows.items() if data is not None})
    add_combined_score(table, cfg.metrics.get("score"))
    paths = table.write(run_dir)
    log.info("results:\n%s\nwritten to %s", table.to_markdown().split("\n## ")[0], paths["md"])
    if cfg.wandb.enabled:
        log_to_wandb(cfg, table, run_dir)
    return table


def log_to_wandb(cfg: DictConfig, table: ResultsTable, run_dir: Path) -> None:
    import wandb

    run = wandb.init(project=cfg.wandb.project, mode=cfg.wandb.mode, dir=str(run_dir), job_type="evaluate",
                     config=OmegaConf.to_container(cfg, resolve=True))
    columns = ["method", *table.metrics]  # text cells: a column may mix numbers and "unavailable: …"
    data = [[row, *(str(cells.get(m, "")) for m in table.metrics)] for row, cells in table.rows.items()]
    run.log({"test/results": wandb.Table(columns=columns, data=data)})
    for row, cells in table.rows.items():
        run.summary.update({f"test/{row}/{m}": v for m, v in cells.items() if isinstance(v, float)})
    run.finish()


def usage_error(cfg: DictConfig) -> str | None:
    """A one-line message for a command line that cannot run, before any work (exit status 2)."""
    if OmegaConf.is_missing(cfg, "testset"):
        return "error: no test set given: add testset=<folder> (see python evaluate.py --help)"
    if (cfg.checkpoint is None) == (cfg.restored is None):
        return ("error: give exactly one of checkpoint=<generator file> (restore, then score) or "
                "restored=<folder> (score already-restored images); see python evaluate.py --help")
    return None


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    if message := usage_error(cfg):
        print(message, file=sys.stderr)
        raise SystemExit(2)
    run(cfg, Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
