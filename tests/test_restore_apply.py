"""restore_aligned and its parts: K = 0 is the feed-forward model, refinement, region blend, grain keeping."""

import pytest
import torch

from gpen.data.regions import REGION_IDS, REGION_NAMES
from gpen.data.synthetic import render_face
from gpen.metrics.texture import GrainFidelity
from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.models.gfpgan_v1 import GFPGANv1
from gpen.models.gpen import GPENGenerator
from gpen.restore import RestoreSettings, restore_aligned, texture_controls
from gpen.restore.blend import keep_grain, region_blend, weight_map
from gpen.restore.filters import gaussian_blur, high_pass
from gpen.restore.latent import DegradationOperator, encode_for_refinement, refine_latent
from gpen.restore.masks import FaceParser, masks_from_labels, template_masks
from gpen.utils.pretrained import MissingWeightsError

TINY = {"out_size": 32, "num_style_feat": 32, "narrow": 0.125, "channel_multiplier": 1}


def _generator(cls):
    torch.manual_seed(0)
    if cls is GPENGenerator:  # GPEN: a single w through its mapping MLP; encoder maps as noise
        generator = GPENGenerator(out_size=32, style_dim=32, n_mlp=1, channel_multiplier=1, narrow=0.125).eval()
        for module in generator.modules():  # the concatenated maps start at strength 0: give them weight
            if type(module).__name__ == "NoiseConcat":
                module.weight.data.fill_(0.5)
        return generator
    return cls(**TINY).eval()


def _faces(n=2, size=32):
    images = [torch.from_numpy(render_face(i, size)[0]).permute(2, 0, 1) for i in range(n)]
    return torch.stack(images).float() * 2 - 1


@pytest.mark.parametrize("cls", [GFPGANv1Clean, GFPGANv1, GPENGenerator])
def test_zero_steps_is_bitwise_the_feed_forward_model(cls):
    generator, faces = _generator(cls), _faces()
    with torch.no_grad():
        expected = generator(faces)[0]
        assert torch.equal(restore_aligned(generator, faces, RestoreSettings()), expected)
        refined = restore_aligned(generator, faces, RestoreSettings(latent_steps=2, latent_step=0.05))
    assert refined.shape == expected.shape and not torch.equal(refined, expected)


@pytest.mark.parametrize("cls", [GFPGANv1Clean, GFPGANv1, GPENGenerator])
def test_refinement_reduces_the_data_term(cls):
    generator, faces = _generator(cls), _faces()
    latent, decode = encode_for_refinement(generator, faces)
    _, history = refine_latent(decode, latent, faces, DegradationOperator(0.5), steps=8, step=0.05)
    assert history[-1].mean() < history[0].mean()
    assert history[0].shape == (2,)  # batched: one value per face


def test_mean_latent_start_and_fidelity_knob():
    generator, faces = _generator(GFPGANv1Clean), _faces(1)
    with torch.no_grad():
        first = restore_aligned(generator, faces, RestoreSettings(latent_start="mean", latent_steps=1))
        again = restore_aligned(generator, faces, RestoreSettings(latent_start="mean", latent_steps=1))
        assert torch.equal(first, again)  # the mean latent is seeded
        prior_only = restore_aligned(generator, faces, RestoreSettings(sft_strength=0.0))
    assert generator.sft_strength == 1.0  # restored after the call
    assert not torch.equal(prior_only, generator(faces)[0])


def test_degradation_operator_zero_is_identity_and_blurs_more_with_strength():
    x = _faces(1, 64)
    assert torch.equal(DegradationOperator(0.0)(x), x)
    hf = [high_pass(DegradationOperator(s)(x), 1.0).abs().mean() for s in (0.25, 1.0)]
    assert hf[1] < hf[0] < high_pass(x, 1.0).abs().mean()


