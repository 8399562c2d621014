"""Face-region label table (docs/knobs.md), shared by datasets, region-weighted losses and inference.

A region map is an integer (H, W) array holding one of these ids per pixel. Data whose regions are
unknown uses OTHER everywhere, so the `other` weight applies to it.
"""

from __future__ import annotations

REGION_NAMES: tuple[str, ...] = ("eyes", "brows", "nose", "mouth", "skin", "forehead", "hair", "other")
REGION_IDS: dict[str, int] = {name: i for i, name in enumerate(REGION_NAMES)}
OTHER = REGION_IDS["other"]
