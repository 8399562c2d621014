"""Validation during training: PSNR / SSIM / LPIPS of the EMA generator on a fixed val set, and sample
grids (LQ | output | GT) written to `<run>/samples/` and to the logger.

These are training monitors (torchmetrics, RGB in [0, 1], no border crop); the paper-protocol metrics
live in gpen.metrics and evaluate.py. LPIPS needs torchvision's ImageNet VGG16 file in the torch hub
cache (no download here); without it LPIPS is skipped and the run says so once at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import nn
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from torchvision.utils import make_grid, save_image

LPIPS_BACKBONE_FILE = "vgg16-397923af.pth"  # what lpips.LPIPS(net="vgg") asks torchvision for


def lpips_backbone_available() -> bool:
    return (Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE_FILE).is_file()


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((images.float() + 1) / 2).clamp(0, 1)


class RestorationValidator(nn.Module):
    """Accumulates val metrics for output vs GT (and LQ vs GT, for reference) and saves one grid."""

    def __init__(self, sample_dir: str | None = None, num_samples: int = 8, lpips: bool = True) -> None:
        super().__init__()
        self.sample_dir = Path(sample_dir) if sample_dir else None
        self.num_samples = num_samples
        self.psnr = PeakSignalNoiseRatio(data_range=1.0)
        self.psnr_lq = PeakSignalNoiseRatio(data_range=1.0)
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.ssim_lq = StructuralSimilarityIndexMeasure(data_range=1.0)
        self.want_lpips = lpips
        self._lpips: list[nn.Module] = []  # a list, so LPIPS stays out of the checkpoint's state dict
        self._grid: list[torch.Tensor] = []

    def setup_lpips(self) -> None:
        """Build LPIPS (VGG, v0.1) if its backbone file is cached; called once in setup()."""
        if not self.want_lpips or self._lpips:
            return
        if not lpips_backbone_available():
            rank_zero_info(f"val/lpips skipped: {LPIPS_BACKBONE_FILE} is not in {torch.hub.get_dir()}/checkpoints "
                           "(no download on this machine); PSNR/SSIM are still computed.")
            self.want_lpips = False
            return
        import lpips  # only when its backbone file exists

        self._lpips.append(lpips.LPIPS(net="vgg", version="0.1", verbose=False).eval().requires_grad_(False))

    def update(self, module: pl.LightningModule, batch: Mapping[str, Any], output: torch.Tensor,
               batch_idx: int) -> None:
        out, gt, lq = to_unit(output), to_unit(batch["gt"]), to_unit(batch["lq"])
        self.psnr.update(out, gt)
        self.psnr_lq.update(lq, gt)
        self.ssim.update(out, gt)
        self.ssim_lq.update(lq, gt)
        if self._lpips:
            value = self._lpips[0].to(output.device)(output.float().clamp(-1, 1), batch["gt"].float()).mean()
            module.log("val/lpips", value, on_epoch=True, sync_dist=True, batch_size=len(output))
        if batch_idx == 0:
            n = self.num_samples
            self._grid = [lq[:n].cpu(), out[:n].cpu(), gt[:n].cpu()]

    def compute_and_log(self, module: pl.LightningModule) -> None:
        module.log_dict({"val/psnr": self.psnr.compute(), "val/psnr_lq": self.psnr_lq.compute(),
                         "val/ssim": self.ssim.compute(), "val/ssim_lq": self.ssim_lq.compute()}, sync_dist=False)
        for metric in (self.psnr, self.psnr_lq, self.ssim, self.ssim_lq):
            metric.reset()
        if self._grid and module.trainer.is_global_zero and not module.trainer.sanity_checking:
            self._save_grid(module)
        self._grid = []

    def _save_grid(self, module: pl.LightningModule) -> None:
        lq, out, gt = self._grid
        rows = torch.stack([lq, out, gt], 1).flatten(0, 1)  # (3N, 3, H, W): LQ | output | GT per face
        grid = make_grid(rows, nrow=3, padding=2)
        step = module.global_step
        if self.sample_dir is not None:
            self.sample_dir.mkdir(parents=True, exist_ok=True)
            save_image(grid, self.sample_dir / f"step_{step:07d}.png")
        for logger in module.loggers:
            if hasattr(logger, "log_image"):  # wandb / tensorboard-style loggers; CSV has none
                logger.log_image(key="val/samples", images=[grid], step=step, caption=["LQ | output | GT"])
