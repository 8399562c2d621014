"""The one restoration path for aligned faces (docs/knobs.md): fidelity knob -> latent refinement ->
region blend -> grain keeping. `evaluate.py`, the photo-restoration command and the report grids all
call `restore_aligned`, so the same `RestoreSettings` give the same pixels everywhere.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from gpen.restore.blend import grain_amount, keep_grain, region_blend, weight_map
from gpen.restore.latent import generate
from gpen.restore.masks import FaceParser, masks_from_labels, template_masks
from gpen.restore.settings import RestoreSettings


@contextlib.contextmanager
def fidelity(generator: torch.nn.Module, strength: float) -> Iterator[None]:
    """Temporarily set the generator's `sft_strength` (alpha); refused for generators without the knob."""
    if not hasattr(generator, "sft_strength"):
        if strength != 1.0:
            raise ValueError(f"restore.sft_strength={strength} needs a generator with a fidelity knob; "
                             f"{type(generator).__name__} has none (leave it at 1.0)")
        yield
        return
    previous = generator.sft_strength
    generator.sft_strength = float(strength)
    try:
        yield
    finally:
        generator.sft_strength = previous


def region_masks(faces: torch.Tensor, regions: torch.Tensor | None = None, landmarks: torch.Tensor | None = None,
                 parser: FaceParser | None = None) -> torch.Tensor:
    """(B, R, S, S) masks: the data's labels, else the parsing network, else the landmark template."""
    if regions is not None:
        return masks_from_labels(regions.to(faces.device)).to(faces.dtype)
    if parser is not None:
        return parser(faces).to(faces.dtype)
    return template_masks(faces.shape[-1], landmarks, faces.shape[0], faces.device).to(faces.dtype)


def load_face_parser(settings: RestoreSettings, device: torch.device | str = "cpu") -> FaceParser | None:
    """The configured parsing network (loaded once by the caller), or None for template masks."""
    return None if settings.parser_path is None else FaceParser.load(settings.parser_path, settings.parser, device)


def texture_controls(inputs: torch.Tensor, restored: torch.Tensor, settings: RestoreSettings,
                     regions: torch.Tensor | None = None, landmarks: torch.Tensor | None = None,
                     parser: FaceParser | None = None) -> torch.Tensor:
    """Region blend + grain keeping on (input, restored) faces (B, 3, S, S); any restorer's output works."""
    if settings.uniform_weights and not settings.keep_grain:
        return restored
    if inputs.shape != restored.shape:
        raise ValueError(f"texture controls need input and restored faces of one shape, got "
                         f"{tuple(inputs.shape)} and {tuple(restored.shape)}")
    masks = region_masks(inputs, regions, landmarks, parser)
    weights = weight_map(masks, settings.region_weights, settings.feather * inputs.shape[-1] / 512.0)
    out = region_blend(inputs, restored, weights)
    if settings.keep_grain:
        out = keep_grain(inputs, out, grain_amount(weights, settings.grain_strength), settings.grain_sigma)
    return out


def restore_aligned(generator: torch.nn.Module, faces: torch.Tensor, settings: RestoreSettings,
                    regions: torch.Tensor | None = None, landmarks: torch.Tensor | None = None,
                    parser: FaceParser | None = None) -> torch.Tensor:
    """Aligned faces (B, 3, S, S) in [-1, 1] -> restored faces, same shape, about [-1, 1] (not clipped).

    regions: (B, S, S) region ids when the data has labels; landmarks: (B, 5, 2) pixel positions of the
    eyes, nose and mouth corners (default: the template); parser: a loaded `FaceParser`, else
    `load_face_parser(settings)` is called when settings.parser_path is set (pass it to load it once).
    """
    if parser is None and regions is None and not (settings.uniform_weights and not settings.keep_grain):
        parser = load_face_parser(settings, faces.device)
    with fidelity(generator, settings.sft_strength):
        restored = generate(generator, faces, settings)
    return texture_controls(faces, restored, settings, regions, landmarks, parser)
