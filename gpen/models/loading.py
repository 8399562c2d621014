"""Loading pretrained and trained weights into the gpen networks by path, strictly (DESIGN §2, §7).

Official files (GFPGANv1.pth, GFPGANv1.3/1.4.pth, the StyleGAN2 prior, arcface_resnet18.pth,
torchvision's vgg19-dcbb9e9d.pth) and our own checkpoints load with no key renaming by the user. A
file that does not fit gets one `CheckpointMismatchError` naming the file, the first mismatching key,
both shapes and, where it can be told from the weights, the setting that would fit.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gpen.utils.pretrained import resolve_weights

#: Where each kind of file keeps its state dict, tried in this order (EMA weights first).
STATE_DICT_KEYS = ("params_ema", "params", "state_dict")

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
ARCFACE_FILE = "arcface_resnet18.pth"
ARCFACE_URL = "https://github.com/TencentARC/GFPGAN/releases/download/v0.1.0/arcface_resnet18.pth"
STYLEGAN2_PRIOR_FILE = "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth"
STYLEGAN2_PRIOR_URL = ("https://github.com/TencentARC/GFPGAN/releases/download/v0.1.0/"
                       "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth")


class CheckpointMismatchError(RuntimeError):
    """A weight file does not fit the network: names the file, the key, both shapes and a fix."""


class UnreadableCheckpointError(RuntimeError):
    """A weight file exists but cannot be read as a PyTorch checkpoint."""


def read_checkpoint(path: str | os.PathLike, weights_only: bool = True) -> dict[str, Any]:
    """`torch.load` a checkpoint onto the CPU; a damaged or foreign file gets one clear error."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as error:
        hint = (" It holds Python objects other than tensors; if you trust the file, load it with "
                "weights_only=False." if weights_only else "")
        raise UnreadableCheckpointError(f"Cannot read checkpoint {path}: {error}.{hint}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise UnreadableCheckpointError(f"Cannot read checkpoint {path} (truncated or not a PyTorch "
                                        f"file?): {error}") from None
    if not isinstance(checkpoint, Mapping):
        raise UnreadableCheckpointError(f"Checkpoint {path} holds a {type(checkpoint).__name__}, "
                                        "not a dict of weights")
    return dict(checkpoint)


def unwrap_state_dict(checkpoint: Mapping[str, Any], source: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Return the state dict inside an official/BasicSR file or a bare state dict.

    Looks under `params_ema`, `params`, `state_dict` (in that order) and drops the `module.` prefix
    that DataParallel training leaves on every key.
    """
    state = checkpoint
    for key in STATE_DICT_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            state = checkpoint[key]
            break
    if not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UnreadableCheckpointError(
            f"Checkpoint {source} has no state dict: expected tensors at the top level or under one of "
            f"{list(STATE_DICT_KEYS)}, found keys {sorted(checkpoint)[:8]}")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def first_mismatch(module: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[str, str, str] | None:
    """(key, expected, found) for the first key of `module` that `state` lacks or shapes differently,
    else the first key `state` has that `module` does not; None when every key and shape fits."""
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            return key, f"shape {tuple(tensor.shape)}", "missing from the file"
        if tuple(state[key].shape) != tuple(tensor.shape):
            return key, f"shape {tuple(tensor.shape)}", f"shape {tuple(state[key].shape)}"
    for key, tensor in state.items():
        if key not in expected:
            return key, "no such key in the network", f"shape {tuple(tensor.shape)}"
    return None


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | os.PathLike,
                hint: str | None = None) -> nn.Module:
    """`load_state_dict(strict=True)` after checking keys and shapes, so a mismatch is one clear error."""
    mismatch = first_mismatch(module, state)
    if mismatch is not None:
        key, expected, found = mismatch
        message = (f"Checkpoint {source} does not fit {type(module).__name__}: key `{key}`: the network "
                   f"has {expected}, the file has {found}.")
        if hint:
            message += f" {hint}"
        raise CheckpointMismatchError(message)
    module.load_state_dict(state, strict=True)
    return module


def load_arcface(model: nn.Module, path: str | os.PathLike = ARCFACE_FILE,
                 config_key: str = "loss.identity.arcface_path") -> nn.Module:
    """Load `arcface_resnet18.pth` (or a file with the same layout) into a `ResNetArcFace`, in eval mode."""
    file = resolve_weights(path, what="ArcFace ResNet-18 (identity loss / Deg metric)", config_key=config_key,
                           url=ARCFACE_URL, disable_hint="set the identity loss weight to 0")
    state = unwrap_state_dict(read_checkpoint(file), file)
    return load_strict(model, state, file).eval()


def load_vgg19(extractor: nn.Module, path: str | os.PathLike = VGG19_FILE,
               config_key: str = "loss.perceptual.vgg_path") -> nn.Module:
    """Load torchvision's ImageNet VGG19 file into a `VGGFeatureExtractor` (only its kept trunk layers)."""
    file = resolve_weights(path, what="VGG19 (perceptual loss)", config_key=config_key, url=VGG19_URL,
                           disable_hint="set the perceptual loss weight to 0")
    state = unwrap_state_dict(read_checkpoint(file), file)
    kept = {f"features.{name}" for name, _ in extractor.features.named_parameters()}
    # The file also holds the deeper layers and the classifier; keep exactly what the extractor uses.
    trunk = {k: v for k, v in state.items() if k in kept or not k.startswith(("features.", "classifier."))}
    return load_strict(extractor, trunk, file)
