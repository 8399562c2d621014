"""StyleGAN2 and facial-component discriminators: shapes, official sizes and names, R1-ready gradients."""

from pathlib import Path

import pytest
import torch

from gpen.models.discriminators import FacialComponentDiscriminator, StyleGAN2Discriminator
from gpen.utils.validation import ConfigValueError

REFERENCE = Path("/work/shared/reference")


def reference_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Parse `key<TAB>(shape)` lines of a reference listing of an official state dict."""
    shapes = {}
    for line in (REFERENCE / f"{name}.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split("\t")
        shapes[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    return shapes


def param_count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_stylegan2_discriminator_matches_official_512_cm1_layout():
    with torch.device("meta"):  # full size without allocating or initialising 24M parameters
        net = StyleGAN2Discriminator(512, channel_multiplier=1)
    assert param_count(net) == 24_030_753
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    if REFERENCE.exists():
        assert ours == reference_shapes("StyleGAN2Discriminator_512_cm1")


def test_component_discriminator_matches_official_layout():
    net = FacialComponentDiscriminator()
    assert param_count(net) == 1_110_785
    if REFERENCE.exists():
        assert {k: tuple(v.shape) for k, v in net.state_dict().items()} == reference_shapes(
            "FacialComponentDiscriminator")


@pytest.mark.parametrize("size", [32, 64])
def test_stylegan2_discriminator_logits_shape(size):
    net = StyleGAN2Discriminator(size, channel_multiplier=1, narrow=1 / 16)
    out = net(torch.randn(4, 3, size, size))
    assert out.shape == (4, 1) and torch.isfinite(out).all()


def test_minibatch_stddev_couples_the_samples_of_a_group():
    net = StyleGAN2Discriminator(32, narrow=1 / 16).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        base = net(x)
        changed = x.clone()
        changed[3] += 1.0
        out = net(changed)
        single = net(x[:1])  # group of one: stddev channel is constant, sample 0 no longer sees the others
    assert not torch.allclose(base[0], out[0])  # sample 0 sees sample 3 through the group statistic
    assert not torch.allclose(base[0], single[0])


def test_minibatch_stddev_rejects_uneven_batch():
    net = StyleGAN2Discriminator(32, narrow=1 / 16)
    with pytest.raises(ValueError, match="batch size 6 must be a multiple of stddev_group=4"):
        net(torch.randn(6, 3, 32, 32))


def test_invalid_config_is_refused_with_key():
    with pytest.raises(ConfigValueError, match="out_size"):
        StyleGAN2Discriminator(500)
    with pytest.raises(ConfigValueError, match="channel_multiplier"):
        StyleGAN2Discriminator(64, channel_multiplier=0)


def test_r1_penalty_double_backward_reaches_the_weights():
    """R1 needs grad of a grad: the plain-torch blur and activation must support it."""
    net = StyleGAN2Discriminator(32, narrow=1 / 16)
    real = torch.randn(2, 3, 32, 32, requires_grad=True)
    (grad,) = torch.autograd.grad(net(real).sum(), real, create_graph=True)
    r1 = grad.pow(2).flatten(1).sum(1).mean()
    r1.backward()
    first = net.conv_body[0][0].weight.grad
    assert first is not None and first.abs().sum() > 0


def test_component_discriminator_features_for_style_loss():
    net = FacialComponentDiscriminator()
    x = torch.randn(2, 3, 40, 40)
    logits, feats = net(x, return_feats=True)
    assert logits.shape == (2, 1, 10, 10)
    assert [f.shape for f in feats] == [(2, 128, 20, 20), (2, 256, 10, 10)]
    logits_only, none = net(x)
    assert none is None and torch.equal(logits_only, logits)
