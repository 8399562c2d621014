"""Parity of gpen's generators with the official GFP-GAN code, both architectures (docs/architecture.md).

For each network: build the official one, copy its state dict into ours with
`load_state_dict(strict=True)` (which also proves the parameter names and shapes match), run both in
eval mode on the same input with the stored noise maps (`randomize_noise=False`; ours: eval mode) and
print the max abs difference of the outputs (float32, CPU). Target: <= 1e-4 at 512×512.

Checked here (clean architecture, GFPGANv1.2–v1.4): StyleGAN2GeneratorClean (cm2, z and W+ input) and
GFPGANv1Clean in the v1.3/v1.4 configuration (cm2, CS-SFT, different_w, input_is_latent), plus plain
SFT at cm1. The original architecture (GFPGANv1, StyleGAN2, discriminators) is checked by
`check_official_parity_v1.py`, which this script runs too.

The official code is not a dependency of gpen. Install it in a scratch folder and point at it:

    pip install --no-deps --target /tmp/ref_clean gfpgan==1.3.8 basicsr==1.4.2
    PYTHONPATH=/tmp/ref_clean python experiments/check_official_parity.py [--size 512]

BasicSR's `archs/arch_util.py` imports compiled deformable-conv ops and `distutils`; the clean archs
use only its `default_init_weights`, so a stand-in module provides that (initialisation does not
matter here: the official weights are copied into ours).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import types
from pathlib import Path

import torch
from torch import nn

from gpen.models.gfpgan_clean import GFPGANv1Clean
from gpen.models.stylegan2_clean import StyleGAN2GeneratorClean


def load_v1_checker() -> types.ModuleType:
    """The original-architecture parity script next to this file, imported as a module."""
    path = Path(__file__).with_name("check_official_parity_v1.py")
    spec = importlib.util.spec_from_file_location("check_official_parity_v1", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def import_official(v1_checker: types.ModuleType) -> dict[str, types.ModuleType]:
    """The official arch modules from PYTHONPATH: stylegan2 / gfpganv1 (original), *_clean (clean)."""
    # registers basicsr / gfpgan as bare namespace packages and imports the original archs
    stylegan2_arch, gfpganv1_arch = v1_checker.import_official()
    arch_util = types.ModuleType("basicsr.archs.arch_util")

    @torch.no_grad()
    def default_init_weights(module_list, scale=1, bias_fill=0, **kwargs):
        for module in module_list if isinstance(module_list, list) else [module_list]:
            for m in module.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, **kwargs)
                    m.weight.mul_(scale)
                    if m.bias is not None:
                        m.bias.fill_(bias_fill)

    arch_util.default_init_weights = default_init_weights
    sys.modules["basicsr.archs.arch_util"] = arch_util
    return {"stylegan2": stylegan2_arch, "gfpganv1": gfpganv1_arch,
            "stylegan2_clean": importlib.import_module("gfpgan.archs.stylegan2_clean_arch"),
            "gfpganv1_clean": importlib.import_module("gfpgan.archs.gfpganv1_clean_arch")}


@torch.no_grad()
def check_clean(stylegan2_clean_arch, gfpganv1_clean_arch, v1_checker, size: int) -> dict[str, float]:
    # from the original-architecture checker: copy weights (zero-initialised ones made non-zero so
    # they count, strict loading, eval mode) and the max abs difference
    copy_weights, max_diff = v1_checker._copy, v1_checker.max_diff
    results = {}
    official = stylegan2_clean_arch.StyleGAN2GeneratorClean(size, num_style_feat=512, channel_multiplier=2)
    ours = StyleGAN2GeneratorClean(size, num_style_feat=512, channel_multiplier=2)
    copy_weights(official, ours)
    z = torch.randn(2, 512)
    results[f"StyleGAN2GeneratorClean {size} cm2 (z)"] = max_diff(
        official([z], randomize_noise=False)[0], ours([z], randomize_noise=False)[0])
    w_plus = torch.randn(2, ours.num_latent, 512)
    results[f"StyleGAN2GeneratorClean {size} cm2 (W+)"] = max_diff(
        official([w_plus], input_is_latent=True, randomize_noise=False)[0],
        ours([w_plus], input_is_latent=True)[0])

    configs = {"v1.3/v1.4 config (cm2, CS-SFT)": {"channel_multiplier": 2, "sft_half": True},
               "cm1, plain SFT": {"channel_multiplier": 1, "sft_half": False}}
    for label, config in configs.items():
        kwargs = dict(out_size=size, num_style_feat=512, fix_decoder=False, num_mlp=8, input_is_latent=True,
                      different_w=True, narrow=1, **config)
        official = gfpganv1_clean_arch.GFPGANv1Clean(**kwargs, decoder_load_path=None)
        ours = GFPGANv1Clean(**kwargs)
        name = f"GFPGANv1Clean {size} {label}"
        results |= v1_checker.compare_gfpgan(official, ours, name, size)
        x = torch.rand(1, 3, size, size) * 2 - 1
        with torch.enable_grad():  # with autograd recording our modulated convs take the training path
            results[f"{name}: image, autograd"] = max_diff(official(x, randomize_noise=False)[0], ours(x)[0].detach())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--clean-only", action="store_true", help="skip the original-architecture checks")
    args = parser.parse_args()
    torch.manual_seed(0)
    v1_checker = load_v1_checker()
    official = import_official(v1_checker)
    results = check_clean(official["stylegan2_clean"], official["gfpganv1_clean"], v1_checker, args.size)
    if not args.clean_only:
        results |= v1_checker.check_generators(official["stylegan2"], official["gfpganv1"], args.size)
        results |= v1_checker.check_discriminators(official["stylegan2"], official["gfpganv1"], args.size)
    width = max(map(len, results))
    for name, diff in results.items():
        print(f"{name:<{width}}  max|diff| = {diff:.3e}  {'OK' if diff <= 1e-4 else 'FAIL'}")
    print(f"torch {torch.__version__}, float32, CPU, {torch.get_num_threads()} threads, tolerance 1e-4")
    sys.exit(0 if all(diff <= 1e-4 for diff in results.values()) else 1)


if __name__ == "__main__":
    main()
