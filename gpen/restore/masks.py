"""Soft face-region masks for region-weighted restoration (docs/knobs.md), three sources:

1. the data's own labels (synthetic faces: an id map of `gpen.data.regions`), exact;
2. a face-parsing network (facexlib's BiSeNet or ParseNet, CelebAMask-HQ classes) when its weights
   are given: `FaceParser.load(path, arch)`; nothing is downloaded;
3. by default, offline: soft ellipses placed from the 5 landmarks on the aligned-face template.
   These are approximate (no real face outline or hair), but need no network.

Masks are (B, R, H, W) over the R = 8 regions of `gpen.data.regions`, each pixel's masks summing to 1.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from gpen.data.components import TEMPLATE_5POINT_512
from gpen.data.regions import REGION_IDS, REGION_NAMES
from gpen.utils.pretrained import MissingWeightsError

#: Template-frame ellipses at 512 px (FFHQ alignment, inter-ocular distance 126 px):
#: region -> [(centre x, centre y, semi-axis x, semi-axis y)], from the template's 5 points.
TEMPLATE_PARTS_512: dict[str, list[tuple[float, float, float, float]]] = {
    "eyes": [(193.0, 240.0, 28.0, 15.0), (319.0, 240.0, 28.0, 15.0)],
    "brows": [(190.0, 203.0, 34.0, 10.0), (322.0, 203.0, 34.0, 10.0)],
    "mouth": [(257.0, 372.0, 62.0, 24.0)],
    "nose": [(256.0, 292.0, 24.0, 42.0)],
    "face": [(256.0, 288.0, 140.0, 198.0)],
    "hair": [(256.0, 250.0, 185.0, 240.0)],
}
FOREHEAD_BELOW_512 = 188.0   # y of the forehead's lower edge (just above the brows), template frame
HAIR_ABOVE_512 = 330.0       # the hair band ends here (no hair on the chin), template frame
EDGE_PX_512 = 2.0            # soft edge width of every ellipse, template pixels
#: Painting order: earlier regions sit on top of later ones; `other` takes whatever is left.
PAINT_ORDER = ("eyes", "brows", "mouth", "nose", "forehead", "skin", "hair")


def masks_from_labels(regions: torch.Tensor) -> torch.Tensor:
    """(B, H, W) integer region ids -> (B, R, H, W) one-hot float masks."""
    return F.one_hot(regions.long(), len(REGION_NAMES)).permute(0, 3, 1, 2).float()


def similarity_to_template(landmarks: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares similarity (complex a, b) with a*p + b ~ template point, per face; landmarks (B, 5, 2) px."""
    template = torch.as_tensor(TEMPLATE_5POINT_512 * (size / 512.0), dtype=torch.float64)
    src = torch.complex(landmarks[..., 0].double(), landmarks[..., 1].double())  # (B, 5)
    dst = torch.complex(template[:, 0], template[:, 1]).to(src.device)  # (5,)
    src_c, dst_c = src - src.mean(1, keepdim=True), dst - dst.mean()
    a = (src_c.conj() * dst_c).sum(1) / (src_c.abs() ** 2).sum(1)  # (B,)
    return a, dst.mean() - a * src.mean(1)


def _ellipse(x: torch.Tensor, y: torch.Tensor, part: tuple[float, float, float, float], scale: float,
             edge: float) -> torch.Tensor:
    cx, cy, ax, ay = (v * scale for v in part)
    radius = torch.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)
    return torch.sigmoid(-(radius - 1.0) * min(ax, ay) / edge)


