"""The README's picture of the demo: LQ, output and GT rows of held-out validation faces, enlarged.

    python experiments/demo_grid.py outputs/train/<run> -o docs/images/demo_samples.png [--faces 12 --zoom 2]

Reads `<run>/checkpoints/generator_ema.pth` and `<run>/.hydra/config.yaml` (the run's own validation set:
the same faces and LQ images as its `samples/` grids and `val/*` metrics), and writes one image with a
row of LQ inputs, a row of the EMA generator's outputs and a row of GT faces, pixels enlarged `--zoom`
times without interpolation so the 64 px faces stay what they are.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torchvision.utils import make_grid, save_image

from gpen.models.loading import load_generator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--faces", type=int, default=12)
    parser.add_argument("--zoom", type=int, default=2)
    args = parser.parse_args()
    cfg = OmegaConf.load(args.run / ".hydra" / "config.yaml")
    dataset = instantiate(cfg.data.val_dataset)
    items = [dataset[i] for i in range(min(args.faces, len(dataset)))]
    gt = torch.stack([torch.as_tensor(item["gt"]) for item in items])
    lq = torch.stack([torch.as_tensor(item["lq"]) for item in items])
    generator = load_generator(args.run / "checkpoints" / "generator_ema.pth")
    with torch.no_grad():
        output = generator(lq)[0]
    rows = torch.cat([lq, output, gt]).add(1).div(2).clamp(0, 1)
    rows = F.interpolate(rows, scale_factor=args.zoom, mode="nearest")
    save_image(make_grid(rows, nrow=len(items), padding=2, pad_value=1.0), args.output)
    print(f"Wrote {args.output}: rows LQ | output | GT, {len(items)} validation faces of {args.run}")


if __name__ == "__main__":
    main()
