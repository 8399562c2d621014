"""The training module: one step trains G, D and the component Ds (frozen prior untouched), the EMA
rule, the lazy-R1 optimiser, non-finite skipping, the data order, atomic checkpoints, the export contract."""

import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn

from gpen.lit.build import build_module, build_trainer, generator_spec
from gpen.lit.checkpointing import atomic_torch_save, export_generator_ema
from gpen.lit.data_order import ShardedResumableSampler
from gpen.lit.ema import EMAUpdater, ema_copy
from gpen.lit.module import NonFiniteLossError
from gpen.lit.optim import lazy_regularized_adam
from gpen.losses.base import LossTerm
from gpen.models.loading import load_generator
from gpen.utils.validation import ConfigValueError

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")
TINY = [
    "scale=tiny", "data.out_size=32", "data.batch_size=2", "data.val_batch_size=2",
    "data.train_dataset.num_images=6", "data.val_dataset.num_images=2",
    "model.generator.num_style_feat=32", "model.generator.narrow=0.0625", "model.generator.num_mlp=1",
    "model.validator.num_samples=2", "loss.terms.gan.discriminator.narrow=0.0625",
    "trainer.accelerator=cpu", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
    "trainer.max_steps=1", "trainer.val_check_interval=1", "trainer.log_every_n_steps=1", "trainer.max_time=null",
]


def tiny_cfg(tmp_path, *overrides):
    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose("train", overrides=[*TINY, f"paths.run_dir={tmp_path}", *overrides])


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, after: nn.Module) -> bool:
    return any(not torch.equal(before[k], v) for k, v in after.state_dict().items())


def test_one_step_trains_g_d_component_ds_and_keeps_the_frozen_prior(tmp_path):
    cfg = tiny_cfg(tmp_path, "model.generator.fix_decoder=true", "loss.terms.gan.r1_interval=1")
    pl.seed_everything(0)
    module = build_module(cfg)
    gen, prior = module.generator, module.generator.stylegan_decoder
    gen_before, prior_before = snapshot(gen), snapshot(prior)
    d_before = snapshot(module.losses["gan"].discriminator)
    comp_before = {p: snapshot(d) for p, d in module.losses["comp"].discriminators.items()}
    ema_before = snapshot(module.generator_ema)
    build_trainer(cfg).fit(module, datamodule=instantiate(cfg.data))
    assert changed(gen_before, gen)
    assert not changed(prior_before, prior), "the frozen StyleGAN2 prior moved"
    assert changed(d_before, module.losses["gan"].discriminator)
    for part, disc in module.losses["comp"].discriminators.items():
        assert changed(comp_before[part], disc), f"component discriminator {part} did not train"
    assert changed(ema_before, module.generator_ema)
    assert module.trainer.global_step == 1  # iterations, not optimizer steps
    for file in ("last.ckpt", "generator_ema.pth"):  # the inference loader reads both layouts
        loaded = load_generator(tmp_path / "checkpoints" / file)
        for key, value in module.generator_ema.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), (file, key)
    assert (tmp_path / "samples" / "step_0000001.png").is_file()
    logged = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()[0]
    for name in ("train/loss_pix", "train/loss_pyramid", "train/loss_gan", "train/loss_comp_gan",
                 "train/loss_comp_style", "train/loss_d_gan", "train/loss_d_gan_r1", "val/psnr"):
        assert name in logged


def test_generator_only_objective_trains(tmp_path):
    """No adversarial term: one optimizer and one scheduler (Lightning then returns bare objects)."""
    cfg = tiny_cfg(tmp_path, "loss.terms.gan.weight=0", "loss.terms.comp.weight=0", "loss.terms.percep.weight=0",
                   "loss.terms.identity.weight=0", "trainer.limit_val_batches=0")
    module = build_module(cfg)
    before = snapshot(module.generator)
    build_trainer(cfg).fit(module, datamodule=instantiate(cfg.data))
    assert changed(before, module.generator) and module.trainer.global_step == 1


def test_weight_zero_terms_are_not_built_and_get_no_optimizer(tmp_path):
    cfg = tiny_cfg(tmp_path, "loss.terms.comp.weight=0", "loss.terms.percep.weight=0")
    module = build_module(cfg)
    assert "comp" not in module.losses and "percep" not in module.losses
    _, *d_opts = module.configure_optimizers()[0]
    assert len(d_opts) == 1  # only the global discriminator