def template_masks(size: int, landmarks: torch.Tensor | None = None, batch: int = 1,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Soft region masks (B, R, size, size) from the template, moved onto `landmarks` (B, 5, 2) when given."""
    axis = torch.arange(size, dtype=torch.float64, device=device) + 0.5
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    if landmarks is None:
        x, y = x.expand(batch, size, size), y.expand(batch, size, size)
    else:  # template coordinates of every pixel of each face
        a, b = similarity_to_template(landmarks.to(device), size)
        z = a.view(-1, 1, 1) * torch.complex(x, y) + b.view(-1, 1, 1)
        x, y = z.real, z.imag
    s = size / 512.0
    edge = EDGE_PX_512 * s

    def union(name: str) -> torch.Tensor:
        return torch.stack([_ellipse(x, y, part, s, edge) for part in TEMPLATE_PARTS_512[name]]).amax(0)

    face = union("face")
    upper = torch.sigmoid((FOREHEAD_BELOW_512 * s - y) / edge)
    soft = {"eyes": union("eyes"), "brows": union("brows"), "mouth": union("mouth"), "nose": union("nose"),
            "forehead": face * upper, "skin": face,
            "hair": union("hair") * torch.sigmoid((HAIR_ABOVE_512 * s - y) / edge)}
    masks = torch.zeros(x.shape[0], len(REGION_NAMES), size, size, dtype=torch.float64, device=device)
    remaining = torch.ones_like(face)
    for name in PAINT_ORDER:
        share = soft[name] * remaining
        masks[:, REGION_IDS[name]] = share
        remaining = remaining - share
    masks[:, REGION_IDS["other"]] = remaining
    return masks.float()


#: Class order of the released facexlib parsing networks (CelebAMask-HQ's 19 classes, two orderings).
PARSER_CLASSES = {
    "bisenet": ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear",
                "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat"),
    "parsenet": ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear",
                 "r_ear", "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth"),
}
#: CelebAMask-HQ class -> our region (anything not listed is `other`; forehead is split off skin).
CELEBAMASK_TO_REGION = {"skin": "skin", "l_brow": "brows", "r_brow": "brows", "l_eye": "eyes", "r_eye": "eyes",
                        "eye_g": "eyes", "nose": "nose", "mouth": "mouth", "u_lip": "mouth", "l_lip": "mouth",
                        "hair": "hair"}
PARSER_SIZE = 512


def class_to_region_matrix(arch: str) -> torch.Tensor:
    """(19, R) 0/1 matrix summing each parsing class into our region."""
    matrix = torch.zeros(len(PARSER_CLASSES[arch]), len(REGION_NAMES))
    for i, name in enumerate(PARSER_CLASSES[arch]):
        matrix[i, REGION_IDS[CELEBAMASK_TO_REGION.get(name, "other")]] = 1.0
    return matrix


class FaceParser(torch.nn.Module):
    """A facexlib parsing network turned into our region masks; build with `FaceParser.load` or from a net."""

    def __init__(self, network: torch.nn.Module, arch: str = "bisenet") -> None:
        super().__init__()
        self.network, self.arch = network.eval(), arch
        self.register_buffer("to_regions", class_to_region_matrix(arch), persistent=False)

    @staticmethod
    def build_network(arch: str) -> torch.nn.Module:
        from facexlib.parsing import BiSeNet, ParseNet  # facexlib: optional until a parser is configured

        return BiSeNet(num_class=19) if arch == "bisenet" else ParseNet(in_size=512, out_size=512, parsing_ch=19)

    @classmethod
    def load(cls, path: str | Path, arch: str = "bisenet", device: torch.device | str = "cpu") -> FaceParser:
        path = Path(path).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"face-parsing weights not found: {path}. Put facexlib's parsing_{arch}.pth there (no download "
                "is attempted), or set restore.parser_path=null to use the landmark-template masks")
        network = cls.build_network(arch)
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        return cls(network, arch).to(device)

    @torch.no_grad()
    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        """Aligned faces (B, 3, S, S) in [-1, 1] -> region masks (B, R, S, S), forehead from the template."""
        size = faces.shape[-1]
        x = F.interpolate(faces, size=(PARSER_SIZE, PARSER_SIZE), mode="bilinear", align_corners=False)
        if self.arch == "bisenet":  # trained on ImageNet-normalised [0, 1] input; ParseNet on [-1, 1]
            mean = x.new_tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = x.new_tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            x = ((x + 1) / 2 - mean) / std
        probs = self.network(x)[0].softmax(1)  # (B, 19, 512, 512)
        regions = torch.einsum("bchw,cr->brhw", probs, self.to_regions.to(probs.dtype))
        regions = F.interpolate(regions, size=(size, size), mode="bilinear", align_corners=False)
        forehead = template_masks(size, batch=faces.shape[0], device=faces.device)[:, REGION_IDS["forehead"]]
        moved = regions[:, REGION_IDS["skin"]] * (forehead > 0.5)
        regions[:, REGION_IDS["skin"]] -= moved
        regions[:, REGION_IDS["forehead"]] += moved
        return regions
