"""Optimiser helpers for the GAN recipe (docs/training.md)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from gpen.utils.validation import check_range


def lazy_regularized_adam(params: Iterable[torch.nn.Parameter], lr: float, betas: Sequence[float],
                          reg_interval: int, config_key: str = "optim.discriminators.gan.reg_interval",
                          **kwargs) -> torch.optim.Adam:
    """Adam for a network regularised every `reg_interval` steps (StyleGAN2 lazy R1 for D, path length for
    G): lr and betas are rescaled by k/(k+1) so the regularisation steps do not change its effective speed."""
    check_range(config_key, reg_interval, 1)
    ratio = reg_interval / (reg_interval + 1)
    return torch.optim.Adam(params, lr=lr * ratio, betas=tuple(b**ratio for b in betas), **kwargs)
