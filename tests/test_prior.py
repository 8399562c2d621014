"""StyleGAN2 prior training (experiment=stylegan2_prior): the unconditional model, path-length
regularisation, style mixing, the export in the released prior layout, the shipped prior, and the
sliced Wasserstein distance that measures prior quality."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from gpen.lit.build import build_module
from gpen.lit.pretrained import load_pretrained
from gpen.losses.regularizers import PathLengthRegularizer, path_lengths
from gpen.metrics.swd import laplacian_pyramid, sliced_wasserstein_distance
from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.models.gfpgan_v1 import GFPGANv1
from gpen.models.gpen import GPENGenerator
from gpen.models.loading import CheckpointMismatchError, load_stylegan2_prior
from gpen.models.prior import UnconditionalStyleGAN2
from gpen.models.stylegan2_v1 import StyleGAN2Generator
from gpen.utils.pretrained import SHIPPED_WEIGHTS_DIR

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_PRIOR = SHIPPED_WEIGHTS_DIR / "gpen_prior_synthetic64_v1.pth"
SHIPPED_DISCRIMINATOR = SHIPPED_WEIGHTS_DIR / "gpen_prior_synthetic64_v1_discriminator.pth"
TINY_PRIOR = ["experiment=stylegan2_prior", "scale=tiny", "loss.regularizers.path_length.interval=2",
              "loss.terms.gan.r1_interval=2"]  # both lazy regularisers inside the two steps


def compose_train(*overrides: str):
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- training and export
def restorer(model: str, channel_multiplier: float):
    """The restoration generator whose prior a `model=<model>` run trains, at the tiny sizes."""
    if model == "prior_gpen":
        return GPENGenerator(out_size=32, style_dim=32, n_mlp=1, channel_multiplier=channel_multiplier,
                             narrow=0.0625)
    gfpgan = GFPGANv1 if model == "prior_v1" else GFPGANv1Clean
    return gfpgan(out_size=32, num_style_feat=32, narrow=0.0625, num_mlp=1, channel_multiplier=channel_multiplier)


@pytest.mark.parametrize("model", ["prior_v1", "prior_clean", "prior_gpen"])
def test_two_prior_steps_export_loads_into_the_restoration_generator(model, tmp_path):
    cfg = compose_train(*TINY_PRIOR, f"model={model}", f"paths.run_dir={tmp_path}")
    metrics = train_script().train(cfg)
    for key in ("train/loss_gan", "train/loss_path_length", "train/loss_d_gan_r1", "val/swd"):
        assert key in metrics, key
    export = torch.load(tmp_path / "checkpoints" / "generator_ema.pth", weights_only=True)
    assert export["step"] == 2 and export["gpen_generator"]["arch"] == cfg.model.arch
    assert not any(k.startswith("decoder.") for k in export["params_ema"])  # the released prior layout
    generator = restorer(model, cfg.model.channel_multiplier)
    load_stylegan2_prior(generator, tmp_path / "checkpoints" / "generator_ema.pth")
    loaded = (generator.generator if model == "prior_gpen" else generator.stylegan_decoder).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in export["params_ema"].items())
    assert list((tmp_path / "samples").glob("step_*.png"))  # grids from fixed latents


def test_export_refused_by_the_other_architecture(tmp_path):
    cfg = compose_train(*TINY_PRIOR, "model=prior_v1", f"paths.run_dir={tmp_path}", "trainer.max_steps=1")
    train_script().train(cfg)
    clean = GFPGANv1Clean(out_size=32, num_style_feat=32, narrow=0.0625, num_mlp=1, channel_multiplier=1)
    with pytest.raises(CheckpointMismatchError, match="original .*model=gfpgan_v1"):
        load_stylegan2_prior(clean, tmp_path / "checkpoints" / "generator_ema.pth")
    gpen = GPENGenerator(out_size=32, style_dim=32, n_mlp=1, channel_multiplier=1, narrow=0.0625)
    with pytest.raises(CheckpointMismatchError, match="original .*model=gfpgan_v1"):
        load_stylegan2_prior(gpen, tmp_path / "checkpoints" / "generator_ema.pth")


def test_wrong_prior_fails_before_the_first_step(tmp_path):
    prior = StyleGAN2Generator(out_size=32, num_style_feat=16, num_mlp=1, channel_multiplier=1, narrow=0.0625)
    bad = tmp_path / "prior16.pth"
    torch.save({"params_ema": prior.state_dict()}, bad)
    run = tmp_path / "run"
    cfg = compose_train("scale=tiny", f"paths.run_dir={run}", f"stylegan2_prior_file={bad}")
    with pytest.raises(CheckpointMismatchError) as err:
        train_script().train(cfg)
    message = str(err.value)
    assert str(bad) in message and "style_mlp" in message and "num_style_feat=16" in message
    assert not (run / "checkpoints").exists()


# ---------------------------------------------------------------- path length and style mixing
def test_path_length_matches_hand_computation():
    torch.manual_seed(0)
    latent = torch.randn(3, 2, 4, requires_grad=True)  # (B, L, F)
    matrix = torch.randn(8, 3 * 4 * 4)
    images = (latent.flatten(1) @ matrix).view(3, 3, 4, 4)  # a linear generator: J is known
    torch.manual_seed(1)
    lengths = path_lengths(images, latent)
    torch.manual_seed(1)
    noise = torch.randn(3, 3, 4, 4) / math.sqrt(16)
    grad = (noise.flatten(1) @ matrix.T).view(3, 2, 4)  # J^T y per sample
    expected = grad.pow(2).sum(2).mean(1).sqrt()
    torch.testing.assert_close(lengths, expected)

    reg = PathLengthRegularizer(weight=2.0, interval=4, decay=0.01)
    torch.manual_seed(1)
    loss = reg(images, latent)["path_length"]
    target = 0.01 * expected.mean()  # running mean starts at 0
    torch.testing.assert_close(reg.mean_path_length, target)
    torch.testing.assert_close(loss, 2.0 * 4 * (expected - target).pow(2).mean())
    assert reg.active(4) and reg.active(8) and not reg.active(5) and reg.shrunk(5) == 2


def test_style_mixing_takes_the_second_code_after_a_crossover():
    decoder = StyleGAN2Generator(out_size=32, num_style_feat=8, num_mlp=1, channel_multiplier=1, narrow=0.0625)
    model = UnconditionalStyleGAN2(decoder, mixing_prob=1.0)
    w = torch.stack([torch.zeros(64, 8), torch.ones(64, 8)], 1)  # code 0 = zeros, code 1 = ones
    torch.manual_seed(0)
    mixed = model.mix(w)[..., 0]  # (B, L): 0 before the crossover, 1 from it on
    length = decoder.num_latent
    crossover = (mixed == 0).sum(1)
    assert torch.equal(mixed, (torch.arange(length)[None] >= crossover[:, None]).float())
    assert crossover.min() >= 1 and crossover.max() <= length - 1 and len(crossover.unique()) > 3
    model.mixing_prob = 0.0
    assert torch.equal(model.mix(w), torch.zeros(64, length, 8))


def test_unconditional_forward_contract():
    decoder = StyleGAN2Generator(out_size=32, num_style_feat=8, num_mlp=1, channel_multiplier=1, narrow=0.0625)
    model = UnconditionalStyleGAN2(decoder).eval()
    z = model.sample_z(3, torch.Generator().manual_seed(5))
    image, rgbs, latent = model(3, z=z, return_latents=True)
    assert image.shape == (3, 3, 32, 32) and rgbs == [] and latent.shape == (3, decoder.num_latent, 8)
    again, _ = model(torch.zeros(3, 1), z=z)  # a tensor gives the batch size
    assert torch.equal(image, again)


# ---------------------------------------------------------------- sliced Wasserstein distance
def faces(n: int, first: int = 0) -> torch.Tensor:
    from gpen.data.items import to_tensor
    from gpen.data.synthetic import render_face

    return torch.stack([to_tensor(render_face(first + i, 32)[0]) for i in range(n)])


def test_swd_zero_for_identical_sets_and_grows_with_shift():
    real, other = faces(16), faces(16, first=500)
    assert sliced_wasserstein_distance(real, real)["swd"] == 0.0
    same_kind = sliced_wasserstein_distance(real, other)["swd"]

    def blurred(x, size):
        return F.interpolate(F.interpolate(x, size=size, mode="bilinear", antialias=True), size=32, mode="bilinear")

    mild, strong = (sliced_wasserstein_distance(real, blurred(other, s))["swd"] for s in (16, 8))
    assert 0 < same_kind < mild < strong
    shifted = sliced_wasserstein_distance(real, (other + 0.3).clamp(-1, 1))["swd"]
    assert shifted > same_kind
    levels = sliced_wasserstein_distance(real, other)
    assert set(levels) == {"swd", "swd_32", "swd_16"}


def test_swd_checks_shapes_and_pyramid_is_invertible():
    with pytest.raises(ValueError, match="one shape"):
        sliced_wasserstein_distance(torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 16, 16))
    pyramid = laplacian_pyramid(faces(2), min_size=8)
    assert [p.shape[-1] for p in pyramid] == [32, 16, 8]


# ---------------------------------------------------------------- the demo and the scale presets
EXPERIMENTS = sorted(p.stem for p in (ROOT / "configs" / "experiment").glob("*.yaml"))


def test_default_config_uses_the_shipped_prior_frozen(tmp_path):
    size = SHIPPED_PRIOR.stat().st_size + SHIPPED_DISCRIMINATOR.stat().st_size
    assert size < 10 * 2**20
    cfg = compose_train(f"paths.run_dir={tmp_path}")
    assert cfg.pretrained.stylegan2_prior == SHIPPED_PRIOR.name and cfg.model.generator.fix_decoder
    assert cfg.pretrained.discriminator == SHIPPED_DISCRIMINATOR.name and cfg.model.latent_start == "mean"
    module = build_module(cfg)
    assert load_pretrained(module, cfg.pretrained, cfg.model.latent_start) == []
    decoder = module.generator.stylegan_decoder
    shipped = torch.load(SHIPPED_PRIOR, weights_only=True)["params_ema"]
    assert all(torch.equal(v, shipped[k]) for k, v in decoder.state_dict().items())
    assert not any(p.requires_grad for p in decoder.parameters())
    shipped_d = torch.load(SHIPPED_DISCRIMINATOR, weights_only=True)["params"]
    discriminator = module.losses["gan"].discriminator.state_dict()
    assert all(torch.equal(v, shipped_d[k]) for k, v in discriminator.items())
    # the W+ head starts at the prior's mean W: every one of its codes is the same mean vector
    bias = module.generator.final_linear.bias.view(module.generator.num_latent, -1)
    z = torch.randn(4096, cfg.model.num_style_feat, generator=torch.Generator().manual_seed(0))
    mean_w = decoder.style_mlp(z).mean(0)
    assert torch.allclose(bias, mean_w.expand_as(bias), atol=1e-5) and bias.std(0).max() < 1e-6
    assert mean_w.abs().max() > 0.01  # a real mean, not a zero bias


def test_prior_discriminator_export_starts_a_restoration_run(tmp_path):
    from gpen.cli.export import main as export_main

    prior_run = tmp_path / "prior"
    train_script().train(compose_train(*TINY_PRIOR, f"paths.run_dir={prior_run}"))
    ckpt = prior_run / "checkpoints" / "last.ckpt"
    prior, disc = tmp_path / "prior.pth", tmp_path / "prior_d.pth"
    assert export_main([str(ckpt), "-o", str(prior), "--discriminator", str(disc)]) == 0
    assert export_main([str(ckpt), "-o", str(prior), "--discriminator", str(disc)]) == 2  # no silent replace
    cfg = compose_train("scale=tiny", f"stylegan2_prior_file={prior}", f"prior_discriminator_file={disc}",
                        "model.latent_start=mean", f"paths.run_dir={tmp_path / 'run'}")
    module = build_module(cfg)
    assert load_pretrained(module, cfg.pretrained, cfg.model.latent_start) == []
    trained = torch.load(ckpt, weights_only=False)["state_dict"]
    for key, value in module.losses["gan"].discriminator.state_dict().items():
        assert torch.equal(value, trained[f"losses.gan.discriminator.{key}"]), key
    # a discriminator of another size: one error naming the file, the key and the setting to change
    wrong = compose_train("scale=tiny", f"stylegan2_prior_file={prior}", f"prior_discriminator_file={disc}",
                          "loss.terms.gan.discriminator.narrow=0.125", f"paths.run_dir={tmp_path / 'run2'}")
    with pytest.raises(CheckpointMismatchError, match="prior_discriminator_file=null") as error:
        load_pretrained(build_module(wrong), wrong.pretrained)
    assert str(disc) in str(error.value) and "conv_body" in str(error.value)
    # the generator file is not a discriminator file
    with pytest.raises(CheckpointMismatchError, match="--discriminator"):
        load_pretrained(build_module(cfg), {**cfg.pretrained, "discriminator": str(prior)})


def test_latent_start_mean_is_a_note_for_gpen_and_checked(tmp_path):
    cfg = compose_train("experiment=gpen_bfr", "scale=tiny", f"paths.run_dir={tmp_path}")
    notes = load_pretrained(build_module(cfg), cfg.pretrained, "mean")
    assert any("latent_start=mean does not apply" in note for note in notes)
    with pytest.raises(Exception, match="model.latent_start"):
        load_pretrained(build_module(cfg), cfg.pretrained, "average")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_scales_compose_with_every_experiment(experiment, tmp_path):
    demo = compose_train(f"experiment={experiment}", "scale=demo", f"paths.run_dir={tmp_path}")
    assert demo.data.out_size == 64 and demo.data._target_.endswith("FaceDataModule")
    assert "SyntheticFaceDataset" in demo.data.train_dataset._target_ and demo.trainer.accelerator == "cpu"
    assert demo.loss.terms.get("percep", {}).get("weight", 0) == 0  # no downloaded networks at demo scale
    prior = demo.pretrained.stylegan2_prior
    assert prior in (None, SHIPPED_PRIOR.name), prior
    generator = instantiate(demo.model.generator)
    if prior is not None and demo.model.arch == "v1":  # the shipped prior fits every demo-scale GFP-GAN
        load_stylegan2_prior(generator, prior)
    tiny = compose_train(f"experiment={experiment}", "scale=tiny", f"paths.run_dir={tmp_path}")
    assert tiny.data.out_size == 32 and tiny.trainer.max_steps == 2 and tiny.pretrained.stylegan2_prior is None


def test_prior_on_a_folder_skips_and_names_unreadable_images(tmp_path, caplog):
    import logging

    import cv2

    from gpen.data.synthetic import render_face

    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), (render_face(i, 32)[0][:, :, ::-1] * 255).astype("uint8"))
    (folder / "broken.png").write_bytes(b"not a png")
    cfg = compose_train("experiment=stylegan2_prior", "data=ffhq", f"data.root={folder}", "data.out_size=32",
                        "data.num_workers=0", "data.persistent_workers=false", "data.pin_memory=false",
                        "data.batch_size=2", "data.val_batch_size=2", "model.num_style_feat=32", "model.narrow=0.0625",
                        "model.num_mlp=1", "loss.terms.gan.discriminator.narrow=0.0625", "trainer=cpu",
                        "callbacks=cpu", "trainer.max_steps=2", "trainer.val_check_interval=2",
                        f"paths.run_dir={tmp_path / 'run'}")
    with caplog.at_level(logging.WARNING):
        metrics = train_script().train(cfg)
    assert "broken.png" in caplog.text and "val/swd" in metrics
    assert (tmp_path / "run" / "checkpoints" / "generator_ema.pth").is_file()


def test_data_root_on_the_built_in_faces_says_what_to_add(tmp_path):
    cfg = compose_train(f"data.root={tmp_path}", f"paths.run_dir={tmp_path / 'run'}")
    with pytest.raises(Exception, match="data=ffhq"):
        instantiate(cfg.data)
