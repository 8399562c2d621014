"""Optimiser helpers for the GAN recipe (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from gpen.utils.validation import check_range


def lazy_regularized_adam(params: Iterable[torch.nn.Parameter], lr: float, betas: Sequence[float],
                          reg_interval: int, config_key: str = "optim.discriminators.gan.reg_interval",
                          **kwargs) -> torch.optim.Adam:
    """Adam for a network regularised every `reg_interval` steps (StyleGAN2 lazy regularisation: R1 on
    the discriminator, path length on the generator): lr and betas are rescaled by k/(k+1) so the
    regularisation steps do not change its effective speed. `config_key` names the interval in errors."""
    check_range(config_key, reg_interval, 1)
    ratio = reg_interval / (reg_interval + 1)
    return torch.optim.Adam(params, lr=lr * ratio, betas=tuple(b**ratio for b in betas), **kwargs)
