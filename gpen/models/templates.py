"""Five-point face alignment templates (eye centres, nose tip, mouth corners), in pixels of a 512×512 crop.

Each generator is trained on faces aligned to one template, so restoring a photo must align to the
template of the model in use: GFP-GAN uses the FFHQ template; GPEN (Yang et al., CVPR 2021) its own,
derived from the 112×112 ArcFace points with padding, where the face is smaller in the frame (eye
distance 107 px instead of 126 px at 512). A generator names its template in `face_template_512`;
`face_template(generator)` scales it to the generator's `out_size`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpen.data.components import TEMPLATE_5POINT_512

#: FFHQ alignment (GFP-GAN, CodeFormer): left eye, right eye, nose, left and right mouth corner at 512.
FFHQ_TEMPLATE_512 = TEMPLATE_5POINT_512
#: GPEN's alignment, same point order, at 512.
GPEN_TEMPLATE_512 = np.array([[202.0, 242.9], [309.4, 242.3], [256.1, 304.0], [212.0, 366.8], [300.9, 366.3]],
                             dtype=np.float32)


def scale_template(points_512: Sequence[Sequence[float]], size: int) -> np.ndarray:
    """Template points for a size×size crop: (5, 2) float32, scaled linearly from 512."""
    return np.asarray(points_512, dtype=np.float32) * (size / 512.0)


def face_template(generator: object, size: int | None = None) -> np.ndarray:
    """(5, 2) template the `generator` expects its input aligned to, at `size` (default: its out_size).

    Generators without a `face_template_512` attribute (the GFP-GAN ones) use the FFHQ template.
    """
    points = getattr(generator, "face_template_512", FFHQ_TEMPLATE_512)
    return scale_template(points, size or generator.out_size)
