"""The `restore` block: every inference-time texture control in one validated object (docs/knobs.md).

`RestoreSettings` holds the fidelity knob, the latent-refinement settings, the face-region weights and
grain keeping. It is what `evaluate.py` and the photo-restoration command both read, so one block gives
the same pixels in both. `from_mapping` accepts our names and the names of the texture-control article
("latent_step_decay" there is the per-step update size, our `latent_step`; "face_mask_weights" with
eye / lip / cheek for our eyes / mouth / skin); anything else is refused with the list of valid keys.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gpen.data.regions import REGION_NAMES
from gpen.utils.validation import ConfigValueError, check_choice, check_range

log = logging.getLogger(__name__)

#: The texture-control article's region names -> ours (its other names, e.g. forehead, are ours too).
REGION_ALIASES: dict[str, str] = {"eye": "eyes", "lip": "mouth", "lips": "mouth", "cheek": "skin", "brow": "brows"}
#: The article's config names no step count; its configs always refine, so they get this many steps.
ARTICLE_LATENT_STEPS = 10
REGION_WEIGHT_RANGE = (0.0, 1.5)
LATENT_STARTS = ("encoder", "mean")
PARSERS = ("bisenet", "parsenet")


def default_region_weights() -> dict[str, float]:
    return {name: 1.0 for name in REGION_NAMES}


@dataclass(frozen=True)
class RestoreSettings:
    """Inference knobs; defaults give the plain feed-forward restoration, untouched."""

    sft_strength: float = 1.0           # alpha: CS-SFT modulation scale (0 = prior only, >1 leans on the input)
    degradation_scale: float = 1.0      # s: strength of the degradation operator D_s assumed by refinement
    latent_steps: int = 0               # K: latent refinement steps, 0 = feed-forward
    latent_step: float = 0.1            # eta: size of the first step, relative to the latent's norm
    latent_step_decay: float = 1.0      # gamma: step k has size eta * gamma**k
    latent_start: str = "encoder"       # encoder | mean (the GAN-inversion baseline)
    latent_pull: float = 0.1            # lambda: weight of mean((latent - latent_0)**2) in the objective
    operator_sigma: float = 2.0         # D_s blur sigma at s = 1, pixels of a 512 face (scaled with size)
    operator_downsample: float = 4.0    # D_s downsample factor r at s = 1 (1 + (r - 1) s at strength s)
    region_weights: dict[str, float] = field(default_factory=default_region_weights)
    feather: float = 8.0                # Gaussian sigma of the region-mask edges, pixels of a 512 face
    keep_grain: bool = False            # re-inject the input's high-frequency residual (grain, skin texture)
    grain_strength: float = 1.0         # share of the input's residual restored across the face (0-1)
    grain_sigma: float = 1.5            # low-pass sigma that splits grain from image, pixels (not scaled)
    parser: str = "bisenet"             # face-parsing network for region masks: bisenet | parsenet
    parser_path: str | None = None      # its weights; null = masks from the 5 landmarks and the template

    def __post_init__(self) -> None:
        check_range("restore.sft_strength", self.sft_strength, 0.0, 4.0)
        check_range("restore.degradation_scale", self.degradation_scale, 0.0, 1.5)
        if int(self.latent_steps) != self.latent_steps:
            raise ConfigValueError(f"restore.latent_steps={self.latent_steps!r} must be an integer")
        check_range("restore.latent_steps", self.latent_steps, 0, 10000)
        check_range("restore.latent_step", self.latent_step, 0.0, 1.0)
        check_range("restore.latent_step_decay", self.latent_step_decay, 0.0, 1.0)
        check_choice("restore.latent_start", self.latent_start, LATENT_STARTS)
        check_range("restore.latent_pull", self.latent_pull, 0.0, 1e4)
        check_range("restore.operator_sigma", self.operator_sigma, 0.0, 50.0)
        check_range("restore.operator_downsample", self.operator_downsample, 1.0, 32.0)
        check_range("restore.feather", self.feather, 0.0, 256.0)
        check_range("restore.grain_strength", self.grain_strength, 0.0, 1.0)
        check_range("restore.grain_sigma", self.grain_sigma, 0.1, 20.0)
        check_choice("restore.parser", self.parser, PARSERS)
        object.__setattr__(self, "region_weights", check_region_weights(self.region_weights))
        if self.latent_steps > 0 and 0.0 < self.latent_step < 0.02:
            log.warning("restore.latent_step=%g is below 0.02: refinement converges very slowly", self.latent_step)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> RestoreSettings:
        """Build from a config block (ours or the article's names); unknown keys are refused."""
        return cls(**translate(dict(values or {})))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def is_feed_forward(self) -> bool:
        """True when only the generator runs: no refinement, no blend, no grain keeping."""
        return (self.latent_steps == 0 and self.latent_start == "encoder" and not self.keep_grain
                and self.uniform_weights)

    @property
    def uniform_weights(self) -> bool:
        return all(w == 1.0 for w in self.region_weights.values())


def check_region_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """All eight regions, each in [0, 1.5]; article names mapped, unknown names refused."""
    table = default_region_weights()
    for name, value in dict(weights or {}).items():
        ours = REGION_ALIASES.get(name, name)
        if ours not in table:
            raise ConfigValueError(f"restore.region_weights has an unknown region {name!r}; valid: "
                                   f"{list(REGION_NAMES)} (or the article's names {sorted(REGION_ALIASES)})")
        table[ours] = float(check_range(f"restore.region_weights.{name}", value, *REGION_WEIGHT_RANGE))
    return table


def translate(values: dict[str, Any]) -> dict[str, Any]:
    """Map the article's config names onto ours; refuse unknown keys listing the valid ones."""
    out = dict(values)
    if "face_mask_weights" in out:
        if "region_weights" in out:
            raise ConfigValueError("give restore.region_weights or face_mask_weights (the article's name), not both")
        out["region_weights"] = out.pop("face_mask_weights")
    if "latent_step_decay" in values and "latent_step" not in values and _looks_like_article(values):
        # The article's latent_step_decay is the per-step update size (its default 0.1, range 0.02-0.1).
        out["latent_step"] = out.pop("latent_step_decay")
        if "latent_steps" not in out:
            out["latent_steps"] = ARTICLE_LATENT_STEPS
            log.info("restore: the article's latent_step_decay is our latent_step (eta); latent_steps=%d "
                     "(set latent_steps to change it)", ARTICLE_LATENT_STEPS)
    valid = [f.name for f in dataclasses.fields(RestoreSettings)]
    unknown = sorted(set(out) - set(valid))
    if unknown:
        raise ConfigValueError(f"unknown restore setting(s) {unknown}; valid: {valid} "
                               "(and the article's face_mask_weights)")
    return out


def _looks_like_article(values: Mapping[str, Any]) -> bool:
    """The article's configs use face_mask_weights and never our latent_steps; ours always say latent_step."""
    return "face_mask_weights" in values or "latent_steps" not in values
