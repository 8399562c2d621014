"""Loading pretrained and trained weights into the gpen networks by path, strictly (docs/architecture.md).

Official files (GFPGANv1.pth, GFPGANv1.3/1.4.pth, GPEN-BFR-256/512/1024/2048.pth and GPEN trainer
checkpoints, the StyleGAN2 prior, arcface_resnet18.pth, torchvision's vgg19-dcbb9e9d.pth) and our own
checkpoints load with no key renaming by the user. A
file that does not fit gets one `CheckpointMismatchError` naming the file, the first mismatching key,
both shapes and, where it can be told from the weights, the setting that would fit.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import pickle
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from gpen.utils.pretrained import resolve_weights

#: Key of the generator spec in our checkpoints: {"arch": "clean" | "v1" | "gpen", "kwargs": {...}}.
SPEC_KEY = "gpen_generator"
#: Prefix of the EMA generator in the `state_dict` of our Lightning checkpoints.
EMA_PREFIX = "generator_ema."

#: Where each kind of file keeps its state dict, tried in this order (EMA weights first); `g_ema`: GPEN's trainer.
STATE_DICT_KEYS = ("params_ema", "g_ema", "params", "state_dict")
#: Architecture name -> (class path, model config to use) for load_generator and its messages.
ARCHITECTURES = {
    "clean": ("gpen.models.gfpgan_clean.GFPGANv1Clean", "model=gfpgan_clean"),
    "v1": ("gpen.models.gfpgan_v1.GFPGANv1", "model=gfpgan_v1"),
    "gpen": ("gpen.models.gpen.GPENGenerator", "model=gpen"),
}
#: The key that tells each architecture's files apart (infer_generator_spec).
ARCH_MARKERS = {"clean": "conv_body_first.weight", "v1": "conv_body_first.0.weight", "gpen": "ecd0.0.0.weight"}

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
ARCFACE_FILE = "arcface_resnet18.pth"
ARCFACE_URL = "https://github.com/TencentARC/GFPGAN/releases/download/v0.1.0/arcface_resnet18.pth"
ADAFACE_FILE = "adaface_ir50_ms1mv2.ckpt"
ADAFACE_URL = "https://github.com/mk-minchul/AdaFace#pretrained-models (adaface_ir50_ms1mv2.ckpt or _webface4m.ckpt)"
#: Prefix of the backbone in the Lightning `state_dict` of the released AdaFace checkpoints (`head.` is the margin head).
ADAFACE_PREFIX = "model."
STYLEGAN2_PRIOR_FILE = "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth"
STYLEGAN2_PRIOR_URL = ("https://github.com/TencentARC/GFPGAN/releases/download/v0.1.0/"
                       "StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth")


class CheckpointMismatchError(RuntimeError):
    """A weight file does not fit the network: names the file, the key, both shapes and a fix."""


class UnreadableCheckpointError(RuntimeError):
    """A weight file exists but cannot be read as a PyTorch checkpoint."""


def _not_a_checkpoint(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be a PyTorch file (neither a zip archive nor a pickle), else None."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith((b"PK", b"\x80")):
        return None
    return f"it is not a PyTorch checkpoint (it starts with {head!r}, not a zip archive or a pickle)"


def read_checkpoint(path: str | os.PathLike, weights_only: bool = True) -> dict[str, Any]:
    """`torch.load` a checkpoint onto the CPU; a damaged or foreign file gets one clear error."""
    foreign = _not_a_checkpoint(path)
    if foreign:
        raise UnreadableCheckpointError(f"Cannot read checkpoint {path}: {foreign}. Point the key at a .pth/.ckpt file.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=weights_only)
    except pickle.UnpicklingError as error:
        hint = (" It holds Python objects other than tensors; if you trust the file, load it with "
                "weights_only=False." if weights_only else "")
        raise UnreadableCheckpointError(f"Cannot read checkpoint {path}: {error}.{hint}") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as error:
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
                 config_key: str = "pretrained.arcface",
                 disable_hint: str = "set loss.terms.identity.weight=0") -> nn.Module:
    """Load `arcface_resnet18.pth` (or a file with the same layout) into a `ResNetArcFace`, in eval mode."""
    file = resolve_weights(path, what="ArcFace ResNet-18 (identity loss / Deg metric)", config_key=config_key,
                           url=ARCFACE_URL, disable_hint=disable_hint)
    state = unwrap_state_dict(read_checkpoint(file), file)
    return load_strict(model, state, file).eval()


def load_adaface(model: nn.Module, path: str | os.PathLike = ADAFACE_FILE,
                 config_key: str = "metrics.adaface.adaface_path",
                 disable_hint: str = "metrics.adaface=null (leave the identity check out)") -> nn.Module:
    """Load a released AdaFace checkpoint (Lightning `state_dict`, backbone under `model.`) or a bare
    backbone state dict into an `AdaFaceIR`, in eval mode."""
    file = resolve_weights(path, what="AdaFace IR-50 (NTIRE 2025 identity check)", config_key=config_key,
                           url=ADAFACE_URL, disable_hint=disable_hint)
    with torch.serialization.safe_globals([argparse.Namespace]):  # Lightning keeps hyper-parameters in one
        state = unwrap_state_dict(read_checkpoint(file), file)
    if any(k.startswith(ADAFACE_PREFIX) for k in state):  # drop the margin head (`head.kernel`, ...)
        state = {k[len(ADAFACE_PREFIX):]: v for k, v in state.items() if k.startswith(ADAFACE_PREFIX)}
    return load_strict(model, state, file).eval()


def load_vgg19(extractor: nn.Module, path: str | os.PathLike = VGG19_FILE,
               config_key: str = "pretrained.vgg19") -> nn.Module:
    """Load torchvision's ImageNet VGG19 file into a `VGGFeatureExtractor` (only its kept trunk layers)."""
    file = resolve_weights(path, what="VGG19 (perceptual loss)", config_key=config_key, url=VGG19_URL,
                           disable_hint="set loss.terms.percep.weight=0")
    state = unwrap_state_dict(read_checkpoint(file), file)
    kept = {f"features.{name}" for name, _ in extractor.features.named_parameters()}
    # The file also holds the deeper layers and the classifier; keep exactly what the extractor uses.
    trunk = {k: v for k, v in state.items() if k in kept or not k.startswith(("features.", "classifier."))}
    return load_strict(extractor, trunk, file)


