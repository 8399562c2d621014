"""Face-parsing masks for paste-back: facexlib's ParseNet or BiSeNet, loaded from a file you give.

Both networks predict the 19 CelebAMask-HQ classes (Lee et al., CVPR 2020) on a 512 px aligned face.
The paste mask keeps the face itself (skin, brows, eyes, glasses, ears, nose, mouth, lips) and leaves
hair, neck, clothes, hat and background to the original photo. facexlib's `init_parsing_model`
downloads its weights, so the networks are built from facexlib's classes and loaded here instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gpen.models.loading import load_strict, read_checkpoint, unwrap_state_dict

PARSING_SIZE = 512
#: CelebAMask-HQ classes that belong to the face (0 background, 14 neck, 15 necklace, 16 cloth,
#: 17 hair, 18 hat are left out).
FACE_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
PARSING_URLS = {
    "parsenet": "https://github.com/xinntao/facexlib/releases/download/v0.2.2/parsing_parsenet.pth",
    "bisenet": "https://github.com/xinntao/facexlib/releases/download/v0.2.0/parsing_bisenet.pth",
}
#: Input normalisation (mean, std) each network was trained with.
NORMALISATION = {"parsenet": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                 "bisenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


def build_parsing_network(kind: str) -> nn.Module:
    """facexlib's ParseNet (512 px) or BiSeNet with 19 classes, randomly initialised."""
    if kind == "parsenet":
        from facexlib.parsing.parsenet import ParseNet

        return ParseNet(in_size=PARSING_SIZE, out_size=PARSING_SIZE, parsing_ch=19)
    if kind == "bisenet":
        from facexlib.parsing.bisenet import BiSeNet

        return BiSeNet(num_class=19)
    raise ValueError(f"unknown face-parsing network {kind!r}; choose 'parsenet' or 'bisenet'")


class FaceParser:
    """Face mask of aligned faces from a parsing network (weights loaded from `weights`)."""

    def __init__(self, weights: str | os.PathLike, kind: str = "parsenet", device: str | torch.device = "cpu"):
        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(
                f"face-parsing weights not found: {path}. Download {PARSING_URLS.get(kind, '')} and put it "
                "there, or leave --parsing-weights out (a feathered landmark mask is used instead)")
        self.kind, self.device = kind, torch.device(device)
        net = build_parsing_network(kind)
        load_strict(net, unwrap_state_dict(read_checkpoint(path), path), path)
        self.net = net.eval().to(self.device)

    @torch.no_grad()
    def face_masks(self, faces: np.ndarray) -> np.ndarray:
        """Hard 0/1 face masks (B, S, S) float32 of aligned uint8 RGB faces (B, S, S, 3)."""
        size = faces.shape[1]
        x = torch.from_numpy(faces).to(self.device).permute(0, 3, 1, 2).float() / 255.0  # (B, 3, S, S)
        x = F.interpolate(x, size=(PARSING_SIZE, PARSING_SIZE), mode="bilinear", align_corners=False,
                          antialias=size > PARSING_SIZE)
        mean, std = (torch.tensor(v, device=self.device).view(1, 3, 1, 1) for v in NORMALISATION[self.kind])
        labels = self.net((x - mean) / std)[0].argmax(dim=1)  # (B, 512, 512) class per pixel
        keep = torch.isin(labels, torch.tensor(FACE_CLASSES, device=self.device)).float().cpu().numpy()
        return np.stack([cv2.resize(m, (size, size), interpolation=cv2.INTER_LINEAR) for m in keep])
