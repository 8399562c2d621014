"""Clean StyleGAN2 generator and GFPGANv1Clean: shapes, switches, SFT semantics, W+ input, state dicts."""

import itertools

import pytest
import torch

from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.models.stylegan2_clean import StyleGAN2GeneratorClean, to_channels_last
from gpen.utils.validation import ConfigValueError

TINY = {"out_size": 32, "num_style_feat": 32, "narrow": 0.125, "channel_multiplier": 1}  # StyleGAN2 64 ch, U-Net 32


def tiny_generator(**overrides) -> GFPGANv1Clean:
    torch.manual_seed(0)
    model = GFPGANv1Clean(**(TINY | overrides))
    with torch.no_grad():  # noise strengths start at 0; make the noise visible so determinism is tested
        for conv in [model.stylegan_decoder.style_conv1, *model.stylegan_decoder.style_convs]:
            conv.weight.fill_(0.5)
    return model


def test_parameter_count_matches_official_v13_shape():
    with torch.device("meta"):
        model = GFPGANv1Clean(out_size=512, channel_multiplier=2, sft_half=True)
    assert sum(p.numel() for p in model.parameters()) == 86_444_252
    state = model.state_dict()
    assert len(state) == 285
    assert tuple(state["final_linear.weight"].shape) == (8192, 4096)
    assert tuple(state["condition_scale.6.2.weight"].shape) == (32, 32, 3, 3)  # CS-SFT: half width
    assert tuple(state["stylegan_decoder.style_convs.13.modulated_conv.weight"].shape) == (1, 64, 64, 3, 3)
    assert tuple(state["stylegan_decoder.noises.noise14"].shape) == (1, 1, 512, 512)


@pytest.mark.parametrize("sft_half,use_sft,different_w,input_is_latent",
                         list(itertools.product([False, True], repeat=4)))
def test_output_shapes_for_every_switch_combination(sft_half, use_sft, different_w, input_is_latent):
    model = GFPGANv1Clean(**TINY, sft_half=sft_half, use_sft=use_sft, different_w=different_w,
                          input_is_latent=input_is_latent)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    image, rgbs, latent = model(x, return_latents=True)
    assert image.shape == (2, 3, 32, 32)
    assert [tuple(r.shape) for r in rgbs] == [(2, 3, 8, 8), (2, 3, 16, 16), (2, 3, 32, 32)]
    assert latent.shape == (2, 8, 32)
    assert any(k.startswith("condition_") for k in model.state_dict()) == use_sft
    assert model(x, return_rgb=False)[1] == []


@pytest.mark.parametrize("out_size,channel_multiplier", [(64, 2), (128, 1)])
def test_larger_sizes_and_channel_multiplier(out_size, channel_multiplier):
    model = GFPGANv1Clean(out_size=out_size, num_style_feat=16, narrow=0.0625, channel_multiplier=channel_multiplier)
    image, rgbs = model(torch.zeros(1, 3, out_size, out_size))
    assert image.shape == (1, 3, out_size, out_size) and len(rgbs) == model.log_size - 2
    assert model.stylegan_decoder.channels[64] == int(256 * channel_multiplier * 0.0625)


def test_invalid_config_values_are_refused_with_the_key():
    with pytest.raises(ConfigValueError, match="out_size"):
        GFPGANv1Clean(**(TINY | {"out_size": 48}))
    with pytest.raises(ConfigValueError, match="sft_strength"):
        GFPGANv1Clean(**TINY, sft_strength=-0.5)
    with pytest.raises(ConfigValueError, match="channel_multiplier"):
        GFPGANv1Clean(**(TINY | {"channel_multiplier": 0}))


@pytest.mark.parametrize("fix_decoder", [True, False])
def test_fix_decoder_freezes_the_prior_only(fix_decoder):
    model = tiny_generator(fix_decoder=fix_decoder)
    image, rgbs = model(torch.rand(1, 3, 32, 32))
    (image.mean() + sum(r.mean() for r in rgbs)).backward()
    prior_grads = [p.grad for p in model.stylegan_decoder.parameters()]
    if fix_decoder:
        assert all(g is None for g in prior_grads)
    else:
        assert any(g is not None and g.abs().sum() > 0 for g in prior_grads)
    assert model.final_linear.weight.grad.abs().sum() > 0
    assert model.condition_scale[0][0].weight.grad.abs().sum() > 0


def features_after_sft(model: GFPGANv1Clean, x: torch.Tensor, level: int) -> torch.Tensor:
    """Input of the second styled conv of `level`, i.e. the prior's features right after the SFT."""
    captured = []
    conv = model.stylegan_decoder.style_convs[2 * level + 1]
    handle = conv.register_forward_pre_hook(lambda module, args: captured.append(args[0].clone()))
    model(x)
    handle.remove()
    return captured[0]


