"""Inference-time restoration of aligned faces with the texture controls (docs/knobs.md).

- `settings`: `RestoreSettings`, the validated `restore` config block (article names accepted)
- `apply`: `restore_aligned` (generator + all knobs) and `texture_controls` (on any restorer's output)
- `latent`: latent refinement with the differentiable degradation operator D_s
- `masks`: region masks from labels, a face-parsing network or the landmark template
- `blend`: region-weighted blend and grain keeping
"""

from gpen.restore.apply import load_face_parser, restore_aligned, texture_controls
from gpen.restore.settings import RestoreSettings

__all__ = ["RestoreSettings", "load_face_parser", "restore_aligned", "texture_controls"]
