"""Config -> objects for training: the one place that turns the composed Hydra config into the generator,
loss terms, optimisers, LightningModule, callbacks, loggers and Trainer. Shared by train.py and the tests
so both exercise exactly the same wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from gpen.lit.checkpointing import AtomicCheckpointIO
from gpen.lit.config_checks import check_accelerator, check_optimizers
from gpen.lit.module import GANModule
from gpen.losses.base import LossTerm
from gpen.losses.pixel import RegionWeightMap


def build_loss_terms(loss_cfg: DictConfig) -> dict[str, LossTerm]:
    """Instantiate every term of `loss.terms` whose weight is not 0 (weight 0: the term and its network
    are never built). Region weights are validated even when no per-pixel term uses them."""
    if loss_cfg.get("region_weights") is not None:
        RegionWeightMap(OmegaConf.to_container(loss_cfg.region_weights, resolve=True))
    return {name: instantiate(term, name=name) for name, term in loss_cfg.terms.items() if term.weight != 0}


def build_regularizers(loss_cfg: DictConfig) -> dict[str, torch.nn.Module]:
    """Lazy generator regularisers of `loss.regularizers` whose weight is not 0."""
    regs = loss_cfg.get("regularizers") or {}
    return {name: instantiate(reg, name=name) for name, reg in regs.items() if reg.weight != 0}


def generator_spec(model_cfg: DictConfig) -> dict[str, Any]:
    """The {"arch", "kwargs"} record stored in checkpoints so inference can rebuild the generator.

    A prior run records its StyleGAN2 `decoder` (what it exports), not the unconditional wrapper."""
    kwargs = OmegaConf.to_container(model_cfg.generator, resolve=True)
    kwargs = kwargs.get("decoder", kwargs)
    kwargs.pop("_target_")
    return {"arch": model_cfg.arch, "kwargs": kwargs}


def build_module(cfg: DictConfig) -> GANModule:
    optim = instantiate(cfg.optim)
    check_optimizers(optim)
    return GANModule(
        generator=instantiate(cfg.model.generator),
        losses=build_loss_terms(cfg.loss),
        generator_optimizer=optim.generator,
        discriminator_optimizers=optim.discriminators,
        scheduler=optim.get("scheduler"),
        generator_spec=generator_spec(cfg.model),
        ema_decay=cfg.model.ema_decay,
        max_consecutive_nonfinite=cfg.model.max_consecutive_nonfinite,
        validator=instantiate(cfg.model.validator) if cfg.model.get("validator") else None,
        regularizers=build_regularizers(cfg.loss),
        input_key=cfg.model.get("input_key", "lq"),
    )


def build_trainer(cfg: DictConfig) -> pl.Trainer:
    check_accelerator(cfg.trainer)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                       plugins=[AtomicCheckpointIO()])


def build_training(cfg: DictConfig, before_data: Callable[[GANModule], Any] | None = None
                   ) -> tuple[GANModule, pl.LightningDataModule, pl.Trainer]:
    """Seed, then build module, datamodule and trainer (in that order, so initialisation is seeded).

    `before_data(module)` runs between the module and the data (e.g. loading pretrained files), so its
    errors come before a long dataset scan."""
    check_accelerator(cfg.trainer)  # before anything is built or scanned
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = build_module(cfg)
    if before_data is not None:
        before_data(module)
    datamodule = instantiate(cfg.data)
    return module, datamodule, build_trainer(cfg)
