"""Aligned-face image folder dataset (FFHQ in the paper, §4.1), degraded on the fly.

Images of any size (PNG/JPEG/..., gray, RGBA and 16-bit included) are resized to `out_size`.
Component boxes come from the official `FFHQ_eye_mouth_landmarks_512.pth` (`.pth`), from a
`gpen-landmarks` JSON file (`.json`), or from the aligned-face template when no file is given.
Unreadable files are skipped with one warning (or refused with `strict=True`); input files are
only ever read.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from gpen.data.components import (
    EYE_ENLARGE_RATIO,
    Box,
    boxes_from_five_points,
    boxes_from_official,
    load_official_landmarks,
    template_boxes,
)
from gpen.data.degradation import GFPGANDegradation
from gpen.data.items import EpochSeededItems
from gpen.data.landmarks import read_landmarks, scale_landmarks
from gpen.data.regions import OTHER
from gpen.utils.image_io import (
    EmptyImageFolderError,
    UnreadableImageError,
    list_images,
    read_image,
    scan_image_sizes,
)
from gpen.utils.validation import check_range

log = logging.getLogger(__name__)


class FaceFolderDataset(Dataset):
    """HQ aligned faces from `root`; each item is GT, its degraded LQ and the component boxes."""

    def __init__(
        self,
        root: str | Path,
        out_size: int,
        degradation: GFPGANDegradation,
        landmarks_path: str | Path | None = None,  # .pth (official) or .json (gpen-landmarks)
        strict: bool = False,                       # unreadable files are fatal instead of skipped
        seed: int = 0,
        flip_prob: float = 0.5,
        eye_enlarge_ratio: float = EYE_ENLARGE_RATIO,
        verify: bool = True,                        # decode every file once up front to find bad ones
        max_images: int | None = None,              # use only the first N files (by name)
    ) -> None:
        self.root = Path(root)
        self.out_size = int(check_range("data.out_size", out_size, 16, 4096))
        self.eye_enlarge_ratio = check_range("data.eye_enlarge_ratio", eye_enlarge_ratio, 0.1, 10.0)
        paths = list_images(self.root)
        if max_images is not None:
            check_range("data.max_images", max_images, 1, None)
            paths = paths[: int(max_images)]
        if verify:
            sizes = scan_image_sizes(self.root, strict, candidates=paths)
            paths = list(sizes)
            warn_small_images(sizes, self.out_size, self.root)
        if not paths:
            raise EmptyImageFolderError(f"no image in {self.root}")
        self.paths = paths
        self.strict = strict
        self.unreadable_at_run_time: list[str] = []  # files that went bad after the start-up scan
        self.boxes = self._component_boxes(landmarks_path)
        self.items = EpochSeededItems(degradation, seed, flip_prob)

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.items.set_epoch(epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = self.items.split_key(key)
        image, used = self._read(index)
        gt = resize_square(image, self.out_size)
        regions = np.full(gt.shape[:2], OTHER, np.int64)  # unknown regions: all "other"
        return self.items.make_item(gt, regions, self.boxes[used], epoch, index, self.paths[used].stem)

    def _read(self, index: int) -> tuple[np.ndarray, int]:
        """(image, index of the file read): a file that became unreadable after the scan (deleted,
        corrupted) is skipped for the next readable one, named and counted; under strict it stops the run."""
        for offset in range(len(self.paths)):
            used = (index + offset) % len(self.paths)
            path = self.paths[used]
            if str(path) in self.unreadable_at_run_time:
                continue
            try:
                return read_image(path), used
            except UnreadableImageError as err:
                if self.strict:
                    raise UnreadableImageError(f"{err} (became unreadable during the run; strict mode: "
                                               "fix or remove it, then resume)") from None
                self.unreadable_at_run_time.append(str(path))
                log.warning("skipping an image that became unreadable during the run: %s; %d image(s) skipped "
                            "so far in %s", err, len(self.unreadable_at_run_time), self.root)
        raise EmptyImageFolderError(f"no image of {self.root} is readable any more "
                                    f"({len(self.unreadable_at_run_time)} became unreadable during the run)")

    # ------------------------------------------------------------------ boxes
    def _component_boxes(self, landmarks_path: str | Path | None) -> list[dict[str, Box]]:
        template = template_boxes(self.out_size, self.eye_enlarge_ratio)
        if landmarks_path is None:
            return [template] * len(self.paths)
        landmarks_path = Path(landmarks_path)
        if landmarks_path.suffix == ".pth":
            return self._official_boxes(landmarks_path)
        table = read_landmarks(landmarks_path)
        boxes, undetected, missing = [], [], []
        for path in self.paths:
            entry = table.get(path.name)
            if entry is None:
                missing.append(path.name)
            elif entry["landmarks"] is None:
                undetected.append(path.name)
                boxes.append(template)
            else:
                points = scale_landmarks(entry["landmarks"], entry["size"], self.out_size)
                boxes.append(boxes_from_five_points(points, self.out_size, self.eye_enlarge_ratio))
        if missing:
            raise ValueError(f"{landmarks_path}: no entry for {len(missing)} image(s) of {self.root} "
                             f"(e.g. {', '.join(missing[:5])}); re-run gpen-landmarks on this folder")
        if undetected:
            log.warning("%d image(s) without detected landmarks in %s use the template boxes: %s",
                        len(undetected), landmarks_path, ", ".join(undetected[:20]))
        return boxes

    def _official_boxes(self, landmarks_path: Path) -> list[dict[str, Box]]:
        # The official file is keyed by the image's index in FFHQ (00000.png -> '00000000'); numeric
        # stems give that index even when the folder holds a subset, other names use the position.
        table = load_official_landmarks(landmarks_path)
        keys = [f"{int(p.stem):08d}" if p.stem.isdigit() else f"{i:08d}" for i, p in enumerate(self.paths)]
        missing = [key for key in keys if key not in table]
        if missing:
            raise ValueError(f"{landmarks_path}: no entry for {len(missing)} image(s) of {self.root} "
                             f"(e.g. keys {', '.join(missing[:5])}); is it the landmark file of this folder?")
        return [boxes_from_official(table[key], self.out_size, self.eye_enlarge_ratio) for key in keys]


def warn_small_images(sizes: dict[Path, tuple[int, int]], out_size: int, root: Path) -> None:
    """One warning naming the images smaller than `out_size`: they are upscaled, so they train on blur."""
    small = [f"{p.name} ({w}x{h})" for p, (h, w) in sizes.items() if min(h, w) < out_size]
    if small:
        log.warning("%d image(s) in %s are smaller than data.out_size=%d and are upscaled (bicubic) to it, "
                    "so they look blurry as ground truth: %s", len(small), root, out_size, ", ".join(small[:20]))


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Resize float (H, W, 3) to (size, size, 3): area averaging to shrink, bicubic to enlarge."""
    h, w = image.shape[:2]
    if (h, w) == (size, size):
        return image
    interpolation = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_CUBIC
    return np.clip(cv2.resize(image, (size, size), interpolation=interpolation), 0.0, 1.0)