def test_region_weights_are_validated_at_start_up(tmp_path):
    cfg = tiny_cfg(tmp_path, "loss.region_weights.skin=1.6", "loss.terms.pix.weight=0", "loss.terms.pyramid.weight=0")
    with pytest.raises(ConfigValueError, match=r"loss.region_weights.skin=1.6.*\[0, 1.5\]"):
        build_module(cfg)


def test_ema_rule():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    model[1].requires_grad_(False)  # stands for the frozen prior
    ema = ema_copy(model)
    updater = EMAUpdater(model, decay=0.9)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(5.0)
    old = ema[0].weight.clone()
    updater.update(ema, model)
    assert torch.allclose(ema[0].weight, 0.9 * old + 0.1 * model[0].weight)
    assert torch.equal(ema[1].weight, model[1].weight)  # frozen: copied
    assert torch.equal(ema[1].running_mean, model[1].running_mean)  # buffers: copied
    assert not any(p.requires_grad for p in ema.parameters())


def test_lazy_r1_optimizer_scaling():
    opt = lazy_regularized_adam([nn.Parameter(torch.zeros(1))], lr=2e-3, betas=[0.0, 0.99], reg_interval=16)
    group = opt.param_groups[0]
    assert group["lr"] == pytest.approx(2e-3 * 16 / 17)
    assert group["betas"] == pytest.approx((0.0, 0.99 ** (16 / 17)))


class NaNTerm(LossTerm):
    def __init__(self):
        super().__init__(1.0, "bad")

    def forward(self, inputs):
        return {"bad": inputs.output.mean() * float("nan")}


def test_non_finite_steps_are_skipped_then_stop(tmp_path):
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=-1", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                   "trainer.limit_val_batches=0", "model.max_consecutive_nonfinite=3")
    module = build_module(cfg)
    module.losses["bad"] = NaNTerm()
    before = snapshot(module.generator)
    datamodule = instantiate(cfg.data)
    build_trainer(cfg).fit(module, datamodule=datamodule)
    assert module.skipped_steps == 2 and module.trainer.global_step == 0
    assert not changed(before, module.generator)
    cfg = tiny_cfg(tmp_path, "trainer.max_steps=5", "trainer.limit_val_batches=0", "model.max_consecutive_nonfinite=3")
    module = build_module(cfg)
    module.losses["bad"] = NaNTerm()
    with pytest.raises(NonFiniteLossError, match="3 iterations in a row.*bad"):
        build_trainer(cfg).fit(module, datamodule=datamodule)


class Ordered(torch.utils.data.Sampler):
    def __init__(self, n):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __iter__(self):
        return iter(range(self.epoch * 100, self.epoch * 100 + self.n))


def test_sampler_skips_consumed_items_only_in_the_resumed_epoch():
    sampler = ShardedResumableSampler(Ordered(5))
    assert list(sampler) == [0, 1, 2, 3, 4]
    sampler.skip = 3
    assert list(sampler) == [3, 4] and list(sampler) == [0, 1, 2, 3, 4]
    sampler.skip = 2
    sampler.set_epoch(1)  # a new epoch forgets the skip
    assert list(sampler) == [100, 101, 102, 103, 104]


def test_atomic_save_leaves_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "last.ckpt"
    atomic_torch_save({"step": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_torch_save({"step": 2, "bad": Unpicklable()}, path)
    assert torch.load(path)["step"] == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no temp file left behind


def test_checkpoint_and_export_contract(tmp_path):
    cfg = tiny_cfg(tmp_path)
    module = build_module(cfg)
    spec = generator_spec(cfg.model)
    assert spec["arch"] == "v1" and spec["kwargs"]["out_size"] == 32 and "_target_" not in spec["kwargs"]
    checkpoint = {}
    module.on_save_checkpoint(checkpoint)
    assert checkpoint["gpen_generator"] == spec
    assert any(k.startswith("generator_ema.") for k in module.state_dict())
    exported = torch.load(export_generator_ema(module, tmp_path / "g.pth"))
    assert exported["gpen_generator"] == spec
    assert exported["params_ema"].keys() == module.generator.state_dict().keys()
