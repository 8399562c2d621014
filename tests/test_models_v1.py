"""Original-architecture StyleGAN2 generator, GFPGANv1 and their plain-torch ops."""

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from gpen.models.gfpgan_v1 import GFPGANv1
from gpen.models.stylegan2_clean import to_channels_last
from gpen.models.stylegan2_ops import fused_leaky_relu, upfirdn2d
from gpen.models.stylegan2_v1 import ModulatedConv2d, StyleGAN2Generator
from gpen.utils.validation import ConfigValueError

REFERENCE = Path("/work/shared/reference/GFPGANv1_cm1_paper.txt")
TINY = dict(num_style_feat=16, narrow=1 / 16, num_mlp=2)  # prior 32 channels, U-Net 16


def tiny(out_size: int = 32, **kwargs) -> GFPGANv1:
    torch.manual_seed(0)
    return GFPGANv1(out_size, **{**TINY, **kwargs})


def param_count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# ---- ops -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("up,down,pad", [(1, 1, (1, 2)), (2, 1, (2, 1)), (1, 2, (1, 1)), (1, 1, (-1, 0))])
def test_upfirdn2d_matches_a_numpy_reference(up, down, pad):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    kernel = rng.standard_normal((4, 3)).astype(np.float32)  # asymmetric: catches a missing flip
    ours = upfirdn2d(torch.from_numpy(x), torch.from_numpy(kernel), up=up, down=down, pad=pad).numpy()
    for b, c in itertools.product(range(2), range(3)):
        z = np.zeros((7 * up, 6 * up), np.float32)
        z[::up, ::up] = x[b, c]
        p0, p1 = pad
        z = np.pad(z, ((max(p0, 0), max(p1, 0)),) * 2)
        z = z[max(-p0, 0):z.shape[0] - max(-p1, 0), max(-p0, 0):z.shape[1] - max(-p1, 0)]
        ref = convolve2d(z, kernel, mode="valid")[::down, ::down]
        np.testing.assert_allclose(ours[b, c], ref, atol=1e-5)


def test_fused_leaky_relu_is_bias_then_scaled_leaky_relu():
    x, bias = torch.randn(2, 5, 3, 3), torch.randn(5)
    expected = torch.where(x + bias[:, None, None] > 0, x + bias[:, None, None], 0.2 * (x + bias[:, None, None]))
    torch.testing.assert_close(fused_leaky_relu(x, bias), expected * 2**0.5)