@pytest.mark.parametrize("sft_half", [True, False])
def test_cs_sft_modulates_only_the_second_half_of_the_channels(sft_half):
    model = tiny_generator(sft_half=sft_half).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        modulated = features_after_sft(model, x, level=0)  # the first SFT: its input is unmodulated
        model.sft_strength = 0.0
        plain = features_after_sft(model, x, level=0)
    half = modulated.shape[1] // 2
    first_half_same = torch.equal(modulated[:, :half], plain[:, :half])
    assert first_half_same == sft_half
    assert not torch.allclose(modulated[:, half:], plain[:, half:])


def test_sft_strength_zero_is_the_unmodulated_prior_and_scales_the_effect():
    model = tiny_generator(sft_half=True).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        full, _, latent = model(x, return_latents=True)
        model.sft_strength = 0.0
        zero, _ = model(x)
        prior, _ = model.stylegan_decoder([latent], input_is_latent=True)
        model.sft_strength = 0.5
        half, _ = model(x)
    torch.testing.assert_close(zero, prior, rtol=0, atol=1e-6)
    assert not torch.allclose(full, zero, atol=1e-4)
    assert 0 < (half - zero).abs().mean() < (full - zero).abs().mean()


def test_given_wplus_code_replaces_the_encoders():
    model = tiny_generator().eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    given = torch.randn(2, 8, 32)
    with torch.no_grad():
        own, _, own_latent = model(x, return_latents=True)
        image, rgbs, latent = model(x, latent=given, return_latents=True)
        encoded, conditions, enc_rgbs = model.encode(x)
        decoded = model.decode(given, conditions)
    assert torch.equal(latent, given)
    torch.testing.assert_close(image, decoded, rtol=0, atol=0)
    torch.testing.assert_close(encoded, own_latent, rtol=0, atol=0)
    torch.testing.assert_close(rgbs[-1], enc_rgbs[-1], rtol=0, atol=0)  # the U-Net still runs on x
    assert not torch.allclose(image, own, atol=1e-4)


def test_eval_is_deterministic_and_training_samples_fresh_noise():
    model = tiny_generator()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(x)[0], model(x)[0])
        model.eval()
        first = model(x)[0]
        assert torch.equal(first, model(x)[0])
        assert not torch.equal(first, model(x, randomize_noise=True)[0])
        model.train()
        assert torch.equal(first, model(x, randomize_noise=False)[0])


def test_state_dict_round_trip(tmp_path):
    source = tiny_generator(sft_half=True).eval()
    path = tmp_path / "g.pth"
    torch.save(source.state_dict(), path)
    torch.manual_seed(1)
    target = GFPGANv1Clean(**TINY, sft_half=True)
    target.load_state_dict(torch.load(path, weights_only=True), strict=True)
    target.eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(target(x)[0], source(x)[0], rtol=0, atol=0)


def test_channels_last_and_bf16_autocast_agree_with_fp32():
    model = tiny_generator(sft_half=True).eval()
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        reference = model(x)[0]
        to_channels_last(model)
        assert model.final_conv.weight.is_contiguous(memory_format=torch.channels_last)
        channels_last = model(x.contiguous(memory_format=torch.channels_last))[0]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(x)[0]
    torch.testing.assert_close(channels_last, reference, rtol=1e-4, atol=1e-4)
    assert (bf16.float() - reference).abs().mean() < 0.05 * reference.abs().mean() + 1e-3


def test_stylegan2_generator_alone_mapping_truncation_and_mixing():
    torch.manual_seed(0)
    generator = StyleGAN2GeneratorClean(32, num_style_feat=32, channel_multiplier=1, narrow=0.125).eval()
    z = torch.randn(3, 32)
    with torch.no_grad():
        image, latent = generator([z], return_latents=True)
        assert image.shape == (3, 3, 32, 32) and latent.shape == (3, 8, 32)
        torch.testing.assert_close(latent[:, 0], generator.style_mlp(z), rtol=0, atol=0)
        mean = generator.mean_latent(64)
        _, t_latent = generator([z], truncation=0.0, truncation_latent=mean, return_latents=True)
        torch.testing.assert_close(t_latent, mean.expand(3, 8, 32), rtol=0, atol=1e-6)
        _, mixed = generator([z, torch.randn(3, 32)], inject_index=3, return_latents=True)
    assert torch.equal(mixed[:, :3], latent[:, :3]) and not torch.equal(mixed[:, 3:], latent[:, 3:])
    with pytest.raises(ConfigValueError, match="out_size"):
        StyleGAN2GeneratorClean(100)


def test_training_and_inference_paths_of_the_modulated_conv_agree():
    model = tiny_generator(sft_half=True).eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        inference = model(x)[0]  # activation modulation, shared-weight convolution
    training = model(x)[0]  # autograd records: per-sample weights, grouped convolution
    assert training.requires_grad
    torch.testing.assert_close(training.detach(), inference, rtol=1e-4, atol=1e-5)