def test_region_blend_endpoints_and_extrapolation():
    inputs, restored = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    assert torch.equal(region_blend(inputs, restored, torch.zeros(1, 1, 16, 16)), inputs)
    assert torch.allclose(region_blend(inputs, restored, torch.ones(1, 1, 16, 16)), restored)
    beyond = region_blend(inputs, restored, torch.full((1, 1, 16, 16), 1.5))
    assert torch.allclose(beyond, restored + 0.5 * (restored - inputs))


def test_weight_map_from_labels_and_feathering_is_continuous():
    regions = torch.full((1, 32, 32), REGION_IDS["skin"])
    regions[:, :, 16:] = REGION_IDS["eyes"]
    weights = {"skin": 0.0, "eyes": 1.0}
    hard = weight_map(masks_from_labels(regions), weights)
    assert hard[0, 0, 5, 5] == 0.0 and hard[0, 0, 5, 20] == 1.0
    soft = weight_map(masks_from_labels(regions), weights, feather=2.0)[0, 0, 10]
    steps = soft[1:] - soft[:-1]
    assert (steps >= -1e-6).all() and steps.abs().max() < 0.3  # monotone ramp, no jump
    assert 0.0 < soft[15] < 1.0


def test_template_masks_partition_unity_and_follow_landmarks():
    masks = template_masks(64, batch=2)
    assert masks.shape == (2, len(REGION_NAMES), 64, 64)
    assert torch.allclose(masks.sum(1), torch.ones(2, 64, 64), atol=1e-5)
    eye = masks[0, REGION_IDS["eyes"]]
    assert eye[30, 24] > 0.9 and eye[5, 5] < 0.01  # left eye of the template at (24.1, 30.0) at 64 px
    from gpen.data.components import TEMPLATE_5POINT_512
    shifted = torch.as_tensor(TEMPLATE_5POINT_512 / 8 + [6.0, 0.0])[None]  # the face 6 px to the right
    moved = template_masks(64, landmarks=shifted)[0, REGION_IDS["eyes"]]
    assert moved[30, 30] > 0.9 and torch.allclose(moved[:, 6:], eye[:, :-6], atol=1e-4)


def test_texture_controls_on_any_restorer_and_grain_keeping_restores_input_grain():
    torch.manual_seed(0)
    clean = _faces(2, 64)
    grainy = clean + 0.08 * torch.randn_like(clean)  # the input: a face with film grain
    smooth = gaussian_blur(clean, 1.5)  # a restorer that removed grain and pores
    assert texture_controls(grainy, smooth, RestoreSettings()) is smooth  # defaults: untouched
    kept = texture_controls(grainy, smooth, RestoreSettings(keep_grain=True, grain_strength=1.0))
    std = [high_pass(x, 1.5).std().item() for x in (grainy, smooth, kept)]
    assert abs(std[2] - std[0]) < 0.1 * std[0] and std[1] < 0.5 * std[0]
    grain = GrainFidelity()  # 0 = the input's grain statistics survived
    lost, back = (grain.score((x + 1) / 2, (grainy + 1) / 2).mean() for x in (smooth, kept))
    assert back < 0.1 < lost
    assert torch.allclose(keep_grain(grainy, smooth, 0.0), smooth)
    regions = torch.full((2, 64, 64), REGION_IDS["skin"])
    out = texture_controls(grainy, smooth, RestoreSettings(region_weights={"skin": 0.0}, feather=0), regions=regions)
    assert torch.allclose(out, grainy, atol=1e-6)


def test_restore_aligned_with_regions_and_template_masks():
    generator, faces = _generator(GFPGANv1Clean), _faces()
    settings = RestoreSettings(region_weights={"eyes": 1.3, "other": 0.0}, feather=0)
    regions = torch.stack([torch.from_numpy(render_face(i, 32)[1]) for i in range(2)])
    with torch.no_grad():
        out = restore_aligned(generator, faces, settings, regions=regions)
        assert torch.allclose(out[:, :, regions[0] == REGION_IDS["other"]][:1],
                              faces[:1, :, regions[0] == REGION_IDS["other"]], atol=1e-6)
        assert restore_aligned(generator, faces, settings).shape == faces.shape  # template masks


