"""Quality of a 64 px prior on the built-in synthetic faces: SWD to real faces and a sample grid.

    python experiments/prior_quality.py --prior gpen_prior_synthetic64_v1.pth --grid docs/images/prior.png
    python experiments/prior_quality.py --random                  # the same network, randomly initialised

Samples `--num` faces from fixed latents with the prior's (EMA) StyleGAN2 in eval mode, renders the same
number of held-out synthetic faces (the validation ids, disjoint from training), and prints the sliced
Wasserstein distance (gpen.metrics.swd, ×1e3) between them, next to the distance between two disjoint
sets of real faces (the floor a perfect generator would reach). Sizes follow configs/scale/demo.yaml.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch
from torchvision.utils import make_grid, save_image

from gpen.data.items import to_tensor
from gpen.data.synthetic import render_face
from gpen.metrics.swd import sliced_wasserstein_distance
from gpen.models.loading import load_stylegan2_prior
from gpen.models.prior import UnconditionalStyleGAN2
from gpen.models.stylegan2_v1 import StyleGAN2Generator
from gpen.utils.machine import describe_machine

VALIDATION_FIRST_ID = 1_000_000  # configs/data/synthetic.yaml: val_dataset.first_id
DEMO_SIZES = {"out_size": 64, "num_style_feat": 128, "num_mlp": 2, "channel_multiplier": 1, "narrow": 0.125}


def real_faces(first_id: int, num: int) -> torch.Tensor:
    return torch.stack([to_tensor(render_face(first_id + i, 64)[0]) for i in range(num)])


@torch.no_grad()
def generated_faces(prior: UnconditionalStyleGAN2, num: int, seed: int = 0) -> torch.Tensor:
    z = prior.sample_z(num, torch.Generator().manual_seed(seed))
    return prior(num, z=z)[0].clamp(-1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prior", default="gpen_prior_synthetic64_v1.pth", help="prior file (params_ema)")
    parser.add_argument("--random", action="store_true", help="score the randomly initialised network instead")
    parser.add_argument("--num", type=int, default=256, help="faces per set")
    parser.add_argument("--grid", default=None, help="write a grid of the first 32 samples here (.png)")
    args = parser.parse_args()
    torch.manual_seed(0)
    prior = UnconditionalStyleGAN2(StyleGAN2Generator(**DEMO_SIZES)).eval()
    if not args.random:
        load_stylegan2_prior(prior, args.prior)
    fake = generated_faces(prior, args.num)
    real = real_faces(VALIDATION_FIRST_ID, args.num)
    floor = sliced_wasserstein_distance(real_faces(0, args.num), real)["swd"]
    result = sliced_wasserstein_distance(fake, real)
    print(describe_machine())
    print(f"prior: {'random init' if args.random else args.prior}; {args.num} samples vs {args.num} held-out faces")
    print("SWD x1e3: " + ", ".join(f"{k} {v:.1f}" for k, v in result.items()) + f"; real vs real: {floor:.1f}")
    if args.grid:
        save_image(make_grid((fake[:32] + 1) / 2, nrow=8, padding=2), args.grid)
        print(f"grid: {args.grid}")


if __name__ == "__main__":
    main()
