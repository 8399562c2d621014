"""LPIPS, the learned perceptual distance (Zhang et al., CVPR 2018), as BFR papers report it
(docs/evaluation.md).

Computed by the `lpips` package: VGG-16 trunk with the version 0.1 linear heads by default (AlexNet
selectable), inputs in [-1, 1] (8-bit-rounded RGB in [0, 1] mapped by 2x − 1), full image, no
resize; the reported value is the mean over images, lower is better.

The linear heads ship inside the lpips wheel. The trunk is torchvision's ImageNet network, which the
lpips package would download; here the file (`vgg16-397923af.pth` or `alexnet-owt-7be5be79.pth`) is
resolved through the pretrained-weights cache and copied into lpips's trunk slices instead.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import lpips
import torch
import torchvision
from torch import nn

from gpen.metrics.base import PerImageMetric, quantize_8bit
from gpen.models.loading import load_strict, read_checkpoint, unwrap_state_dict
from gpen.utils.pretrained import resolve_weights
from gpen.utils.validation import check_choice

TRUNK_FILES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}
TRUNK_URLS = {"vgg": "https://download.pytorch.org/models/vgg16-397923af.pth",
              "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"}
TRUNK_BUILDERS = {"vgg": torchvision.models.vgg16, "alex": torchvision.models.alexnet}


def build_lpips(net: str = "vgg", version: str = "0.1") -> lpips.LPIPS:
    """An LPIPS module with the shipped linear heads and a randomly initialised trunk (no download)."""
    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=` argument
        warnings.simplefilter("ignore", UserWarning)
        return lpips.LPIPS(net=net, version=version, pnet_rand=True, verbose=False).eval()


def load_lpips_trunk(model: lpips.LPIPS, net: str, path: str | Path, config_key: str) -> lpips.LPIPS:
    """Copy torchvision's ImageNet trunk file into the trunk slices of an lpips module."""
    file = resolve_weights(path, what=f"LPIPS {net} trunk (torchvision ImageNet weights)",
                           config_key=config_key, url=TRUNK_URLS[net],
                           disable_hint="metrics.lpips=null (leave LPIPS out)")
    state = unwrap_state_dict(read_checkpoint(file), file)
    reference = TRUNK_BUILDERS[net](weights=None).features
    # Only the convolutional trunk is used; the classifier weights in the file are not needed.
    load_strict(reference, {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}, file)
    # lpips names each trunk layer by its index in torchvision's `features`, spread over slice1..5.
    for slice_module in model.net.children():
        for index, layer in slice_module.named_children():
            layer.load_state_dict(reference[int(index)].state_dict())
    return model


class LPIPS(PerImageMetric):
    """Mean LPIPS over image pairs; pass `network` to score with an already built module (tests)."""

    name = "LPIPS"

    def __init__(self, net: str = "vgg", version: str = "0.1", trunk_path: str | Path | None = None,
                 network: nn.Module | None = None, config_key: str = "metrics.lpips.trunk_path") -> None:
        super().__init__()
        self.net = check_choice("metrics.lpips.net", net, tuple(TRUNK_FILES))
        self.version = check_choice("metrics.lpips.version", version, ("0.0", "0.1"))
        self.trunk_path = trunk_path or TRUNK_FILES[net]
        self.config_key = config_key
        self.network = network

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        if self.network is None:
            self.network = load_lpips_trunk(build_lpips(self.net, self.version), self.net,
                                            self.trunk_path, self.config_key)
        self.network = self.network.to(self.device).eval()

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        out = quantize_8bit(restored).float() / 127.5 - 1.0  # (B, 3, H, W) in [-1, 1]
        gt = quantize_8bit(reference).float() / 127.5 - 1.0
        return self.network(out, gt).reshape(-1)
