"""Generator exponential moving average (GFP-GAN training recipe, docs/training.md: decay 0.5^(32/10000)).

The EMA generator is a plain copy of the generator (so its state-dict keys are the generator's own,
`generator_ema.*` inside the Lightning checkpoint). Trainable parameters are averaged with torch's
`get_ema_multi_avg_fn` (one fused `_foreach_lerp_`); frozen parameters (the fixed StyleGAN2 prior) and
buffers are copied, so loading new prior weights can never leave a stale copy behind.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.optim.swa_utils import get_ema_multi_avg_fn

from gpen.utils.validation import check_range

PAPER_EMA_DECAY = 0.5 ** (32 / (10 * 1000))  # official: batch 32 over a 10k-image half-life


def ema_copy(module: nn.Module) -> nn.Module:
    """A frozen deep copy of `module` to hold the averaged weights."""
    return copy.deepcopy(module).requires_grad_(False)


class EMAUpdater:
    """`update(ema, model)`: ema ← decay·ema + (1−decay)·model for params trainable at construction."""

    def __init__(self, model: nn.Module, decay: float = PAPER_EMA_DECAY) -> None:
        self.decay = float(check_range("model.ema_decay", decay, 0.0, 1.0))
        self._average = get_ema_multi_avg_fn(self.decay)
        self.trainable = [p.requires_grad for p in model.parameters()]

    @torch.no_grad()
    def update(self, ema: nn.Module, model: nn.Module) -> None:
        pairs = list(zip(ema.parameters(), model.parameters()))
        averaged = [pair for pair, t in zip(pairs, self.trainable) if t]
        copied = [pair for pair, t in zip(pairs, self.trainable) if not t]
        if averaged:
            self._average([e for e, _ in averaged], [m.detach() for _, m in averaged], None)
        for e, m in copied + list(zip(ema.buffers(), model.buffers())):
            e.copy_(m)

    @torch.no_grad()
    def reset(self, ema: nn.Module, model: nn.Module) -> None:
        """Make the EMA equal to the model (after loading pretrained weights)."""
        ema.load_state_dict(model.state_dict())
