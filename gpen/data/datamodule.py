"""LightningDataModule for face restoration data (paper §4.1: FFHQ degraded on the fly).

Reproducibility does not rest on worker seeding: every sample is fixed by (seed, epoch, index) in
the dataset itself. The training sampler shuffles with a generator seeded by (seed, epoch), tells
the dataset the epoch through `set_epoch`, and yields (epoch, index) pairs so that persistent
workers (whose dataset copies never see `set_epoch`) still draw that epoch's degradations.
Lightning calls the sampler's `set_epoch` at the start of every training epoch. Validation always
uses epoch 0 with no shuffling, so its LQ images are the same every time.

Workers do not call `cv2.setNumThreads`: in a forked worker whose parent already ran OpenCV's
thread pool, that call deadlocks (seen with opencv 5.0), and OpenCV runs fine without it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset, Sampler

from gpen.utils.validation import ConfigValueError, check_range


class EpochSampler(Sampler):
    """Shuffled (epoch, index) pairs; the order is fixed by (seed, epoch)."""

    def __init__(self, dataset: Dataset, seed: int = 0, shuffle: bool = True) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if callable(getattr(self.dataset, "set_epoch", None)):
            self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        n = len(self.dataset)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else range(n)
        return iter([(self.epoch, int(i)) for i in order])


class FaceDataModule(pl.LightningDataModule):
    """Wraps built train/val datasets (folder or synthetic) into data loaders."""

    def __init__(
        self,
        train_dataset: Dataset,
        val_dataset: Dataset,
        batch_size: int = 4,
        val_batch_size: int = 4,
        num_workers: int = 0,
        out_size: int | None = None,        # read by the model config as ${data.out_size}
        seed: int = 0,                      # shuffle order
        pin_memory: bool = False,
        persistent_workers: bool = False,
        drop_last: bool = True,
        root: str | None = None,            # folder datasets: data.root, data.val_root and
        val_root: str | None = None,        # data.landmarks_path are single overrides that the
        landmarks_path: str | None = None,  # dataset configs interpolate; kept for the record
    ) -> None:
        super().__init__()
        self.train_dataset, self.val_dataset = train_dataset, val_dataset
        self.batch_size = int(check_range("data.batch_size", batch_size, 1, None))
        self.val_batch_size = int(check_range("data.val_batch_size", val_batch_size, 1, None))
        self.num_workers = int(check_range("data.num_workers", num_workers, 0, 256))
        self.seed = int(seed)
        self.pin_memory, self.drop_last = pin_memory, drop_last
        self.persistent_workers = persistent_workers and self.num_workers > 0
        for name, dataset in (("train_dataset", train_dataset), ("val_dataset", val_dataset)):
            size = getattr(dataset, "out_size", out_size)
            if out_size is not None and size != out_size:
                raise ConfigValueError(f"data.{name}.out_size={size} differs from data.out_size={out_size}")
        self.out_size = out_size
        if root is not None and not hasattr(train_dataset, "root"):
            raise ConfigValueError(f"data.root={root} is set, but the configured data ({type(train_dataset).__name__}) "
                                   "reads no folder; for a folder of aligned faces add data=ffhq")
        self.root, self.val_root, self.landmarks_path = root, val_root, landmarks_path

    def _loader(self, dataset: Dataset, batch_size: int, sampler: Sampler | None, drop_last: bool) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, num_workers=self.num_workers,
            pin_memory=self.pin_memory, drop_last=drop_last, persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        sampler = EpochSampler(self.train_dataset, self.seed, shuffle=True)
        drop_last = self.drop_last and len(self.train_dataset) >= self.batch_size
        return self._loader(self.train_dataset, self.batch_size, sampler, drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, self.val_batch_size, None, drop_last=False)

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()
