"""Reading benchmark test sets: paired (CelebA-Test style `lq/` + `gt/`) and unpaired folders
(docs/evaluation.md).

A paired set is a folder with `lq/` (degraded inputs) and `gt/` (ground truth), as written by
`gpen-make-testset`; files are matched by name without suffix. Any other folder of images (LFW-Test,
WebPhoto-Test, or a folder with only `lq/`) is unpaired and gets only the no-reference metrics.
Unreadable images are skipped and listed, never fatal, and the input folders are only ever read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from gpen.utils.image_io import list_images, read_image, scan_images

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TestSet:
    """Where a test set's inputs and (for paired sets) ground truth live."""

    root: Path
    inputs: Path
    references: Path | None = None

    @property
    def paired(self) -> bool:
        return self.references is not None

    @property
    def name(self) -> str:
        return self.root.name


def open_testset(root: str | Path) -> TestSet:
    """Recognise `root` as paired (lq/ + gt/), lq-only, or a plain folder of images."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"test set folder not found: {root} (config key: testset)")
    lq, gt = root / "lq", root / "gt"
    if lq.is_dir():
        return TestSet(root, lq, gt if gt.is_dir() else None)
    return TestSet(root, root, None)


def _by_stem(paths: list[Path], folder: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for path in paths:
        if path.stem in index:
            raise ValueError(f"{folder}: two images share the name {path.stem!r} "
                             f"({index[path.stem].name}, {path.name}); names must be unique without suffix")
        index[path.stem] = path
    return index


@dataclass
class Skipped:
    """Files left out of an evaluation, with the reason, for the results metadata."""

    unreadable: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"unreadable": self.unreadable, "unmatched": self.unmatched}


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """(3, H, W) -> (3, size, size), bicubic with antialias, clamped to [0, 1]."""
    if tuple(image.shape[-2:]) == (size, size):
        return image
    return F.interpolate(image[None], size=(size, size), mode="bicubic", antialias=True,
                         align_corners=False)[0].clamp(0.0, 1.0)


class ImagePairs(Dataset):
    """Images of `folder`, each with the same-named image of `reference_folder` when one is given.

    Items are dicts: name (file stem), image (3, H, W) float in [0, 1], and reference (3, H, W) for
    paired use. `size` resizes both to size×size (a protocol option; recorded by the caller).
    """

    def __init__(self, folder: str | Path, reference_folder: str | Path | None = None,
                 size: int | None = None) -> None:
        self.folder = Path(folder)
        self.reference_folder = None if reference_folder is None else Path(reference_folder)
        self.size = size
        self.skipped = Skipped()
        images = self._readable(self.folder)
        if self.reference_folder is None:
            self.names = sorted(images)
            self.pairs = [(images[n], None) for n in self.names]
            return
        references = self._readable(self.reference_folder)
        self.names = sorted(set(images) & set(references))
        self.skipped.unmatched = sorted(f"{self.folder / n}" for n in set(images) - set(references))
        self.skipped.unmatched += sorted(f"{self.reference_folder / n}" for n in set(references) - set(images))
        if self.skipped.unmatched:
            log.warning("%d image(s) without a same-named partner left out: %s", len(self.skipped.unmatched),
                        ", ".join(self.skipped.unmatched[:10]))
        if not self.names:
            raise FileNotFoundError(f"no image of {self.folder} has a same-named image in {self.reference_folder}")
        self.pairs = [(images[n], references[n]) for n in self.names]

    def _readable(self, folder: Path) -> dict[str, Path]:
        good = scan_images(folder)  # warns once about unreadable files; raises if none is readable
        self.skipped.unreadable += sorted(str(p) for p in set(list_images(folder)) - set(good))
        return _by_stem(good, folder)

    def keep(self, names: set[str]) -> list[str]:
        """Restrict to the pairs named in `names`; returns the names left out."""
        left_out = [n for n in self.names if n not in names]
        kept = [i for i, n in enumerate(self.names) if n in names]
        self.names = [self.names[i] for i in kept]
        self.pairs = [self.pairs[i] for i in kept]
        return left_out

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, path: Path) -> torch.Tensor:
        image = torch.from_numpy(read_image(path)).permute(2, 0, 1).contiguous()  # (3, H, W)
        return image if self.size is None else resize_square(image, self.size)

    def __getitem__(self, index: int) -> dict:
        path, reference = self.pairs[index]
        item = {"name": self.names[index], "image": self._load(path)}
        if reference is not None:
            item["reference"] = self._load(reference)
        return item


def same_pairs(rows: dict[str, ImagePairs]) -> dict[str, list[str]]:
    """Restrict every row to the names all rows share, so one table compares the same images.

    Returns {row: names left out} for the rows that lost any (logged as a warning).
    """
    common = set.intersection(*(set(data.names) for data in rows.values()))
    if not common:
        raise FileNotFoundError(f"the rows {sorted(rows)} have no image name in common; nothing to compare")
    left_out = {row: data.keep(common) for row, data in rows.items()}
    left_out = {row: names for row, names in left_out.items() if names}
    for row, names in left_out.items():
        log.warning("row %s: %d image(s) left out because another row of the table lacks them (every row is "
                    "scored on the same %d pairs): %s", row, len(names), len(common), ", ".join(names[:10]))
    return left_out


def check_not_ground_truth(restored: str | Path, testset: TestSet) -> None:
    """Refuse scoring the ground truth as a method: the same folder, or a folder of byte-identical copies."""
    if testset.references is None:
        return
    restored = Path(restored).expanduser()
    if restored.resolve() == testset.references.resolve():
        raise ValueError(f"restored={restored} is the test set's ground truth folder: scoring it against itself "
                         "gives PSNR inf / SSIM 1; point `restored` at the method's output")
    gt = {p.stem: p for p in list_images(testset.references)}
    candidates = [(p, gt[p.stem]) for p in list_images(restored) if p.stem in gt]
    if candidates and all(p.read_bytes() == q.read_bytes() for p, q in candidates):
        raise ValueError(f"restored={restored}: every image is identical to the ground truth in "
                         f"{testset.references} (a copy of gt/?); point `restored` at the method's output")


def collate_same_size(items: list[dict]) -> dict:
    """Stack a batch; images of different sizes get one clear error instead of a stack failure."""
    sizes = {tuple(item["image"].shape) for item in items}
    sizes |= {tuple(item["reference"].shape) for item in items if "reference" in item}
    if len(sizes) > 1:
        names = ", ".join(item["name"] for item in items)
        raise ValueError(f"images of different sizes {sorted(sizes)} in one batch ({names}); "
                         "set the protocol option protocol.resize to score them at one size")
    batch = {"name": [item["name"] for item in items], "image": torch.stack([i["image"] for i in items])}
    if "reference" in items[0]:
        batch["reference"] = torch.stack([item["reference"] for item in items])
    return batch
