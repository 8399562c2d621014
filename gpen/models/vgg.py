"""VGG19 feature extractor for the perceptual and style losses (GFP-GAN §3.4, docs/training.md).

Built on torchvision's VGG19 so the ImageNet weights file torchvision publishes
(`vgg19-dcbb9e9d.pth`) loads unchanged through `gpen.models.loading.load_vgg19`. Features are taken
*before* the ReLU (conv outputs), as the GFP-GAN perceptual loss does, and the trunk is cut after the
deepest requested layer so unused convolutions cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

#: torchvision's VGG19 layer table: conv widths, "M" = 2x2 max pool.
VGG19_CONFIG = cfgs["E"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_names() -> list[str]:
    """Name every module of torchvision's VGG19 `features` trunk in order: conv1_1, relu1_1, ..., pool5."""
    names, block, index = [], 1, 1
    for entry in VGG19_CONFIG:
        if entry == "M":
            names.append(f"pool{block}")
            block, index = block + 1, 1
        else:  # a conv followed by its ReLU
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            index += 1
    return names


def vgg19_trunk(depth: int) -> nn.Sequential:
    """The first `depth` modules of torchvision's VGG19 trunk, with torchvision's module indices.

    Built from torchvision's own layer table rather than `vgg19()`, which would also allocate and
    initialise the 120M-parameter classifier and the layers past `depth` only to throw them away.
    """
    config, count = [], 0
    for entry in VGG19_CONFIG:
        if count >= depth:
            break
        config.append(entry)
        count += 1 if entry == "M" else 2
    return make_layers(config)[:depth]


class VGGFeatureExtractor(nn.Module):
    """Return a dict {layer name: feature map} of VGG19 for an image batch.

    Args:
        layer_names: which layers to return, e.g. ("conv1_2", "conv2_2", "conv3_4", "conv4_4",
            "conv5_4") — the pre-ReLU features the GFP-GAN perceptual loss uses.
        use_input_norm: normalise the input with the ImageNet mean and std.
        range_norm: the input is in [-1, 1]; map it to [0, 1] first.
        requires_grad: train the VGG weights (False: frozen, the usual loss setting).
    """

    def __init__(self, layer_names: Sequence[str], use_input_norm: bool = True, range_norm: bool = True,
                 requires_grad: bool = False):
        super().__init__()
        all_names = vgg19_layer_names()
        unknown = [name for name in layer_names if name not in all_names]
        if not layer_names or unknown:
            raise ValueError(f"VGGFeatureExtractor: unknown layer names {unknown or list(layer_names)}; "
                             f"valid names are {all_names}")
        self.layer_names = list(layer_names)
        depth = max(all_names.index(name) for name in layer_names) + 1
        self.features = vgg19_trunk(depth)  # torchvision's indices, so `features.N.weight` keys match
        for module in self.features:
            if isinstance(module, nn.ReLU):
                # torchvision's ReLUs are in-place and would overwrite the pre-ReLU features we return.
                module.inplace = False
        self._names = all_names[:depth]
        self.use_input_norm = use_input_norm
        self.range_norm = range_norm
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        # VGG19's trunk has no dropout or batch norm, so train/eval mode does not change its output.
        self.requires_grad_(requires_grad)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.range_norm:
            x = (x + 1) / 2
        if self.use_input_norm:
            x = (x - self.mean) / self.std
        wanted = set(self.layer_names)
        out = {}
        for name, module in zip(self._names, self.features):
            x = module(x)
            if name in wanted:
                out[name] = x  # (B, C_layer, H / 2^pools, W / 2^pools)
        return out
