"""load_generator / load_stylegan2_prior: every checkpoint layout, inference from shapes, every error."""

from pathlib import PurePosixPath

import pytest
import torch

from gpen.models.arcface import ResNetArcFace
from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.models.gfpgan_v1 import GFPGANv1
from gpen.models.loading import (
    CheckpointMismatchError,
    UnreadableCheckpointError,
    infer_generator_spec,
    load_generator,
    load_stylegan2_prior,
)
from gpen.models.stylegan2_clean import StyleGAN2GeneratorClean
from gpen.models.stylegan2_v1 import StyleGAN2Generator
from gpen.utils.pretrained import MissingWeightsError

TINY = {"out_size": 64, "num_style_feat": 16, "narrow": 0.0625, "channel_multiplier": 2, "num_mlp": 2}


def tiny(cls=GFPGANv1Clean, seed=0, **overrides):
    torch.manual_seed(seed)
    model = cls(**(TINY | overrides))
    with torch.no_grad():  # noise strengths start at 0: make the stored noise maps matter
        for name, param in model.named_parameters():
            if param.numel() == 1:
                param.fill_(0.3)
    return model


def restore(model, x):
    with torch.no_grad():
        return model.eval()(x)[0]


X = torch.rand(1, 3, 64, 64) * 2 - 1


@pytest.mark.parametrize("cls,arch", [(GFPGANv1Clean, "clean"), (GFPGANv1, "v1")])
def test_bare_state_dict_infers_architecture_and_settings(tmp_path, cls, arch):
    source = tiny(cls, sft_half=True, different_w=False)
    path = tmp_path / "bare.pth"
    torch.save(source.state_dict(), path)
    loaded = load_generator(path)
    assert type(loaded) is cls and not loaded.training
    assert (loaded.sft_half, loaded.different_w, loaded.use_sft) == (True, False, True)
    assert infer_generator_spec(source.state_dict(), path)[0] == arch
    torch.testing.assert_close(restore(loaded, X), restore(source, X), rtol=0, atol=0)
    assert torch.equal(restore(loaded, X), restore(loaded, X))  # eval mode: stored noise, deterministic


def test_official_layout_prefers_ema_weights_and_takes_overrides(tmp_path):
    ema, raw = tiny(seed=0, use_sft=False), tiny(seed=1, use_sft=False)
    path = tmp_path / "GFPGANv1.4.pth"
    torch.save({"params": raw.state_dict(), "params_ema": ema.state_dict()}, path)
    loaded = load_generator(path, sft_strength=0.5)
    assert loaded.sft_strength == 0.5 and loaded.use_sft is False
    torch.testing.assert_close(restore(loaded, X), restore(ema, X), rtol=0, atol=0)


def test_our_lightning_checkpoint_and_export_use_the_recorded_kwargs(tmp_path):
    kwargs = TINY | {"input_is_latent": False, "sft_half": True}
    torch.manual_seed(0)
    ema, online = GFPGANv1Clean(**kwargs), GFPGANv1Clean(**kwargs)
    spec = {"arch": "clean", "kwargs": kwargs}
    state = {f"generator.{k}": v for k, v in online.state_dict().items()}
    state |= {f"generator_ema.{k}": v for k, v in ema.state_dict().items()}
    state["discriminator.weight"] = torch.zeros(3)
    ckpt, export = tmp_path / "last.ckpt", tmp_path / "generator_ema.pth"
    torch.save({"state_dict": state, "gpen_generator": spec, "global_step": 7}, ckpt)
    torch.save({"params_ema": ema.state_dict(), "gpen_generator": spec}, export)
    for path in (ckpt, export):
        loaded = load_generator(path)
        assert loaded.input_is_latent is False  # not visible in the weights: taken from the record
        torch.testing.assert_close(restore(loaded, X), restore(ema, X), rtol=0, atol=0)


def test_released_shapes_are_recognised():
    with torch.device("meta"):
        v13 = GFPGANv1Clean(out_size=512, channel_multiplier=2, sft_half=True).state_dict()
        paper = GFPGANv1(out_size=512, channel_multiplier=1, sft_half=True).state_dict()
    assert infer_generator_spec(v13, "v1.3") == ("clean", {
        "out_size": 512, "narrow": 1.0, "num_style_feat": 512, "num_mlp": 8, "channel_multiplier": 2, "use_sft": True,
        "sft_half": True, "different_w": True})
    arch, kwargs = infer_generator_spec(paper, "GFPGANv1.pth")
    assert arch == "v1" and kwargs["channel_multiplier"] == 1 and kwargs["sft_half"] is True