# --------------------------------------------------------------------------------------------------
# StyleGAN2 prior and whole generators


def infer_stylegan2_kwargs(state: Mapping[str, torch.Tensor], prefix: str = "") -> dict[str, Any]:
    """StyleGAN2 constructor settings read off the shapes of a (clean or original) state dict.

    out_size from the last noise map, narrow from the 4×4 constant (512·narrow channels),
    num_style_feat from a modulation layer, num_mlp from the mapping MLP, channel_multiplier from the
    64-px convs (256·cm·narrow channels; not defined below 64 px, so left out there).
    """
    noises = sorted((k for k in state if k.startswith(f"{prefix}noises.noise")), key=lambda k: int(k.rsplit("noise", 1)[1]))
    if not noises or f"{prefix}constant_input.weight" not in state:
        return {}
    out_size = int(state[noises[-1]].shape[-1])
    narrow = state[f"{prefix}constant_input.weight"].shape[1] / 512
    kwargs = {"out_size": out_size, "narrow": narrow,
              "num_style_feat": int(state[f"{prefix}style_conv1.modulated_conv.modulation.weight"].shape[1]),
              "num_mlp": sum(1 for k in state if k.startswith(f"{prefix}style_mlp.") and k.endswith(".weight"))}
    conv64 = state.get(f"{prefix}style_convs.6.modulated_conv.weight")  # first conv of the 64-px level
    if conv64 is not None:
        multiplier = conv64.shape[1] / (256 * narrow)
        kwargs["channel_multiplier"] = int(multiplier) if multiplier.is_integer() else multiplier
    return kwargs


