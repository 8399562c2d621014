"""Reproducible, resumable data order for training.

The datasets fix every sample by (seed, epoch, index) and the data module's sampler fixes the order by
(seed, epoch). Two things are left for training, added here:

- `ShardedResumableSampler` wraps that sampler: each DDP rank takes every world_size-th item of the
  epoch's order (so Lightning's DistributedSampler injection is off: `use_distributed_sampler: false`),
  and on a mid-epoch resume the already-consumed items are skipped.
- `ResumableDataLoader` implements Lightning's `state_dict` / `load_state_dict` protocol, so a checkpoint
  records the epoch and how many batches of it were consumed.

Together with `StepSeed` (RNG = f(seed, rank, step)), N steps interrupted and resumed see the same
batches and draw the same noise as N uninterrupted steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch.distributed as dist
from lightning_fabric.utilities.seed import seed_everything
from torch.utils.data import DataLoader, Sampler

from gpen.data.datamodule import FaceDataModule


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ShardedResumableSampler(Sampler):
    """This rank's share of `base`'s epoch order, minus the first `skip` items after a resume."""

    def __init__(self, base: Sampler) -> None:
        self.base = base
        self.epoch = getattr(base, "epoch", 0)
        self.skip = 0  # items of this rank's share already consumed in `epoch`

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        world, _ = _world()
        return math.ceil(len(self.base) / world)

    def __iter__(self) -> Iterator[Any]:
        world, rank = _world()
        order = list(self.base)
        order += order[: len(self) * world - len(order)]  # pad so every rank gets the same count
        skip, self.skip = self.skip, 0
        return iter(order[rank::world][skip:])


class ResumableDataLoader(DataLoader):
    """A DataLoader over a `ShardedResumableSampler` that counts the batches it handed out this epoch.

    Lightning does not prefetch from a loader with a length, so batches handed out = batches consumed.
    """

    def __init__(self, *args: Any, sampler: Sampler, **kwargs: Any) -> None:
        super().__init__(*args, sampler=ShardedResumableSampler(sampler), **kwargs)
        self._served = 0

    @classmethod
    def from_loader(cls, loader: DataLoader) -> ResumableDataLoader:
        return cls(loader.dataset, batch_size=loader.batch_size, sampler=loader.sampler,
                   num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
                   drop_last=loader.drop_last, worker_init_fn=loader.worker_init_fn,
                   persistent_workers=loader.persistent_workers,
                   prefetch_factor=loader.prefetch_factor if loader.num_workers > 0 else None)

    def __iter__(self) -> Iterator[Any]:
        self._served = self.sampler.skip // self.batch_size
        for batch in super().__iter__():
            self._served += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.sampler.epoch, "batches": self._served}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.set_epoch(state["epoch"])
        self.sampler.skip = state["batches"] * self.batch_size


class ResumableFaceDataModule(FaceDataModule):
    """`FaceDataModule` whose training loader shards across ranks and resumes mid-epoch."""

    def train_dataloader(self) -> ResumableDataLoader:
        return ResumableDataLoader.from_loader(super().train_dataloader())


class StepSeed(pl.Callback):
    """Reseed torch / numpy / random before every training step from (seed, rank, step).

    The random streams a step uses (generator noise, R1 inputs) then depend only on where the run is,
    not on how it got there, so a resumed run draws exactly what an uninterrupted one draws, whatever
    validation, data loading or checkpointing consumed in between.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step_seed = (self.seed * 1_000_003 + trainer.global_rank * 10_007 + trainer.global_step) % 2**31
        seed_everything(step_seed, workers=False, verbose=False)
