"""Train a GFP-GAN (Wang et al., CVPR 2021) with Lightning and Hydra.

    python train.py                                        # small model, synthetic faces, CPU, a few minutes
    python train.py experiment=gfpgan_v1 data.root=PATH    # the paper recipe at 512 (docs/training.md)
    python train.py trainer.devices=4 trainer=ddp          # multi-GPU; trainer.num_nodes=M for multi-node
    python train.py trainer.precision=bf16-mixed           # mixed precision
    python train.py ckpt_path=last hydra.run.dir=outputs/train/<run>   # resume that run exactly

Everything a run writes (checkpoints/, samples/, metrics.csv, .hydra/) lands in one run folder.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import hydra
import torch
from omegaconf import DictConfig
from pytorch_lightning.utilities import rank_zero_info

from gpen.lit.build import build_training, generator_spec
from gpen.lit.checkpointing import TimeBudget, find_resume_checkpoint
from gpen.lit.config_checks import check_top_level_keys
from gpen.lit.pretrained import load_pretrained
from gpen.lit.resume import check_resume_checkpoint
from gpen.lit.run_log import log_fatal, remove_empty_folders, route_lightning_logs
from gpen.utils.threads import resolve_num_threads


def resolve_ckpt_path(ckpt_path: str | None, run_dir: Path) -> str | None:
    """`last` means <run>/checkpoints/last.ckpt; a missing or unreadable file is an error, never a silent
    fresh start. `auto` resumes from the run folder's newest checkpoint when there is one (re-launched or
    requeued sweep jobs), else starts fresh."""
    if ckpt_path is None:
        return None
    if ckpt_path == "auto":
        found = find_resume_checkpoint(run_dir)
        rank_zero_info(f"ckpt_path=auto: {f'resuming from {found}' if found else 'no checkpoint, fresh start'}")
        return None if found is None else str(found)
    path = run_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        hint = (" (ckpt_path=last looks in this run's folder: pass hydra.run.dir=<the run to resume>)"
                if ckpt_path == "last" else "")
        raise FileNotFoundError(f"ckpt_path: no checkpoint at {path}{hint}")
    return str(path)


def train(cfg: DictConfig) -> dict[str, float]:
    run_dir = Path(cfg.paths.run_dir)
    rank_zero_info(f"Run folder: {run_dir.resolve()}")
    check_top_level_keys(cfg)
    threads = resolve_num_threads(cfg.get("num_threads"))
    if threads is not None:
        torch.set_num_threads(threads)
        rank_zero_info(f"torch CPU threads: {threads} (num_threads={cfg.get('num_threads')})")
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, run_dir)  # cheap checks first, the dataset scan last
    if ckpt_path is not None:
        check_resume_checkpoint(ckpt_path, generator_spec(cfg.model))
    notes = []
    module, datamodule, trainer = build_training(  # missing files fail before the data is scanned
        cfg, before_data=lambda module: notes.extend(
            load_pretrained(module, cfg.pretrained, cfg.model.get("latent_start", "random"))))
    for note in notes:
        rank_zero_info(f"Random init: {note}")
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    budget = next((c for c in trainer.callbacks if isinstance(c, TimeBudget)), None)
    signalled = any(getattr(c, "stopped_by_signal", False) for c in trainer.callbacks)
    if signalled or (budget is not None and budget.stopped_at is not None):
        reason = "a signal" if signalled else "the time budget"
        rank_zero_info(f"Stopped by {reason} at iteration {trainer.global_step} of {trainer.max_steps} "
                       f"(not finished). Continue: python train.py <same overrides> ckpt_path=last "
                       f"hydra.run.dir={run_dir}")
    else:
        rank_zero_info(f"Finished at iteration {trainer.global_step}. Run folder: {run_dir.resolve()}")
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


@hydra.main(version_base="1.3", config_path="configs", config_name="train")
def main(cfg: DictConfig) -> None:
    route_lightning_logs()  # <run>/train.log gets what the console shows
    try:
        train(cfg)
    except BaseException as error:
        log_fatal(error)
        remove_empty_folders(Path(cfg.paths.run_dir))
        raise


if __name__ == "__main__":
    main()