def infer_gpen_kwargs(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """GPEN constructor settings read off a GPEN state dict (only those its keys tell).

    out_size from the number of encoder levels (ecd0 … ecd{L-2}, L = log2 out_size), narrow from the 4×4
    constant (512·narrow channels), style_dim from `final_linear`, n_mlp from the mapping MLP,
    channel_multiplier from the 64-px convs (256·cm·narrow channels; not defined below 64 px).
    """
    kwargs: dict[str, Any] = {}
    levels = {int(k.split(".", 1)[0][3:]) for k in state if k.startswith("ecd") and k.split(".", 1)[0][3:].isdigit()}
    if levels:
        kwargs["out_size"] = 2 ** (max(levels) + 2)
    if "generator.input.input" in state:
        kwargs["narrow"] = state["generator.input.input"].shape[1] / 512
    mod = state.get("generator.conv1.conv.modulation.weight")
    if mod is not None:
        kwargs["style_dim"] = int(mod.shape[1])
    kwargs["n_mlp"] = sum(1 for k in state if k.startswith("generator.style.") and k.endswith(".weight"))
    conv64 = state.get("generator.convs.6.conv.weight")  # first conv of the 64-px level: (1, Cout, Cin, 3, 3)
    if conv64 is not None and "narrow" in kwargs:
        multiplier = conv64.shape[1] / (256 * kwargs["narrow"])
        kwargs["channel_multiplier"] = int(multiplier) if multiplier.is_integer() else multiplier
    return kwargs


def infer_generator_spec(state: Mapping[str, torch.Tensor], source: str | os.PathLike) -> tuple[str, dict[str, Any]]:
    """(arch, constructor kwargs) of the generator a state dict belongs to, from key names and shapes.

    Architecture: `conv_body_first.weight` = GFP-GAN clean (plain conv), `conv_body_first.0.weight` =
    GFPGANv1 (equalised conv + bias-activation pair), `ecd0.0.0.weight` + `generator.input.input` = GPEN.
    `input_is_latent` leaves no trace in the weights; the released GFP-GAN models all use True, our default.
    """
    if "ecd0.0.0.weight" in state and "generator.input.input" in state:
        return "gpen", infer_gpen_kwargs(state)
    if "conv_body_first.weight" in state:
        arch = "clean"
    elif "conv_body_first.0.weight" in state:
        arch = "v1"
    else:
        raise CheckpointMismatchError(
            f"Checkpoint {source} is not a GFP-GAN or GPEN generator: none of `conv_body_first.weight` (GFP-GAN "
            f"clean architecture), `conv_body_first.0.weight` (GFPGANv1), `ecd0.0.0.weight` + "
            f"`generator.input.input` (GPEN) is in it; first keys: {sorted(state)[:5]}")
    kwargs = infer_stylegan2_kwargs(state, "stylegan_decoder.")
    kwargs["use_sft"] = "condition_scale.0.0.weight" in state
    if kwargs["use_sft"]:
        hidden, out = state["condition_scale.0.0.weight"].shape[0], state["condition_scale.0.2.weight"].shape[0]
        kwargs["sft_half"] = out == hidden  # CS-SFT conditions are half as wide as plain SFT ones
    if "final_linear.weight" in state and "out_size" in kwargs:
        num_latent = 2 * int(math.log2(kwargs["out_size"])) - 2
        kwargs["different_w"] = state["final_linear.weight"].shape[0] == num_latent * kwargs["num_style_feat"]
    return arch, kwargs


def generator_class(arch: str) -> type[nn.Module]:
    """The generator class of an architecture name ("clean", "v1" or "gpen")."""
    if arch not in ARCHITECTURES:
        raise CheckpointMismatchError(f"unknown generator architecture {arch!r}; expected one of {list(ARCHITECTURES)}")
    module, name = ARCHITECTURES[arch][0].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def describe_generator(arch: str, kwargs: Mapping[str, Any]) -> str:
    """'a GPENGenerator (out_size=512, ...; model=gpen)': what a file holds, for error messages."""
    name = generator_class(arch).__name__
    settings = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return f"a {name} ({settings}; {ARCHITECTURES[arch][1]})"


def generator_state_and_spec(checkpoint: Mapping[str, Any], source: str | os.PathLike
                             ) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """(generator state dict, our stored spec or None) from any supported checkpoint layout.

    Our Lightning checkpoint: `state_dict` with the EMA generator under `generator_ema.` plus the spec;
    our export and the official files: `params_ema` (or `params`); else a bare state dict.
    """
    spec = checkpoint.get(SPEC_KEY)
    state = checkpoint.get("state_dict")
    if isinstance(state, Mapping) and any(k.startswith(EMA_PREFIX) for k in state):
        return {k[len(EMA_PREFIX):]: v for k, v in state.items() if k.startswith(EMA_PREFIX)}, spec
    if isinstance(state, Mapping) and "params_ema" not in checkpoint and "params" not in checkpoint:
        raise CheckpointMismatchError(
            f"Checkpoint {source} has a `state_dict` without the EMA generator (keys starting with "
            f"`{EMA_PREFIX}`); first keys: {sorted(state)[:5]}")
    return unwrap_state_dict(checkpoint, source), spec


def fitting_settings(inferred: Mapping[str, Any], used: Mapping[str, Any]) -> str | None:
    """'The weights fit k=v, ...' for the inferred settings that differ from the ones used, else None."""
    differing = [f"{k}={v!r}" for k, v in inferred.items() if used.get(k, v) != v]
    return f"The weights fit {', '.join(differing)}." if differing else None


def load_generator(path: str | os.PathLike, *, weights_only: bool = True, config_key: str = "checkpoint",
                   arch: str | None = None, **overrides: Any) -> nn.Module:
    """Build the generator a checkpoint file holds, load it strictly, return it in eval mode.

    Accepts our Lightning checkpoints and exports (which record the architecture and constructor
    kwargs), the official GFPGANv1.pth (original architecture), GFPGANv1.3 / v1.4 (clean), the GPEN
    files (flat GPEN-BFR-*.pth, or trainer checkpoints with the EMA generator under `g_ema`), and bare
    state dicts, whose architecture and settings (out_size, channel_multiplier, narrow, sft_half,
    use_sft, different_w for GFP-GAN; out_size, channel_multiplier, narrow, style_dim, n_mlp for GPEN)
    are read off key names and shapes. `arch` ("clean", "v1", "gpen"), when given, is the architecture
    the caller expects: a file of another one is refused. `overrides` are constructor kwargs that win
    over the recorded or inferred ones (e.g. `sft_strength=0.5`); one that contradicts the weights
    raises `CheckpointMismatchError` naming the key, both shapes and the setting that fits. In eval
    mode the model is deterministic; `model(x)` with x (N, 3, H, W) in [-1, 1] returns (restored
    image, pyramid images — empty for GPEN).
    """
    file = resolve_weights(path, what="face restoration generator", config_key=config_key)
    state, spec = generator_state_and_spec(read_checkpoint(file, weights_only), file)
    file_arch, inferred = infer_generator_spec(state, file)
    kwargs = dict(inferred)
    if spec is not None:  # our checkpoints record the exact constructor kwargs
        file_arch = spec.get("arch", file_arch)
        kwargs |= dict(spec.get("kwargs", {}))
    if arch is not None and arch != file_arch:
        generator_class(arch)  # an unknown name is its own error
        marker = ARCH_MARKERS[file_arch]
        found = f"key `{marker}` {tuple(state[marker].shape)}" if marker in state else "its recorded spec"
        raise CheckpointMismatchError(
            f"Checkpoint {file} holds {describe_generator(file_arch, inferred)} ({found}), not the {arch!r} "
            f"architecture asked for ({ARCHITECTURES[arch][1]}, whose files have `{ARCH_MARKERS[arch]}`); "
            f"use {ARCHITECTURES[file_arch][1]} (arch={file_arch!r}).")
    kwargs |= overrides
    cls = generator_class(file_arch)
    try:
        model = cls(**kwargs)
    except TypeError as error:
        raise TypeError(f"load_generator({file}): the file holds {describe_generator(file_arch, inferred)}, "
                        f"which does not take these settings: {error}") from None
    return load_strict(model, state, file, fitting_settings(inferred, kwargs)).eval()


PRIOR_KINDS = {"v1": "GFPGANv1, the original StyleGAN2 (model=gfpgan_v1)",
               "clean": "GFPGANv1Clean, the clean StyleGAN2 (model=gfpgan_clean)",
               "gpen": "GPEN, the concatenated-noise StyleGAN2 (model=gpen)"}


def prior_kind(state: Mapping[str, torch.Tensor]) -> str:
    """Which generator family a prior state dict belongs to, from a key only that family has."""
    if "style_conv1.activate.bias" in state:
        return "v1"
    return "gpen" if "input.input" in state else "clean"


def load_stylegan2_prior(generator: nn.Module, path: str | os.PathLike = STYLEGAN2_PRIOR_FILE,
                         config_key: str = "pretrained.stylegan2_prior") -> nn.Module:
    """Load a StyleGAN2 file (`params_ema`) into `generator.stylegan_decoder` (GPEN: `generator.generator`;
    a prior model: `generator.decoder`; or a bare StyleGAN2), strictly.

    The official `StyleGAN2_512_Cmul1_FFHQ_B12G4_scratch_800k.pth` is the original architecture and
    fits GFPGANv1 (cm 1) only; the clean architecture resamples differently, so loading it there is
    refused rather than silently giving a different prior. Frozen parameters stay frozen.
    """
    file = resolve_weights(path, what="StyleGAN2 prior (GFP-GAN decoder)", config_key=config_key,
                           url=STYLEGAN2_PRIOR_URL, disable_hint=f"set {config_key}=null (random prior)")
    state = unwrap_state_dict(read_checkpoint(file), file)
    # GFP-GAN generators hold the prior as `stylegan_decoder`, GPEN as `generator`, the prior models as `decoder`
    decoder = next((getattr(generator, name) for name in ("stylegan_decoder", "generator", "decoder")
                    if isinstance(getattr(generator, name, None), nn.Module)), generator)
    inferred = infer_stylegan2_kwargs(state)
    used = infer_stylegan2_kwargs(decoder.state_dict())
    hint = fitting_settings(inferred, used)
    file_kind, decoder_kind = prior_kind(state), prior_kind(decoder.state_dict())
    if file_kind != decoder_kind:
        hint = f"The file holds the prior of {PRIOR_KINDS[file_kind]}; use that generator."
    load_strict(decoder, state, file, hint)
    return generator
