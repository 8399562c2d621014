"""Pure `nn.Module` networks of gpen (GFP-GAN §3, GPEN): generators, discriminators, ArcFace, VGG features.

Nothing here knows about Lightning, Hydra, files or logging, except `loading`, which reads weight
files by path on request. Names are resolved on first use so importing one network does not import
them all.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it
_EXPORTS = {
    "ResNetArcFace": "gpen.models.arcface",
    "VGGFeatureExtractor": "gpen.models.vgg",
    "StyleGAN2GeneratorClean": "gpen.models.stylegan2_clean",
    "GFPGANv1Clean": "gpen.models.gfpgan_clean",
    "to_channels_last": "gpen.models.stylegan2_clean",
    "StyleGAN2Generator": "gpen.models.stylegan2_v1",
    "GFPGANv1": "gpen.models.gfpgan_v1",
    "StyleGAN2Discriminator": "gpen.models.discriminators",
    "FacialComponentDiscriminator": "gpen.models.discriminators",
    "GPENGenerator": "gpen.models.gpen",
    "GPENDiscriminator": "gpen.models.discriminators",
    "face_template": "gpen.models.templates",
    "CheckpointMismatchError": "gpen.models.loading",
    "load_generator": "gpen.models.loading",
    "load_stylegan2_prior": "gpen.models.loading",
    "load_arcface": "gpen.models.loading",
    "load_vgg19": "gpen.models.loading",
}

__all__ = [
    "CheckpointMismatchError",
    "FacialComponentDiscriminator",
    "GFPGANv1",
    "GFPGANv1Clean",
    "GPENDiscriminator",
    "GPENGenerator",
    "ResNetArcFace",
    "StyleGAN2Discriminator",
    "StyleGAN2Generator",
    "StyleGAN2GeneratorClean",
    "VGGFeatureExtractor",
    "face_template",
    "load_arcface",
    "load_generator",
    "load_stylegan2_prior",
    "load_vgg19",
    "to_channels_last",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gpen.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