def test_contradicting_override_names_key_shapes_and_fitting_setting(tmp_path):
    path = tmp_path / "cm2.pth"
    torch.save({"params_ema": tiny().state_dict()}, path)
    with pytest.raises(CheckpointMismatchError) as error:
        load_generator(path, channel_multiplier=1)
    message = str(error.value)
    assert "cm2.pth" in message and "conv_body_first.weight" in message
    assert "(8, 3, 1, 1)" in message and "(16, 3, 1, 1)" in message and "channel_multiplier=2" in message


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = tiny().state_dict()
    path = tmp_path / "g.pth"
    torch.save({k: v for k, v in state.items() if k != "toRGB.1.weight"}, path)
    with pytest.raises(CheckpointMismatchError, match=r"`toRGB\.1\.weight`.*missing from the file"):
        load_generator(path)
    torch.save(state | {"extra.weight": torch.zeros(2)}, path)
    with pytest.raises(CheckpointMismatchError, match=r"`extra\.weight`.*no such key"):
        load_generator(path)


def test_unusable_files_get_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path))
    with pytest.raises(MissingWeightsError, match="`checkpoint`"):
        load_generator("GFPGANv1.3.pth")
    broken = tmp_path / "broken.pth"
    torch.save(tiny().state_dict(), broken)
    broken.write_bytes(broken.read_bytes()[:1000])  # truncated download
    with pytest.raises(UnreadableCheckpointError, match="broken.pth"):
        load_generator(broken)
    other = tmp_path / "arcface.pth"
    torch.save(ResNetArcFace(layers=(1, 1, 1, 1)).state_dict(), other)
    with pytest.raises(CheckpointMismatchError, match="arcface.pth is not a GFP-GAN or GPEN generator"):
        load_generator(other)
    no_ema = tmp_path / "no_ema.ckpt"
    torch.save({"state_dict": {"generator.final_linear.weight": torch.zeros(1)}}, no_ema)
    with pytest.raises(CheckpointMismatchError, match="generator_ema"):
        load_generator(no_ema)
    with pytest.raises(TypeError, match="bare.pth|no_such_setting"):
        path = tmp_path / "bare.pth"
        torch.save(tiny().state_dict(), path)
        load_generator(path, no_such_setting=1)


def test_stylegan2_prior_loads_into_the_decoder_and_stays_frozen(tmp_path):
    torch.manual_seed(3)
    prior = StyleGAN2GeneratorClean(64, num_style_feat=16, num_mlp=2, channel_multiplier=2, narrow=0.0625)
    path = tmp_path / "prior.pth"
    torch.save({"params_ema": prior.state_dict()}, path)
    generator = tiny(fix_decoder=True)
    load_stylegan2_prior(generator, path)
    for key, value in prior.state_dict().items():
        assert torch.equal(generator.stylegan_decoder.state_dict()[key], value)
    assert not any(p.requires_grad for p in generator.stylegan_decoder.parameters())
    with pytest.raises(CheckpointMismatchError, match="channel_multiplier=2"):
        load_stylegan2_prior(tiny(channel_multiplier=1), path)


def test_original_architecture_prior_fits_gfpganv1_only(tmp_path):
    torch.manual_seed(4)
    prior = StyleGAN2Generator(64, num_style_feat=16, num_mlp=2, channel_multiplier=2, narrow=0.0625)
    path = tmp_path / "StyleGAN2_prior.pth"
    torch.save({"params_ema": prior.state_dict()}, path)
    generator = load_stylegan2_prior(tiny(GFPGANv1), path)
    assert torch.equal(generator.stylegan_decoder.constant_input.weight, prior.constant_input.weight)
    with pytest.raises(CheckpointMismatchError, match="prior of GFPGANv1, the original StyleGAN2"):
        load_stylegan2_prior(tiny(), path)
    with pytest.raises(MissingWeightsError, match="pretrained.stylegan2_prior"):
        load_stylegan2_prior(tiny(), tmp_path / "nowhere" / "StyleGAN2_512.pth")


def test_pickled_python_objects_need_explicit_trust(tmp_path):
    source = tiny(use_sft=False)
    path = tmp_path / "with_objects.ckpt"
    torch.save({"params_ema": source.state_dict(), "run_dir": PurePosixPath("outputs/run")}, path)
    with pytest.raises(UnreadableCheckpointError, match="weights_only=False"):
        load_generator(path)
    loaded = load_generator(path, weights_only=False)
    torch.testing.assert_close(restore(loaded, X), restore(source, X), rtol=0, atol=0)