def test_missing_parser_weights_is_one_clear_error(tmp_path):
    settings = RestoreSettings(region_weights={"skin": 0.5}, parser_path=str(tmp_path / "parsing_bisenet.pth"))
    with pytest.raises(MissingWeightsError, match="parsing_bisenet.pth.*restore.parser_path=null"):
        restore_aligned(_generator(GFPGANv1Clean), _faces(1), settings)


def test_face_parser_maps_celebamask_classes_to_our_regions():
    class Fixed(torch.nn.Module):  # a stand-in network that says "upper lip" everywhere
        def forward(self, x):
            logits = torch.full((x.shape[0], 19, x.shape[2], x.shape[3]), -20.0)
            logits[:, 12] = 20.0  # u_lip in BiSeNet's order
            return (logits,)

    masks = FaceParser(Fixed(), "bisenet")(torch.zeros(1, 3, 32, 32))
    assert masks.shape == (1, len(REGION_NAMES), 32, 32)
    assert torch.allclose(masks[:, REGION_IDS["mouth"]], torch.ones(1, 32, 32), atol=1e-4)


class ToyGenerator(torch.nn.Module):
    """The forward(x, latent=, return_latents=) contract without encode/decode (as GPEN's generator)."""

    def __init__(self, size=16, features=8):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = torch.nn.Linear(3, features)
        self.decoder = torch.nn.Linear(features, 3 * size * size)
        self.size = size

    def forward(self, x, latent=None, return_latents=False):
        latent = self.encoder(x.mean((2, 3))) if latent is None else latent  # (B, F)
        image = torch.tanh(self.decoder(latent)).view(-1, 3, self.size, self.size)
        return (image, None, latent) if return_latents else (image, None)

    def mean_latent(self, samples):
        return torch.randn(samples, self.encoder.out_features).mean(0, keepdim=True)


def test_generic_forward_contract_refines_and_zero_steps_is_feed_forward():
    generator = ToyGenerator()
    faces = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(restore_aligned(generator, faces, RestoreSettings()), generator(faces)[0])
    latent, decode = encode_for_refinement(generator, faces)
    assert latent.shape == (3, 8)
    _, history = refine_latent(decode, latent, faces, DegradationOperator(0.0), steps=20, step=0.1, decay=0.9)
    assert (history[-1] < history[0]).all()
    mean_start = restore_aligned(generator, faces, RestoreSettings(latent_start="mean", latent_steps=2))
    assert mean_start.shape == faces.shape
    with pytest.raises(ValueError, match="fidelity knob"):
        restore_aligned(generator, faces, RestoreSettings(sft_strength=0.5))


@pytest.mark.gpu
def test_refinement_runs_batched_on_the_gpu():
    generator, faces = _generator(GFPGANv1Clean), _faces(4)
    settings = RestoreSettings(latent_steps=3, latent_step=0.05, region_weights={"skin": 0.8}, keep_grain=True)
    with torch.no_grad():
        on_cpu = restore_aligned(generator, faces, settings)
        on_gpu = restore_aligned(generator.cuda(), faces.cuda(), settings)
    assert on_gpu.is_cuda and torch.allclose(on_gpu.cpu(), on_cpu, atol=1e-3)


@pytest.mark.slow
def test_face_parser_loads_facexlib_bisenet_weights_by_path(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "parsing_bisenet.pth"
    torch.save(FaceParser.build_network("bisenet").state_dict(), path)  # random weights, the real network
    parser = FaceParser.load(path, "bisenet")
    masks = parser(_faces(1, 32))
    assert masks.shape == (1, len(REGION_NAMES), 32, 32)
    assert torch.allclose(masks.sum(1), torch.ones(1, 32, 32), atol=1e-4)
