"""Benchmark a restoration model on a test set: PSNR, SSIM, LPIPS, FID, NIQE, Deg (LMD) (DESIGN §5).

    python evaluate.py testset=data/celeba_test checkpoint=GFPGANv1.3.pth metrics.fid.reference_stats=ffhq.npz
    python evaluate.py testset=data/webphoto_test restored=outputs/restore/webphoto method_name=ours

A checkpoint restores the test set's inputs in batches (written to `save_restored`); a folder of
already-restored images is scored as it is. Paired sets (lq/ + gt/) get every metric and an "Input"
row for the degraded inputs; unpaired sets only the no-reference metrics. The table is rewritten
after every metric as results.md / .csv / .json in the run folder.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from gpen.data.testsets import ImagePairs, check_not_ground_truth, collate_same_size, open_testset, same_pairs
from gpen.metrics.api import evaluate_rows
from gpen.metrics.report import ResultsTable
from gpen.utils.image_io import write_image
from gpen.utils.machine import describe_machine

log = logging.getLogger("gpen.evaluate")
PACKAGES = ("gpen", "torch", "torchvision", "lpips", "pyiqa", "facenet-pytorch", "numpy", "scipy")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@torch.no_grad()
def restore_folder(generator: torch.nn.Module, inputs: ImagePairs, out_dir: Path, device: torch.device,
                   batch_size: int, num_workers: int, progress: bool) -> Path:
    """Restore every input (RGB [0, 1] -> generator on [-1, 1] -> first output) and write <name>.png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    loader = DataLoader(inputs, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_same_size)
    generator = generator.to(device).eval()
    for batch in tqdm(loader, desc="restore", disable=not progress):
        restored = generator(batch["image"].to(device) * 2 - 1)[0]  # (B, 3, S, S) in about [-1, 1]
        images = ((restored + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()  # (B, S, S, 3)
        for name, image in zip(batch["name"], images):
            write_image(out_dir / f"{name}.png", image)
    return out_dir


def restore_testset(cfg: DictConfig, inputs: Path, device: torch.device) -> tuple[Path, dict]:
    """Load the generator, restore the inputs into cfg.save_restored; returns the folder and notes."""
    from gpen.models import load_generator  # the networks package; only needed with a checkpoint

    out_dir = Path(cfg.save_restored).resolve()
    if out_dir.is_relative_to(Path(cfg.testset).resolve()):
        raise ValueError(f"save_restored={out_dir} lies inside the test set {cfg.testset}, which is only read")
    generator = load_generator(cfg.checkpoint, **OmegaConf.to_container(cfg.generator_overrides))
    size = cfg.protocol.input_size or generator.out_size  # other input sizes are resized to it (recorded)
    dataset = ImagePairs(inputs, size=size)
    if size is not None:
        log.info("inputs of another size than %dx%d are resized to it (bicubic, antialiased) before restoring; "
                 "recorded as restoration.input_resized_to", size, size)
    restore_folder(generator, dataset, out_dir, device, cfg.batch_size, cfg.num_workers, cfg.progress)
    notes = {"restored_images": len(dataset), "input_resized_to": size, "skipped_inputs": dataset.skipped.as_dict()}
    return out_dir, notes


def run(cfg: DictConfig, run_dir: Path) -> ResultsTable:
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device)
    testset = open_testset(cfg.testset)
    if (cfg.checkpoint is None) == (cfg.restored is None):
        raise ValueError("give exactly one of `checkpoint` (restore, then score) or `restored` (score a folder)")
    metadata = {"testset": str(testset.root), "paired": testset.paired, "checkpoint": cfg.checkpoint,
                "restored_folder": cfg.restored, "protocol": OmegaConf.to_container(cfg.protocol),
                "metrics": OmegaConf.to_container(cfg.metrics), "device": str(device),
                "machine": describe_machine(device), "packages": package_versions()}
    if cfg.checkpoint is not None:
        restored, metadata["restoration"] = restore_testset(cfg, testset.inputs, device)
    else:
        restored = Path(cfg.restored)
        check_not_ground_truth(restored, testset)
    method = cfg.method_name or Path(cfg.checkpoint or cfg.restored).stem
    rows = {method: ImagePairs(restored, testset.references, size=cfg.protocol.resize)}
    if testset.paired:
        rows["Input"] = ImagePairs(testset.inputs, testset.references, size=cfg.protocol.resize)
        metadata["left_out_for_common_pairs"] = same_pairs(rows)
    metadata["images"] = {row: len(data) for row, data in rows.items()}
    metadata["skipped"] = {row: data.skipped.as_dict() for row, data in rows.items()}
    metrics = [hydra.utils.instantiate(spec) for spec in cfg.metrics.values() if spec is not None]
    metrics = [m for m in metrics if testset.paired or not m.needs_reference]  # unpaired: no-reference only
    table = ResultsTable([m.name for m in metrics], {row: {} for row in rows}, metadata)
    table.write(run_dir)  # the run's facts are on disk before the first metric starts
    try:
        table = evaluate_rows(rows, metrics, device, cfg.batch_size, cfg.num_workers, cfg.progress, table,
                              on_update=lambda t: t.write(run_dir))
    except KeyboardInterrupt:
        log.warning("%s: every finished value is in %s", table.metadata.get("interrupted", "interrupted"),
                    run_dir / "results.md")
        raise
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


@hydra.main(version_base="1.3", config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run(cfg, Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
