"""One training sample from an HQ face: flip, degrade, and pack as the dict every model part reads.

Shared by the folder and synthetic datasets (paper §4.1 training data; docs/training.md). A sample is
fully fixed by (seed, epoch, index): the flip and every degradation parameter are drawn from
`np.random.default_rng([seed, epoch, index])`, so it does not matter which worker builds it.

Item keys: "gt", "lq" float32 (3, H, W) in [-1, 1]; "loc_left_eye", "loc_right_eye", "loc_mouth"
float32 (4,) boxes (x1, y1, x2, y2) in pixels; "regions" int64 (H, W); "index" int; "name" str.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from gpen.data.components import COMPONENTS, Box, flip_boxes
from gpen.data.degradation import GFPGANDegradation
from gpen.utils.validation import check_probability


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """float RGB (H, W, 3) in [0, 1] -> float32 (3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)) * 2.0 - 1.0


class EpochSeededItems:
    """The part of a face dataset that turns (gt, regions, boxes) into an item; holds seed and epoch.

    `key` passed to `__getitem__` of a dataset may be an int (uses `self.epoch`) or an
    (epoch, index) pair, which the epoch-aware sampler of the datamodule yields so that persistent
    workers see the current epoch too.
    """

    def __init__(self, degradation: GFPGANDegradation, seed: int = 0, flip_prob: float = 0.5) -> None:
        self.degradation = degradation
        self.seed = int(seed)
        self.flip_prob = check_probability("data.flip_prob", flip_prob)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new flips and degradations for `epoch` (training); validation sets never call this."""
        self.epoch = int(epoch)

    def split_key(self, key: int | tuple[int, int]) -> tuple[int, int]:
        if isinstance(key, (tuple, list)):
            return int(key[0]), int(key[1])
        return self.epoch, int(key)

    def make_item(self, gt: np.ndarray, regions: np.ndarray, boxes: Mapping[str, Box], epoch: int,
                  index: int, name: str) -> dict[str, Any]:
        """Flip (with boxes and regions) and degrade `gt` (H, W, 3) float32 [0, 1]."""
        rng = sample_rng(self.seed, epoch, index)
        if rng.uniform() < self.flip_prob:
            gt = gt[:, ::-1]
            regions = regions[:, ::-1]
            boxes = flip_boxes(boxes, gt.shape[1])
        gt = np.ascontiguousarray(gt, dtype=np.float32)
        params = self.degradation.sample_params(rng)
        lq = self.degradation.apply(gt, params)
        gt = self.degradation.target(gt, params)
        item: dict[str, Any] = {"gt": to_tensor(gt), "lq": to_tensor(lq)}
        for part in COMPONENTS:
            item[f"loc_{part}"] = torch.tensor(boxes[part], dtype=torch.float32)
        item["regions"] = torch.from_numpy(np.ascontiguousarray(regions, dtype=np.int64))
        item["index"] = int(index)
        item["name"] = name
        return item
