"""GPEN generator and discriminator: official parity, released layouts, loading, the knob, the template."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from gpen.models.discriminators import GPENDiscriminator
from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.models.gpen import GPENGenerator
from gpen.models.loading import CheckpointMismatchError, UnreadableCheckpointError, load_generator
from gpen.models.templates import FFHQ_TEMPLATE_512, face_template

DATA = Path(__file__).parent / "data"  # copies of the official key lists and the parity file
TINY = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "channel_multiplier": 2, "narrow": 0.0625}


def released_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """`key  (shape)` lines of an official state-dict listing."""
    shapes = {}
    for line in (DATA / f"{name}.txt").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        key, shape = line.split(None, 1)
        shapes[key] = tuple(int(s) for s in re.findall(r"\d+", shape))
    return shapes


def zero_file(path: Path, shapes: dict[str, tuple[int, ...]], nest: str | None = None) -> Path:
    """A weight file with exactly these keys and shapes; zeros broadcast from one element keep it tiny."""
    state = {k: torch.zeros(1).expand(shape) if shape else torch.zeros(()) for k, shape in shapes.items()}
    torch.save({nest: state} if nest else state, path)
    return path


def tiny(seed: int = 0, **overrides) -> GPENGenerator:
    torch.manual_seed(seed)
    model = GPENGenerator(**(TINY | overrides))
    with torch.no_grad():  # the noise-concat strengths start at 0: make the encoder maps matter
        for name, param in model.named_parameters():
            if name.endswith("noise.weight"):
                param.fill_(0.5)
    return model.eval()


X = torch.rand(2, 3, 64, 64) * 2 - 1


def test_matches_the_official_implementation():
    parity = torch.load(DATA / "gpen_parity_64.pt", weights_only=True)
    s = parity["settings"]
    model = GPENGenerator(out_size=s["size"], style_dim=s["style_dim"], n_mlp=s["n_mlp"],
                          channel_multiplier=s["channel_multiplier"], narrow=s["narrow"])
    model.load_state_dict(parity["state_dict"], strict=True)
    with torch.no_grad():
        image, rgbs = model.eval()(parity["input"])
    assert rgbs == []
    torch.testing.assert_close(image, parity["output"], rtol=0, atol=2e-6)


@pytest.mark.parametrize("name,size,cm,narrow,count", [
    ("GPEN_BFR_512", 512, 2, 1, 71_005_223), ("GPEN_BFR_256", 256, 1, 0.5, 18_879_010)])
def test_released_layouts(name, size, cm, narrow, count):
    with torch.device("meta"):  # full size without allocating or initialising the weights
        model = GPENGenerator(size, 512, 8, cm, narrow)
    assert sum(p.numel() for p in model.parameters()) == count
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == released_shapes(name)


@pytest.mark.parametrize("size,count", [(1024, 71_210_540), (2048, 71_294_769)])
def test_large_released_sizes_have_the_official_parameter_counts(size, count):
    with torch.device("meta"):
        model = GPENGenerator(size)
    assert sum(p.numel() for p in model.parameters()) == count


def test_released_256_file_loads_with_inferred_settings(tmp_path):
    path = zero_file(tmp_path / "GPEN-BFR-256.pth", released_shapes("GPEN_BFR_256"))
    model = load_generator(path)
    assert type(model) is GPENGenerator and not model.training
    assert (model.out_size, model.style_dim, model.channels[4], model.channels[256]) == (256, 512, 256, 32)
    assert sum(p.numel() for p in model.parameters()) == 18_879_010


def test_released_512_file_loads_with_inferred_settings_and_refuses_contradictions(tmp_path):
    path = zero_file(tmp_path / "GPEN-BFR-512.pth", released_shapes("GPEN_BFR_512"))
    model = load_generator(path, arch="gpen")
    assert (model.out_size, model.channels[512], len(model.generator.style) - 1) == (512, 64, 8)
    assert sum(p.numel() for p in model.parameters()) == 71_005_223
    del model
    with pytest.raises(CheckpointMismatchError,
                       match=r"GPEN-BFR-512\.pth .*`generator\.convs\.6\.conv\.weight`.*channel_multiplier=2"):
        load_generator(path, channel_multiplier=1)


def test_trainer_checkpoint_nests_the_ema_generator(tmp_path):
    ema, online = tiny(0), tiny(1)
    path = tmp_path / "000100.pth"
    torch.save({"g": online.state_dict(), "d": {}, "g_ema": ema.state_dict(), "g_optim": {}}, path)
    loaded = load_generator(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(X)[0], ema(X)[0], rtol=0, atol=0)


def test_wrong_architecture_and_truncated_files_get_clear_errors(tmp_path):
    gpen_file, gfpgan_file = tmp_path / "gpen.pth", tmp_path / "gfpgan.pth"
    torch.save(tiny().state_dict(), gpen_file)
    torch.save(GFPGANv1Clean(out_size=64, num_style_feat=16, narrow=0.0625, num_mlp=1).state_dict(), gfpgan_file)
    with pytest.raises(CheckpointMismatchError, match=r"gpen\.pth holds a GPENGenerator .*out_size=64.*"
                                                      r"`ecd0\.0\.0\.weight` \(32, 3, 1, 1\).*use model=gpen"):
        load_generator(gpen_file, arch="clean")
    with pytest.raises(CheckpointMismatchError, match=r"gfpgan\.pth holds a GFPGANv1Clean .*use model=gfpgan_clean"):
        load_generator(gfpgan_file, arch="gpen")
    with pytest.raises(TypeError, match=r"gpen\.pth.*GPENGenerator.*sft_half"):
        load_generator(gpen_file, sft_half=False)  # a GFP-GAN-only setting
    with pytest.raises(CheckpointMismatchError, match=r"`generator\.convs\.8\.conv\.weight`.*out_size=64"):
        load_generator(gpen_file, out_size=128)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(gpen_file.read_bytes()[:2000])
    with pytest.raises(UnreadableCheckpointError, match="truncated.pth"):
        load_generator(truncated)
    state = tiny().state_dict()
    del state["final_linear.0.weight"]  # a file cut short of a key
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointMismatchError, match=r"`final_linear\.0\.weight`: .*missing from the file"):
        load_generator(tmp_path / "partial.pth")


def test_forward_contract_latent_and_knob():
    model = tiny()
    with torch.no_grad():
        image, rgbs, w = model(X, return_latents=True)
        assert image.shape == X.shape and rgbs == [] and w.shape == (2, 16)
        encoded, features, rgbs = model.encode(X)
        assert rgbs == []
        assert [f.shape[-1] for f in features] == [4, 8, 16, 32, 64]
        torch.testing.assert_close(model.decode(encoded, features, randomize_noise=True), image, rtol=0, atol=0)
        torch.testing.assert_close(model(X, latent=w)[0], image, rtol=0, atol=0)
        assert not torch.allclose(model(X, latent=torch.zeros_like(w))[0], image)
        plain = image  # built with the default strength; 1.0 given explicitly is the plain model, bit for bit
        assert torch.equal(tiny(sft_strength=1.0)(X)[0], plain)
        weaker = tiny(sft_strength=0.5)(X)[0]
        assert not torch.allclose(weaker, plain)
    with pytest.raises(ValueError, match=r"single w .*\(B, 16\)"):
        model.decode(torch.zeros(2, 10, 16), features)
    with pytest.raises(ValueError, match=r"\(B, 3, 64, 64\)"):
        model(torch.zeros(1, 3, 32, 32))


def test_no_randomness_in_training_mode():
    model = tiny().train()
    torch.testing.assert_close(model(X)[0], model(X)[0], rtol=0, atol=0)


def test_gradients_reach_the_encoder_and_the_latent():
    model = tiny().train()
    image, _, w = model(X, return_latents=True)
    (grad_w,) = torch.autograd.grad(image.square().sum(), w, retain_graph=True)
    assert grad_w.shape == w.shape and grad_w.abs().sum() > 0
    image.square().mean().backward()
    assert model.ecd1[0][1].weight.grad.abs().sum() > 0


def test_discriminator_layout_and_whole_batch_stddev():
    with torch.device("meta"):
        net = GPENDiscriminator(512)
    assert sum(p.numel() for p in net.parameters()) == 28_982_849
    keys = net.state_dict()
    assert "convs.1.conv2.0.kernel" in keys and "convs.1.skip.1.weight" in keys and "final_linear.1.bias" in keys
    small = GPENDiscriminator(32, narrow=1 / 16)
    assert small(torch.randn(6, 3, 32, 32)).shape == (6, 1)  # any batch size: one group


def test_face_template_follows_the_generator():
    gpen = face_template(tiny())  # at the generator's size, 64
    np.testing.assert_allclose(gpen[0], np.array([202.0, 242.9]) / 8, rtol=1e-6)
    assert gpen.shape == (5, 2)
    ffhq = face_template(GFPGANv1Clean(out_size=32, num_style_feat=16, narrow=0.0625, num_mlp=1), size=512)
    np.testing.assert_allclose(ffhq, np.array(FFHQ_TEMPLATE_512), rtol=1e-6)
    eye_distance = np.linalg.norm(face_template(tiny(), 512)[1] - face_template(tiny(), 512)[0])
    assert 106 < eye_distance < 108  # GPEN's face is smaller in the frame than FFHQ's (126 px)
