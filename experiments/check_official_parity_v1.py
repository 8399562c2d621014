"""Parity of the original-architecture networks with the official GFP-GAN / BasicSR code
(docs/architecture.md).

Builds each official network, copies its state dict into ours with `load_state_dict(strict=True)`
(which also proves the parameter names match), runs both in eval mode on the same input with the
stored noise (`randomize_noise=False`) and prints the max abs difference (float32, CPU).

Checked: GFPGANv1 (paper config: 512, cm1, CS-SFT, different_w, input_is_latent; also cm2 with plain
SFT, and one w through the mapping MLP), the StyleGAN2 generator alone (z through the mapping MLP),
StyleGAN2Discriminator (512, cm1) and FacialComponentDiscriminator (features included).

The official code is not a dependency of gpen. Install it in a scratch folder and point at it:

    pip install --no-deps --target /tmp/ref_v1 gfpgan==1.3.8 basicsr==1.4.2
    PYTHONPATH=/tmp/ref_v1 python experiments/check_official_parity_v1.py [--size 512]

Only the arch files are imported (BasicSR's package __init__ pulls in training code and compiled
ops). BasicSR 1.4.2 has no CPU path for `fused_leaky_relu` without its CUDA extension, so it is
replaced by the CPU formula of the reference StyleGAN2 port it derives from (rosinality):
`leaky_relu(x + bias, 0.2) * sqrt(2)`; `upfirdn2d` uses BasicSR's own `upfirdn2d_native` on CPU.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import types

import torch
import torchvision
from torch.nn import functional as F

from gpen.models.discriminators import FacialComponentDiscriminator, StyleGAN2Discriminator
from gpen.models.gfpgan_v1 import GFPGANv1
from gpen.models.stylegan2_v1 import StyleGAN2Generator


def _namespace_package(name: str, folder: str) -> None:
    """Register `name` as a package backed by `folder` without running its __init__."""
    module = types.ModuleType(name)
    module.__path__ = [folder]
    sys.modules[name] = module


def import_official() -> tuple[types.ModuleType, types.ModuleType]:
    """Return (basicsr.archs.stylegan2_arch, gfpgan.archs.gfpganv1_arch) from PYTHONPATH."""
    sys.modules.setdefault("torchvision.transforms.functional_tensor", torchvision.transforms._functional_tensor)
    spec = importlib.util.find_spec("basicsr")
    if spec is None or importlib.util.find_spec("gfpgan") is None:
        sys.exit("official code not importable: pip install --no-deps --target /tmp/ref_v1 "
                 "gfpgan==1.3.8 basicsr==1.4.2 and set PYTHONPATH=/tmp/ref_v1")
    root = spec.submodule_search_locations[0]
    gfpgan_root = importlib.util.find_spec("gfpgan").submodule_search_locations[0]
    for name, folder in [("basicsr", root), ("basicsr.archs", f"{root}/archs"), ("basicsr.ops", f"{root}/ops"),
                         ("basicsr.utils", f"{root}/utils"), ("gfpgan", gfpgan_root),
                         ("gfpgan.archs", f"{gfpgan_root}/archs")]:
        _namespace_package(name, folder)
    fused = importlib.import_module("basicsr.ops.fused_act")

    def cpu_fused_leaky_relu(x, bias, negative_slope=0.2, scale=2**0.5):
        if bias is not None:
            x = x + bias.view(1, bias.shape[0], *([1] * (x.ndim - 2)))
        return F.leaky_relu(x, negative_slope=negative_slope) * scale

    fused.fused_leaky_relu = cpu_fused_leaky_relu
    sys.modules["basicsr.ops.fused_act.fused_act"].fused_leaky_relu = cpu_fused_leaky_relu
    stylegan2_arch = importlib.import_module("basicsr.archs.stylegan2_arch")
    gfpganv1_arch = importlib.import_module("gfpgan.archs.gfpganv1_arch")
    return stylegan2_arch, gfpganv1_arch


def _copy(official: torch.nn.Module, ours: torch.nn.Module) -> None:
    _randomise_zero_inits(official)
    ours.load_state_dict(official.state_dict(), strict=True)
    official.eval()
    ours.eval()


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@torch.no_grad()
def compare_gfpgan(official: torch.nn.Module, ours: torch.nn.Module, name: str, size: int) -> dict[str, float]:
    """Copy the official weights into ours, run both (stored noise) on one input: image and pyramid diffs."""
    _copy(official, ours)
    x = torch.rand(1, 3, size, size) * 2 - 1
    o_img, o_rgbs = official(x, return_rgb=True, randomize_noise=False)
    g_img, g_rgbs = ours(x, return_rgb=True)  # eval mode: stored noise
    return {f"{name}: image": max_diff(o_img, g_img),
            f"{name}: pyramid": max(max_diff(a, b) for a, b in zip(o_rgbs, g_rgbs))}


def check_discriminators(stylegan2_arch, gfpganv1_arch, size: int) -> dict[str, float]:
    results = {}
    official = stylegan2_arch.StyleGAN2Discriminator(size, channel_multiplier=1)
    ours = StyleGAN2Discriminator(size, channel_multiplier=1)
    _copy(official, ours)
    x = torch.randn(4, 3, size, size)
    results[f"StyleGAN2Discriminator {size} cm1"] = max_diff(official(x), ours(x))

    official = gfpganv1_arch.FacialComponentDiscriminator()
    ours = FacialComponentDiscriminator()
    _copy(official, ours)
    x = torch.randn(2, 3, 80, 80)
    (o_out, o_feats), (g_out, g_feats) = official(x, return_feats=True), ours(x, return_feats=True)
    results["FacialComponentDiscriminator logits"] = max_diff(o_out, g_out)
    results["FacialComponentDiscriminator feats"] = max(max_diff(a, b) for a, b in zip(o_feats, g_feats))
    return results


@torch.no_grad()
def check_generators(stylegan2_arch, gfpganv1_arch, size: int) -> dict[str, float]:
    results = {}
    official = stylegan2_arch.StyleGAN2Generator(size, num_style_feat=512, channel_multiplier=1)
    ours = StyleGAN2Generator(size, num_style_feat=512, channel_multiplier=1)
    _copy(official, ours)
    z = torch.randn(2, 512)
    o_img, _ = official([z], randomize_noise=False)
    g_img, _ = ours([z], randomize_noise=False)
    results[f"StyleGAN2Generator {size} cm1"] = max_diff(o_img, g_img)

    configs = {"cm1 paper config (CS-SFT, W+)": dict(channel_multiplier=1, sft_half=True, different_w=True),
               "cm2 plain SFT": dict(channel_multiplier=2, sft_half=False, different_w=True),
               "cm1 one w through the MLP": dict(channel_multiplier=1, sft_half=True, different_w=False,
                                                 input_is_latent=False)}
    for label, config in configs.items():
        kwargs = dict(out_size=size, num_style_feat=512, fix_decoder=True, num_mlp=8, input_is_latent=True,
                      narrow=1) | config
        official = gfpganv1_arch.GFPGANv1(**kwargs, decoder_load_path=None)
        results |= compare_gfpgan(official, GFPGANv1(**kwargs), f"GFPGANv1 {size} {label}", size)
        del official
    return results


def check_gradients(gfpganv1_arch, size: int) -> dict[str, float]:
    """Training step (stored noise for comparability): max abs diff of every trainable parameter's grad."""
    kwargs = dict(out_size=size, num_style_feat=512, channel_multiplier=1, fix_decoder=True, num_mlp=8,
                  input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    official = gfpganv1_arch.GFPGANv1(**kwargs, decoder_load_path=None)
    ours = GFPGANv1(**kwargs)
    _copy(official, ours)
    x = torch.rand(2, 3, size, size) * 2 - 1
    for net in (official, ours):
        net.train()
        image, rgbs = net(x, randomize_noise=False)
        (image.square().mean() + sum(r.abs().mean() for r in rgbs)).backward()
    grads = {n: p.grad for n, p in official.named_parameters() if p.grad is not None}
    ours_grads = {n: p.grad for n, p in ours.named_parameters() if p.grad is not None}
    assert grads.keys() == ours_grads.keys(), "different parameters received gradients"
    worst = max(grads, key=lambda n: max_diff(grads[n], ours_grads[n]) / (grads[n].abs().max().item() + 1e-12))
    return {f"GFPGANv1 {size} training-step grads ({len(grads)} tensors), worst {worst}":
            max_diff(grads[worst], ours_grads[worst])}


def _randomise_zero_inits(net: torch.nn.Module) -> None:
    """Noise strengths and biases start at 0 (or 1): give them values so they are actually compared."""
    gen = torch.Generator().manual_seed(0)
    for name, param in net.named_parameters():
        if name.endswith("bias") or name.endswith(".weight") and param.numel() == 1:
            param.data.add_(0.1 * torch.randn(param.shape, generator=gen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.manual_seed(0)
    stylegan2_arch, gfpganv1_arch = import_official()
    results = check_discriminators(stylegan2_arch, gfpganv1_arch, args.size)
    results |= check_generators(stylegan2_arch, gfpganv1_arch, args.size)
    results |= check_gradients(gfpganv1_arch, min(args.size, 128))
    width = max(map(len, results))
    for name, diff in results.items():
        print(f"{name:<{width}}  max|diff| = {diff:.3e}  {'OK' if diff <= 1e-4 else 'FAIL'}")
    print(f"torch {torch.__version__}, float32, CPU, {torch.get_num_threads()} threads, tolerance 1e-4")


if __name__ == "__main__":
    main()