@pytest.mark.parametrize("upsample", [False, True])
def test_modulated_conv_treats_each_sample_with_its_own_style(upsample):
    torch.manual_seed(0)
    conv = ModulatedConv2d(4, 6, 3, num_style_feat=8, upsample=upsample)
    x, style = torch.randn(3, 4, 5, 5), torch.randn(3, 8)
    batched = conv(x, style)
    assert batched.shape == (3, 6, 10 if upsample else 5, 10 if upsample else 5)
    one_by_one = torch.cat([conv(x[i:i + 1], style[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)


# ---- StyleGAN2 generator on its own --------------------------------------------------------------

def test_stylegan2_generator_standalone():
    torch.manual_seed(0)
    gen = StyleGAN2Generator(32, num_style_feat=16, num_mlp=2, narrow=1 / 16).eval()
    with torch.no_grad():
        for conv in gen.style_convs:
            conv.weight.fill_(0.5)  # noise strengths start at 0; make the noise visible
    z = torch.randn(2, 16)
    image, latent = gen([z], return_latents=True)
    assert image.shape == (2, 3, 32, 32) and latent.shape == (2, gen.num_latent, 16)
    again, _ = gen([z])
    torch.testing.assert_close(image, again)  # eval: stored noise -> deterministic
    fresh, _ = gen([z], randomize_noise=True)
    assert not torch.allclose(image, fresh)
    _, mixed_latent = gen([z, torch.randn(2, 16)], inject_index=3, return_latents=True)
    assert torch.equal(mixed_latent[:, :3], latent[:, :3]) and not torch.equal(mixed_latent[:, 3:], latent[:, 3:])
    centre = gen.mean_latent(64)
    truncated, _ = gen([z], truncation=0.0, truncation_latent=centre)
    centred, _ = gen([centre], input_is_latent=True)
    torch.testing.assert_close(truncated[:1], centred)


# ---- GFPGANv1 ------------------------------------------------------------------------------------

def test_paper_config_matches_official_parameter_count_and_names():
    with torch.device("meta"):
        net = GFPGANv1(512, channel_multiplier=1, sft_half=True, different_w=True)
        plain_sft = GFPGANv1(512, channel_multiplier=1, sft_half=False, different_w=True)
    assert param_count(net) == 76_207_244
    assert param_count(net.stylegan_decoder) == pytest.approx(24.86e6, abs=0.01e6)
    assert param_count(plain_sft) == pytest.approx(80.14e6, abs=0.01e6)
    if REFERENCE.exists():
        expected = {}
        for line in REFERENCE.read_text().splitlines()[1:]:
            key, shape = line.split("\t")
            expected[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
        assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == expected


@pytest.mark.parametrize("sft_half,use_sft,different_w,input_is_latent",
                         list(itertools.product([False, True], repeat=4)))
def test_output_shapes_for_every_switch(sft_half, use_sft, different_w, input_is_latent):
    net = tiny(32, sft_half=sft_half, use_sft=use_sft, different_w=different_w, input_is_latent=input_is_latent)
    image, rgbs, latent = net(torch.randn(2, 3, 32, 32), return_latents=True)
    assert image.shape == (2, 3, 32, 32)
    assert [r.shape[-1] for r in rgbs] == [8, 16, 32] and all(r.shape[:2] == (2, 3) for r in rgbs)
    assert latent.shape == (2, 8, 16)
    assert any(k.startswith("condition_") for k in net.state_dict()) == use_sft


@pytest.mark.parametrize("out_size,channel_multiplier,narrow", [(64, 2, 1 / 16), (64, 1, 1 / 32), (128, 1, 1 / 32)])
def test_output_shapes_for_sizes_and_widths(out_size, channel_multiplier, narrow):
    net = tiny(out_size, channel_multiplier=channel_multiplier, narrow=narrow, sft_half=True)
    image, rgbs = net(torch.randn(1, 3, out_size, out_size), return_rgb=False)
    assert image.shape == (1, 3, out_size, out_size) and rgbs == []


def test_invalid_settings_are_refused_with_the_key():
    for kwargs, key in [(dict(out_size=48), "out_size"), (dict(out_size=16), "out_size"),
                        (dict(sft_strength=-1.0), "sft_strength"), (dict(channel_multiplier=0), "channel_multiplier")]:
        with pytest.raises(ConfigValueError, match=key):
            GFPGANv1(**{**TINY, "out_size": 32, **kwargs})


def test_wrong_input_size_is_refused_clearly():
    with pytest.raises(ValueError, match=r"takes faces of shape \(B, 3, 32, 32\), got \(1, 3, 64, 64\)"):
        tiny(32)(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("fix_decoder", [True, False])
def test_fix_decoder_freezes_the_prior_only(fix_decoder):
    net = tiny(32, sft_half=True, fix_decoder=fix_decoder).train()
    image, rgbs = net(torch.randn(2, 3, 32, 32))
    (image.mean() + sum(r.mean() for r in rgbs)).backward()
    prior_grads = [p.grad for p in net.stylegan_decoder.parameters()]
    if fix_decoder:
        assert all(not p.requires_grad for p in net.stylegan_decoder.parameters())
        assert all(g is None for g in prior_grads)
    else:
        assert any(g is not None and g.abs().sum() > 0 for g in prior_grads)
    for module in (net.conv_body_first, net.final_linear, net.condition_scale, net.toRGB):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def features_entering_second_conv(net: GFPGANv1, x: torch.Tensor, strip_conditions: bool = False) -> torch.Tensor:
    """The level-0 (8×8) prior features right after SFT, i.e. the input of that level's second conv."""
    captured = []
    handle = net.stylegan_decoder.style_convs[1].register_forward_hook(lambda m, inp, out: captured.append(inp[0]))
    with torch.no_grad():
        latent, conditions, _ = net.encode(x)
        net.decode(latent, [] if strip_conditions else conditions)
    handle.remove()
    return captured[0]  # (B, C, 8, 8)


@pytest.mark.parametrize("sft_half", [True, False])
def test_cs_sft_leaves_half_of_the_channels_untouched(sft_half):
    net = tiny(32, sft_half=sft_half).eval()
    with torch.no_grad():  # move the conditions away from their identity init (scale 1, shift 0)
        for p in itertools.chain(net.condition_scale.parameters(), net.condition_shift.parameters()):
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 3, 32, 32)
    modulated, plain = features_entering_second_conv(net, x), features_entering_second_conv(net, x, True)
    half = modulated.shape[1] // 2
    assert torch.equal(modulated[:, :half], plain[:, :half]) == sft_half
    assert not torch.allclose(modulated[:, half:], plain[:, half:])


def test_sft_strength_zero_is_the_unmodulated_prior():
    net = tiny(32, sft_half=True).eval()
    with torch.no_grad():
        for p in net.condition_shift.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        latent, _, _ = net.encode(x)
        prior_only = net.decode(latent, [])
        full, _ = net(x)
        net.sft_strength = 0.0
        weakened, _ = net(x)
    torch.testing.assert_close(weakened, prior_only)
    assert not torch.allclose(full, prior_only)


def test_given_wplus_code_is_honoured():
    net = tiny(32, sft_half=True).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        own, _, own_latent = net(x, return_latents=True)
        given = torch.randn_like(own_latent)
        out, _, returned = net(x, latent=given, return_latents=True)
        _, conditions, _ = net.encode(x)
        expected = net.decode(given, conditions)
    assert torch.equal(returned, given)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, own)


def test_noise_is_stored_in_eval_and_fresh_in_training():
    net = tiny(32, sft_half=True)
    with torch.no_grad():
        for conv in net.stylegan_decoder.style_convs:
            conv.weight.fill_(0.5)  # noise strengths start at 0; make the noise visible
        x = torch.randn(1, 3, 32, 32)
        net.eval()
        torch.testing.assert_close(net(x)[0], net(x)[0])
        net.train()
        assert not torch.allclose(net(x)[0], net(x)[0])
        torch.testing.assert_close(net(x, randomize_noise=False)[0], net.eval()(x)[0])


def test_state_dict_round_trip():
    kwargs = dict(sft_half=True, different_w=False, channel_multiplier=2, narrow=1 / 16)
    net = tiny(64, **kwargs).eval()
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    buffer.seek(0)
    copy = GFPGANv1(64, **{**TINY, **kwargs})  # fresh random weights and noise buffers
    copy.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(copy.eval()(x)[0], net(x)[0], rtol=0, atol=0)


def test_mismatched_setting_fails_strict_loading():
    state = tiny(32, sft_half=True).state_dict()
    with pytest.raises(RuntimeError, match="condition_scale.0.2.weight"):
        tiny(32, sft_half=False).load_state_dict(state, strict=True)


def test_channels_last_gives_the_same_image():
    net = tiny(32, sft_half=True).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = net(x)[0]
        out = to_channels_last(net)(x.contiguous(memory_format=torch.channels_last))[0]
    assert net.conv_body_first[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)


@pytest.mark.gpu
def test_cuda_matches_cpu_and_runs_under_bf16_autocast():
    net = tiny(64, sft_half=True).eval()
    x = torch.randn(2, 3, 64, 64)
    tf32 = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # TF32 convs alone would differ by ~1e-3
    try:
        with torch.no_grad():
            reference = net(x)[0]
            gpu_net = net.cuda()
            out = gpu_net(x.cuda())[0].cpu()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                half = gpu_net(x.cuda())[0]
    finally:
        torch.backends.cudnn.allow_tf32 = tf32
    torch.testing.assert_close(out, reference, atol=1e-4, rtol=1e-4)
    assert torch.isfinite(half).all()
