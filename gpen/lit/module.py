"""GAN training as one LightningModule with manual optimisation: GFP-GAN restoration (GFP-GAN §3.4) and
the unconditional StyleGAN2 prior (Karras et al., CVPR 2020) are the same loop with other networks and
loss terms (docs/training.md).

Each iteration: (1) generator step on the sum of all weighted loss terms, discriminators frozen;
(1b) lazy generator regularisers (path length) in their own generator step when due;
(2) one step per adversarial term for its discriminator(s) (global D with lazy R1, facial-component Ds);
(3) EMA update of the generator; (4) every LR scheduler steps once. The generator's input is
`batch[input_key]` (the LQ face); with `input_key=None` it is unconditional and gets the batch size.
`trainer.global_step` counts iterations: only the generator optimiser goes through the step counter, the discriminator optimisers are
stepped through the strategy (precision plugin included) without counting.

Non-finite losses or gradients skip the whole iteration (counted as `train/skipped_steps`); after
`max_consecutive_nonfinite` skips in a row the run stops with `NonFiniteLossError`, and the last good
checkpoint on disk stays untouched.

Checkpoint contract: the EMA generator is the attribute `generator_ema` (keys `generator_ema.*`), and
`checkpoint["gpen_generator"] = {"arch", "kwargs"}` says how to rebuild it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from gpen.lit.ema import PAPER_EMA_DECAY, EMAUpdater, ema_copy
from gpen.lit.errors import checkpoint_note
from gpen.lit.step_logging import forget_logged
from gpen.lit.validation import RestorationValidator
from gpen.losses.base import AdversarialLoss, LossInputs, LossTerm
from gpen.utils.validation import check_range

COMPONENTS = ("left_eye", "right_eye", "mouth")
OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], Any]


def _as_list(items: Any) -> list:
    """Lightning returns a bare object instead of a list when there is only one optimizer/scheduler."""
    return list(items) if isinstance(items, (list, tuple)) else [items]


class NonFiniteLossError(RuntimeError):
    """Too many iterations in a row with NaN/Inf losses or gradients."""


class GANModule(pl.LightningModule):
    def __init__(
        self,
        generator: nn.Module,                                 # GFPGANv1 / GFPGANv1Clean / UnconditionalStyleGAN2
        losses: Mapping[str, LossTerm],                       # named, weighted generator loss terms
        generator_optimizer: OptimizerFactory,                # partial(torch.optim.Adam, ...)
        discriminator_optimizers: Mapping[str, OptimizerFactory],  # one per adversarial term name
        scheduler: SchedulerFactory | None = None,            # partial(MultiStepLR, ...) for every optimiser
        generator_spec: Mapping[str, Any] | None = None,      # {"arch": "clean"|"v1", "kwargs": {...}}
        ema_decay: float = PAPER_EMA_DECAY,
        max_consecutive_nonfinite: int = 20,
        validator: RestorationValidator | None = None,        # val metrics and sample grids
        regularizers: Mapping[str, nn.Module] | None = None,  # lazy generator regularisers (path length)
        input_key: str | None = "lq",                         # batch key fed to the generator; None: unconditional
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator = generator
        self.generator_ema = ema_copy(generator).eval()
        self.ema = EMAUpdater(generator, ema_decay)
        self.losses = nn.ModuleDict(dict(losses))
        self.adversarial = {n: t for n, t in self.losses.items() if isinstance(t, AdversarialLoss)}
        missing = sorted(set(self.adversarial) - set(discriminator_optimizers))
        if missing:
            raise ValueError(f"no optimizer for adversarial loss terms {missing}: add optim.discriminators.<name>")
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizers = {n: discriminator_optimizers[n] for n in self.adversarial}
        self.scheduler = scheduler
        self.generator_spec = dict(generator_spec or {})
        self.max_consecutive_nonfinite = int(check_range("model.max_consecutive_nonfinite",
                                                         max_consecutive_nonfinite, 1))
        self.validator = validator
        self.regularizers = nn.ModuleDict(dict(regularizers or {}))
        self.input_key = input_key
        self.skipped_steps = 0
        self.nonfinite_in_row = 0

    # ---------------------------------------------------------------- optimisers
    def configure_optimizers(self) -> tuple[list, list]:
        trainable = [p for p in self.generator.parameters() if p.requires_grad]
        optimizers = [self.generator_optimizer(trainable)]
        optimizers += [self.discriminator_optimizers[n](list(t.discriminator_parameters()))
                       for n, t in self.adversarial.items()]
        schedulers = [self.scheduler(opt) for opt in optimizers] if self.scheduler else []
        return optimizers, schedulers

    # ---------------------------------------------------------------- training
    def loss_inputs(self, batch: Mapping[str, Any], output: torch.Tensor, out_rgbs: list) -> LossInputs:
        boxes = {c: batch[f"loc_{c}"] for c in COMPONENTS if f"loc_{c}" in batch}
        # step = 1-based iteration, as in the official code: R1 at 16, 32, ...; pyramid on up to 50,000
        return LossInputs(output=output, gt=batch["gt"], out_rgbs=list(out_rgbs),
                          regions=batch.get("regions"), boxes=boxes, step=self.global_step + 1)

    def generator_input(self, batch: Mapping[str, Any], size: int | None = None) -> torch.Tensor | int:
        """The generator's input for `batch` (its first `size` items): LQ faces, or a batch size."""
        if self.input_key is None:
            n = len(batch["gt"])
            return n if size is None else min(size, n)
        x = batch[self.input_key]
        return x if size is None else x[:size]

    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        g_opt, *d_opts = _as_list(self.optimizers())
        self.toggle_optimizer(g_opt)
        output, out_rgbs = self.generator(self.generator_input(batch), return_rgb=True)  # (B, 3, H, W), pyramid
        inputs = self.loss_inputs(batch, output, out_rgbs)
        g_losses = {k: v for term in self.losses.values() for k, v in term(inputs).items()}
        g_ok = self._guarded_step(g_opt, sum(g_losses.values()), count_step=True)
        if g_ok:
            reg_losses, g_ok = self._regularize(g_opt, batch, inputs.step)
            g_losses.update(reg_losses)
        self.untoggle_optimizer(g_opt)
        if not g_ok:
            return self._skip(g_losses)
        d_losses = {}
        for (name, term), d_opt in zip(self.adversarial.items(), d_opts):
            self.toggle_optimizer(d_opt)
            losses = term.discriminator_loss(inputs)
            d_losses.update(losses)
            d_ok = self._guarded_step(d_opt, sum(losses.values()), count_step=False)
            self.untoggle_optimizer(d_opt)
            if not d_ok:
                return self._skip(d_losses)
        self.nonfinite_in_row = 0
        self.ema.update(self.generator_ema, self.generator)
        for sch in _as_list(self.lr_schedulers()) if self.scheduler else []:
            sch.step()
        self._log_losses({**g_losses, **d_losses})

    def _regularize(self, g_opt: Any, batch: Mapping[str, Any], step: int) -> tuple[dict, bool]:
        """Due lazy regularisers, each in its own generator step on a shrunk batch (not counted)."""
        losses: dict[str, torch.Tensor] = {}
        for reg in self.regularizers.values():
            if not reg.active(step):
                continue
            size = reg.shrunk(len(batch["gt"]))
            image, _, latent = self.generator(self.generator_input(batch, size), return_latents=True,
                                              return_rgb=False)
            reduce_mean = lambda t: self.trainer.strategy.reduce(t, reduce_op="mean")
            terms = reg(image, latent, reduce_mean)
            losses.update(terms)
            if not self._guarded_step(g_opt, sum(terms.values()), count_step=False):
                return losses, False
        return losses, True

    def _guarded_step(self, opt: Any, loss: torch.Tensor, count_step: bool) -> bool:
        """Backward, then step only if loss and gradients are finite on every rank."""
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        finite = torch.isfinite(loss.detach())
        # With fp16 the GradScaler owns gradient overflow (it skips and lowers the scale itself).
        if grads and getattr(self.trainer.precision_plugin, "scaler", None) is None:
            finite = finite & torch.isfinite(torch.nn.utils.get_total_norm(grads))
        if not self.trainer.strategy.reduce_boolean_decision(bool(finite), all=True):
            opt.zero_grad(set_to_none=True)
            return False
        if count_step:
            opt.step()
        else:  # through the precision plugin, but not counted in trainer.global_step
            self.trainer.strategy.optimizer_step(opt.optimizer, closure=lambda: None)
        return True

    def _skip(self, losses: Mapping[str, torch.Tensor]) -> None:
        self.skipped_steps += 1
        self.nonfinite_in_row += 1
        forget_logged(self, "train/loss")  # this row gets the skip count, not the last finite losses
        self.log("train/skipped_steps", float(self.skipped_steps), on_step=True, sync_dist=False)
        bad = sorted(k for k, v in losses.items() if not torch.isfinite(v.detach()))
        if self.nonfinite_in_row >= self.max_consecutive_nonfinite:
            raise NonFiniteLossError(
                f"{self.nonfinite_in_row} iterations in a row had non-finite losses or gradients "
                f"(non-finite terms: {bad or 'gradients only'}); stopped at step {self.global_step}. "
                f"{checkpoint_note(self.trainer)}; lower the learning rate, check the data, "
                "or raise model.max_consecutive_nonfinite.")

    def _log_losses(self, losses: Mapping[str, torch.Tensor]) -> None:
        logs = {f"train/loss_{k}": v.detach() for k, v in losses.items()}
        logs["train/skipped_steps"] = float(self.skipped_steps)
        for name, reg in self.regularizers.items():
            if hasattr(reg, "mean_path_length"):
                logs[f"train/{name}_mean"] = reg.mean_path_length.detach()
        self.log_dict(logs, on_step=True, prog_bar=False, batch_size=1)
        self.log("train/loss_g", sum(v for k, v in losses.items() if not k.startswith("d_")).detach(),
                 prog_bar=True, batch_size=1)

    # ---------------------------------------------------------------- validation
    def setup(self, stage: str) -> None:
        if self.validator is not None:
            self.validator.setup_lpips()

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        if self.validator is None:
            return
        x = self.generator_input(batch)
        if self.input_key is None:  # unconditional: fixed codes per batch, so sample grids are comparable
            fixed = torch.Generator().manual_seed(batch_idx)
            output = self.generator_ema(x, return_rgb=False, z=self.generator_ema.sample_z(x, fixed))[0]
        else:
            output = self.generator_ema(x, return_rgb=False)[0]
        self.validator.update(self, batch, output, batch_idx)

    def on_validation_epoch_end(self) -> None:
        if self.validator is not None:
            self.validator.compute_and_log(self)

    # ---------------------------------------------------------------- checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["gpen_generator"] = self.generator_spec
        checkpoint["gpen_counters"] = {"skipped_steps": self.skipped_steps,
                                       "nonfinite_in_row": self.nonfinite_in_row}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        counters = checkpoint.get("gpen_counters", {})
        self.skipped_steps = counters.get("skipped_steps", 0)
        self.nonfinite_in_row = counters.get("nonfinite_in_row", 0)

