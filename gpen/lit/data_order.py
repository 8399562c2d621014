"""Reproducible, resumable data order for training.

The order of an epoch depends only on (seed, epoch); each DDP rank takes every world_size-th index.
`ResumableDataLoader` implements Lightning's `state_dict` / `load_state_dict` protocol, so a checkpoint
taken mid-epoch records how many batches of the epoch were consumed and the resumed run skips exactly
those — together with datasets whose draws depend only on (seed, epoch, index), N steps interrupted and
resumed see the same batches as N uninterrupted steps. Lightning's own DistributedSampler injection is
switched off (`use_distributed_sampler: false`) because this sampler shards itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.seed import seed_everything
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, Sampler


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ResumableSampler(Sampler[int]):
    """Seeded permutation per epoch, sharded per rank, with an optional number of indices to skip."""

    def __init__(self, dataset_len: int, seed: int, shuffle: bool = True,
                 on_epoch: Callable[[int], None] | None = None) -> None:
        self.dataset_len = dataset_len
        self.on_epoch = on_epoch  # the dataset's set_epoch: its random draws follow the epoch too
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.skip = 0  # indices of this rank's share already consumed in `epoch`

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.skip = 0
        self.epoch = epoch
        if self.on_epoch is not None:
            self.on_epoch(epoch)

    def __len__(self) -> int:
        world, _ = _world()
        return math.ceil(self.dataset_len / world)

    def __iter__(self) -> Iterator[int]:
        world, rank = _world()
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.dataset_len, generator=gen).tolist()
        else:
            order = list(range(self.dataset_len))
        order += order[: len(self) * world - len(order)]  # pad so every rank gets the same count
        skip, self.skip = self.skip, 0
        return iter(order[rank::world][skip:])


class ResumableDataLoader(DataLoader):
    """A DataLoader over a `ResumableSampler` that counts the batches it has handed out this epoch."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, shuffle: bool = True,
                 **kwargs: Any) -> None:
        kwargs.setdefault("drop_last", True)
        if kwargs.get("persistent_workers"):
            raise ValueError("persistent_workers would keep datasets of a past epoch in the workers; "
                             "the resumable loader needs them re-created each epoch (set it to false)")
        sampler = ResumableSampler(len(dataset), seed, shuffle, getattr(dataset, "set_epoch", None))
        super().__init__(dataset, batch_size=batch_size, sampler=sampler, **kwargs)
        self._served = 0

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


class StepSeed(pl.Callback):
    """Reseed torch / numpy / random before every training step from (seed, rank, step).

    The random streams a step uses (generator noise, dropout, R1 sampling) then depend only on where the
    run is, not on how it got there, so a resumed run draws exactly what an uninterrupted one draws —
    whatever validation, data loading or checkpointing consumed in between.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        step_seed = (self.seed * 1_000_003 + trainer.global_rank * 10_007 + trainer.global_step) % 2**31
        seed_everything(step_seed, workers=False, verbose=False)
