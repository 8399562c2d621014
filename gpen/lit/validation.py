"""Validation during training: PSNR / SSIM / LPIPS / SWD of the EMA generator on a fixed val set, and
sample grids (LQ | output | GT) written to `<run>/samples/` and to the logger. For prior training
(`PriorValidator`): the SWD of samples from fixed latents to real faces, and a grid of those samples.

`val/swd` is the multi-scale sliced Wasserstein distance (gpen.metrics.swd) of the EMA outputs to the GT
faces, `val/swd_lq` that of the LQ inputs: a realism measure that needs no pretrained network.

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

from gpen.metrics.swd import sliced_wasserstein_distance

LPIPS_BACKBONE_FILE = "vgg16-397923af.pth"  # what lpips.LPIPS(net="vgg") asks torchvision for


def lpips_backbone_available() -> bool:
    return (Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE_FILE).is_file()


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped."""
    return ((images.float() + 1) / 2).clamp(0, 1)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8 on the CPU: what an image file would hold (and 4x less memory to keep)."""
    return (to_unit(images) * 255).round().to(torch.uint8).cpu()


class ImageSets:
    """Named sets of validation images gathered over an epoch (uint8, CPU) for set-level metrics."""

    def __init__(self) -> None:
        self.sets: dict[str, list[torch.Tensor]] = {}

    def add(self, **images: torch.Tensor) -> None:
        for name, batch in images.items():
            self.sets.setdefault(name, []).append(to_uint8(batch))

    def pop(self, name: str) -> torch.Tensor:
        """(N, 3, H, W) float in [0, 1]."""
        return torch.cat(self.sets.pop(name)).float() / 255

    def clear(self) -> None:
        self.sets.clear()


def swd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.tensor(sliced_wasserstein_distance(a, b)["swd"])


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
        self._images = ImageSets()

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
        self._images.add(output=output, gt=batch["gt"], lq=batch["lq"])
        if self._lpips:
            value = self._lpips[0].to(output.device)(output.float().clamp(-1, 1), batch["gt"].float()).mean()
            module.log("val/lpips", value, on_epoch=True, sync_dist=True, batch_size=len(output))
        if batch_idx == 0:
            n = self.num_samples
            self._grid = [lq[:n].cpu(), out[:n].cpu(), gt[:n].cpu()]

    def compute_and_log(self, module: pl.LightningModule) -> None:
        logs = {"val/psnr": self.psnr.compute(), "val/psnr_lq": self.psnr_lq.compute(),
                "val/ssim": self.ssim.compute(), "val/ssim_lq": self.ssim_lq.compute()}
        if self._images.sets:
            gt = self._images.pop("gt")
            logs["val/swd"] = swd(self._images.pop("output"), gt)
            logs["val/swd_lq"] = swd(self._images.pop("lq"), gt)
        module.log_dict(logs, sync_dist=False)
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


class PriorValidator(nn.Module):
    """Prior training: SWD of generated faces (fixed latents, EMA generator) to the real val faces, and a
    grid of the generated faces, `<run>/samples/step_*.png` (the same latents at every validation)."""

    def __init__(self, sample_dir: str | None = None, num_samples: int = 32, nrow: int = 8) -> None:
        super().__init__()
        self.sample_dir = Path(sample_dir) if sample_dir else None
        self.num_samples, self.nrow = num_samples, nrow
        self._images = ImageSets()

    def setup_lpips(self) -> None:  # the training module's hook; no LPIPS for unconditional samples
        pass

    def update(self, module: pl.LightningModule, batch: Mapping[str, Any], output: torch.Tensor,
               batch_idx: int) -> None:
        self._images.add(output=output, gt=batch["gt"])

    def compute_and_log(self, module: pl.LightningModule) -> None:
        if not self._images.sets:
            return
        fake, real = self._images.pop("output"), self._images.pop("gt")
        self._images.clear()
        module.log("val/swd", swd(fake, real), sync_dist=False)
        if module.trainer.is_global_zero and not module.trainer.sanity_checking and self.sample_dir is not None:
            self.sample_dir.mkdir(parents=True, exist_ok=True)
            grid = make_grid(fake[: self.num_samples], nrow=self.nrow, padding=2)
            save_image(grid, self.sample_dir / f"step_{module.global_step:07d}.png")
            for logger in module.loggers:
                if hasattr(logger, "log_image"):
                    logger.log_image(key="val/samples", images=[grid], step=module.global_step,
                                     caption=["samples from fixed latents (EMA)"])
