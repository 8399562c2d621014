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

import json
import logging
import sys
import tempfile
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from gpen.cli.make_testset import write_synthetic_testset
from gpen.data.testsets import (
    ImagePairs,
    TestSet,
    check_not_ground_truth,
    collate_same_size,
    open_testset,
    resize_square,
)
from gpen.lit.run_log import log_fatal
from gpen.metrics.benchmark import benchmark, restore_folder, save_test_faces, write_batch
from gpen.metrics.report import ResultsTable
from gpen.restore import RestoreSettings, load_face_parser, texture_controls
from gpen.utils.pretrained import MissingWeightsError

log = logging.getLogger("gpen.evaluate")


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
        write_batch(out_dir, batch["name"], texture_controls(inputs, restored, settings, parser=parser))
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


def synthetic_testset(cfg: DictConfig, folder: Path) -> Path:
    """testset=synthetic: built-in faces made like `gpen-make-testset --synthetic` (official degradation
    model or a scenario preset, at synthetic.degradation_scale), at synthetic.size or the generator's size."""
    from gpen.models import load_generator

    settings = dict(OmegaConf.to_container(cfg.synthetic))
    if settings["size"] is None:
        if cfg.checkpoint is None:
            raise ValueError("testset=synthetic with `restored`: set synthetic.size to the restored images' size")
        settings["size"] = load_generator(cfg.checkpoint).out_size
    write_synthetic_testset(folder, **settings)
    return folder


def run(cfg: DictConfig, run_dir: Path) -> ResultsTable:
    if cfg.testset != "synthetic":
        return evaluate_testset(cfg, run_dir, open_testset(cfg.testset))
    with tempfile.TemporaryDirectory(prefix=".synthetic_testset_", dir=run_dir) as tmp:
        return evaluate_testset(cfg, run_dir, open_testset(synthetic_testset(cfg, Path(tmp))), "synthetic")


def evaluate_testset(cfg: DictConfig, run_dir: Path, testset: TestSet, label: str | None = None) -> ResultsTable:
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if cfg.device == "auto" else cfg.device)
    if (cfg.checkpoint is None) == (cfg.restored is None):
        raise ValueError("give exactly one of `checkpoint` (restore, then score) or `restored` (score a folder)")
    settings = restore_settings(cfg)  # validated before any work
    metadata = {"checkpoint": cfg.checkpoint, "restored_folder": cfg.restored, "restore": settings.to_dict()}
    if label is not None:  # a temporary folder: record how it was made instead of its path
        metadata["testset"] = f"{label}: " + json.dumps(OmegaConf.to_container(cfg.synthetic), sort_keys=True)
    if cfg.checkpoint is not None:
        restored, metadata["restoration"] = restore_testset(cfg, testset.inputs, device, settings)
    elif settings.uniform_weights and not settings.keep_grain:
        restored = Path(cfg.restored)
        check_not_ground_truth(restored, testset)
    else:  # texture control on top of another method's outputs
        pairs = ImagePairs(cfg.restored, testset.inputs)
        restored = control_folder(pairs, _output_folder(cfg), settings, device, cfg.batch_size, cfg.progress)
        metadata["texture_controls"] = {"from": str(cfg.restored), "written_to": str(restored),
                                        "images": len(pairs), "skipped": pairs.skipped.as_dict()}
    method = cfg.method_name or Path(cfg.checkpoint or cfg.restored).stem
    table = benchmark(restored, testset, method, OmegaConf.to_container(cfg.metrics, resolve=True),
                      OmegaConf.to_container(cfg.protocol), run_dir, metadata, device, cfg.batch_size,
                      cfg.num_workers, cfg.progress)
    save_test_faces(testset, restored, run_dir, cfg.saved_faces)
    log.info("results:\n%s\nwritten to %s", table.to_markdown().split("\n## ")[0], run_dir / "results.md")
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
    try:
        run(cfg, Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir))
    except BaseException as error:  # the traceback lands in <run>/evaluate.log, where gpen-report finds it
        log_fatal(error, "gpen.evaluate")
        raise


if __name__ == "__main__":
    main()
