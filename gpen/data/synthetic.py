"""Procedural synthetic faces: the built-in dataset that lets every part run with no download.

Not from the paper: a stand-in for FFHQ (paper §4.1) with what the training recipe needs from it.
Each face is drawn from a seed in FFHQ-aligned normalised coordinates (eyes, nose and mouth near the
512 alignment template), with a skin tone, face shape, hair, brows, eyes with iris and pupil, nose
shading, lips, background and directional lighting, plus fine texture (skin pores, iris streaks,
hair strands, brow strokes, lip lines) that blur, downsampling and JPEG destroy. Component boxes
come from the drawn geometry with the docs/training.md rule, and per-pixel region labels from the same
masks that paint the pixels, so labels and pixels line up exactly.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from gpen.data.components import Box, boxes_from_points
from gpen.data.degradation import GFPGANDegradation
from gpen.data.items import EpochSeededItems
from gpen.data.regions import REGION_IDS
from gpen.utils.validation import check_range

SKIN_TONES = np.array([[0.97, 0.82, 0.71], [0.89, 0.68, 0.54], [0.76, 0.54, 0.38],
                       [0.56, 0.38, 0.25], [0.36, 0.23, 0.15]], np.float32)
IRIS_COLOURS = np.array([[0.35, 0.20, 0.08], [0.20, 0.40, 0.65], [0.25, 0.45, 0.25],
                         [0.45, 0.35, 0.15], [0.45, 0.50, 0.55]], np.float32)
HAIR_COLOURS = np.array([[0.06, 0.05, 0.05], [0.25, 0.15, 0.08], [0.75, 0.60, 0.35],
                         [0.55, 0.22, 0.08], [0.65, 0.65, 0.65]], np.float32)


def sample_face_params(seed: int) -> dict[str, Any]:
    """Geometry and colours of one face, in normalised coordinates (x right, y down, [-1, 1])."""
    rng = np.random.default_rng([seed, 0])
    u = rng.uniform
    tone = u(0, len(SKIN_TONES) - 1)  # a continuous position along the palette
    skin = np.array([np.interp(tone, np.arange(len(SKIN_TONES)), SKIN_TONES[:, c]) for c in range(3)],
                    np.float32)
    eye_y, eye_dx = -0.06 + u(-0.02, 0.02), 0.246 * u(0.92, 1.08)
    return {
        "skin": skin,
        "background": rng.uniform(0.1, 0.9, size=(2, 3)).astype(np.float32),
        "hair": HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * u(0.8, 1.2),
        "iris": IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * u(0.8, 1.2),
        "lips": (skin * np.array([0.95, 0.55, 0.55]) * u(0.8, 1.0)).astype(np.float32),
        "face": (u(-0.02, 0.02), 0.17 + u(-0.02, 0.02), u(0.54, 0.62), u(0.68, 0.76), u(1.8, 2.6)),
        "hairline": u(-0.58, -0.38),
        "hair_volume": u(1.08, 1.3),
        "eyes": (eye_y, eye_dx, u(0.075, 0.095), u(0.03, 0.042), u(-0.015, 0.015)),
        "iris_scale": u(1.05, 1.3),
        "brows": (u(0.09, 0.12), u(0.024, 0.04), u(0.01, 0.04)),
        "nose": (0.23 + u(-0.02, 0.02), u(0.06, 0.09)),
        "mouth": (0.45 + u(-0.02, 0.02), u(0.17, 0.23), u(0.035, 0.05), u(0.045, 0.065), u(-0.01, 0.02)),
        "light": (u(-0.6, 0.6), u(-0.6, 0.2)),
        "texture_seed": int(rng.integers(2**31)),
    }


def _coverage(sdf: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased inside-ness (1 inside, 0 outside) of a signed distance in normalised units."""
    return np.clip(0.5 - sdf / px, 0.0, 1.0).astype(np.float32)


def _ellipse_sdf(x: np.ndarray, y: np.ndarray, cx: float, cy: float, ax: float, ay: float,
                 power: float = 2.0) -> np.ndarray:
    """Approximate signed distance to a (super)ellipse; exact enough for anti-aliased edges."""
    r = (np.abs((x - cx) / ax) ** power + np.abs((y - cy) / ay) ** power) ** (1.0 / power)
    return (r - 1.0) * min(ax, ay)


def _paint(image: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> None:
    """In place: image = image + alpha * (colour - image); colour (3,) or (H, W, 3)."""
    image += alpha[:, :, None] * (colour - image)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1]: a cells x cells random grid upsampled bicubically to size."""
    grid = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)


def _window(size: int, x0: float, y0: float, x1: float, y1: float) -> tuple[slice, slice]:
    """Row and column slices covering the normalised box [x0, x1] x [y0, y1] (parts draw locally)."""
    def to_px(a: float) -> int:
        return int(np.clip((a + 1.0) * size / 2.0, 0, size))
    return slice(to_px(y0), to_px(y1) + 1), slice(to_px(x0), to_px(x1) + 1)


def render_face(seed: int, size: int) -> tuple[np.ndarray, np.ndarray, dict[str, Box]]:
    """Render face `seed` at `size` px: image float32 RGB (size, size, 3) in [0, 1], regions int64
    (size, size) ids of `gpen.data.regions`, and boxes name -> (x1, y1, x2, y2) in pixels."""
    p = sample_face_params(seed)
    tex = np.random.default_rng([p["texture_seed"], size])
    px = 2.0 / size
    axis = (np.arange(size, dtype=np.float32) + 0.5) * px - 1.0
    x, y = np.meshgrid(axis, axis)  # (size, size) each
    regions = np.full((size, size), REGION_IDS["other"], np.int64)

    # Background: vertical gradient with soft blotches.
    t = ((y + 1.0) / 2.0)[:, :, None]
    image = (p["background"][0] * (1 - t) + p["background"][1] * t).astype(np.float32)
    image *= (1.0 + 0.15 * _smooth_noise(tex, size, 5))[:, :, None]

    fx, fy, fax, fay, jaw = p["face"]
    face_sdf = np.where(y > fy, _ellipse_sdf(x, y, fx, fy, fax, fay, jaw), _ellipse_sdf(x, y, fx, fy, fax, fay))
    face = _coverage(face_sdf, px)
    hair_back = _coverage(_ellipse_sdf(x, y, fx, fy - 0.12, fax * p["hair_volume"], fay * 1.02), px)
    hair_back *= (y < fy + 0.25).astype(np.float32)
    hairline = p["hairline"] + 0.35 * ((x - fx) / fax) ** 2
    fringe = face * _coverage(y - hairline, px)

    # Hair: strands = stripes along y with per-column phase noise, darkened at random.
    strands = 0.75 + 0.25 * np.sin(x * 1.8 / px + 3.0 * _smooth_noise(tex, size, 9))
    hair_colour = p["hair"][None, None, :] * strands[:, :, None]
    _paint(image, hair_back, hair_colour)
    regions[hair_back > 0.5] = REGION_IDS["hair"]

    # Skin with lighting on an ellipsoid normal and pores.
    r2 = np.clip(((x - fx) / fax) ** 2 + ((y - fy) / fay) ** 2, 0.0, 1.0)
    lx, ly = p["light"]
    nz = np.sqrt(1.0 - r2)
    shade = 0.72 + 0.28 * np.clip((-(x - fx) / fax * lx - (y - fy) / fay * ly + nz) / 1.3, 0.0, 1.0)
    pores = 1.0 + 0.05 * tex.standard_normal((size, size), dtype=np.float32) + 0.04 * _smooth_noise(tex, size, 24)
    skin = p["skin"][None, None, :] * (shade * pores)[:, :, None]
    _paint(image, face, skin)
    brow_line = p["eyes"][0] - p["brows"][0]
    regions[face > 0.5] = REGION_IDS["skin"]
    regions[(face > 0.5) & (y < brow_line - 0.05)] = REGION_IDS["forehead"]
    _paint(image, fringe, hair_colour)
    regions[fringe > 0.5] = REGION_IDS["hair"]

    boxes_points = {}
    fx = p["face"][0]
    eye_y, eye_dx, eye_ax, _, _ = p["eyes"]
    tip_y, nose_w = p["nose"]
    win = _window(size, fx - nose_w * 1.6, eye_y, fx + nose_w * 1.6, tip_y + 0.1)
    _draw_nose(image[win], regions[win], x[win], y[win], px, p, skin[win])
    for name, side in (("left_eye", -1.0), ("right_eye", 1.0)):
        cx = fx + side * eye_dx
        win = _window(size, cx - eye_ax * 1.6, eye_y - 0.25, cx + eye_ax * 1.6, eye_y + 0.08)
        boxes_points[name] = _draw_eye_and_brow(image[win], regions[win], x[win], y[win], px, p, cx, side)
    my, half_w = p["mouth"][:2]
    win = _window(size, fx - half_w - 0.03, my - 0.12, fx + half_w + 0.03, my + 0.1)
    boxes_points["mouth"] = _draw_mouth(image[win], regions[win], x[win], y[win], px, p)
    to_pixels = {name: (pts + 1.0) / px for name, pts in boxes_points.items()}
    return np.clip(image, 0.0, 1.0), regions, boxes_from_points(to_pixels, size)


def _draw_nose(image, regions, x, y, px, p, skin) -> None:
    fx = p["face"][0]
    tip_y, half_width = p["nose"]
    top_y = p["eyes"][0] + 0.03
    ridge = (y > top_y) & (y < tip_y + 0.03)
    # Shading: a lit ridge and shadowed flanks, fading toward the bridge.
    along = np.clip((y - top_y) / (tip_y - top_y), 0.0, 1.0)
    dx = (x - fx) / (half_width * (0.45 + 0.55 * along))
    flank = np.exp(-((np.abs(dx) - 0.8) ** 2) * 6.0) * along * ridge
    highlight = np.exp(-dx ** 2 * 8.0) * along * ridge
    image *= (1.0 - 0.25 * flank)[:, :, None]
    image += (0.08 * highlight)[:, :, None]
    for side in (-1.0, 1.0):
        nostril = _coverage(_ellipse_sdf(x, y, fx + side * half_width * 0.45, tip_y + 0.015,
                                         half_width * 0.28, half_width * 0.14), px)
        _paint(image, nostril, skin * 0.35)
    nose = _coverage(_ellipse_sdf(x, y, fx, (top_y + tip_y) / 2 + 0.02, half_width * 1.05,
                                  (tip_y - top_y) / 2 + 0.04), px)
    regions[nose > 0.5] = REGION_IDS["nose"]


def _draw_eye_and_brow(image, regions, x, y, px, p, cx, side) -> np.ndarray:
    """Draw one eye (sclera, iris with streaks, pupil, glint, lid) and its brow; return box points."""
    eye_y, _, ax, ay, gaze = p["eyes"]
    brow_up, brow_thick, brow_arch = p["brows"]
    sclera_sdf = _ellipse_sdf(x, y, cx, eye_y, ax, ay)
    sclera = _coverage(sclera_sdf, px)
    _paint(image, sclera, np.array([0.92, 0.9, 0.87], np.float32))
    iris_r = ay * p["iris_scale"]
    iris_d = np.hypot(x - cx - gaze, y - eye_y)
    streaks = 0.8 + 0.2 * np.sin(np.arctan2(y - eye_y, x - cx - gaze) * 40.0)
    iris = _coverage(iris_d - iris_r, px) * sclera
    _paint(image, iris, p["iris"][None, None, :] * (streaks * (0.6 + 0.4 * iris_d / iris_r))[:, :, None])
    _paint(image, _coverage(iris_d - iris_r * 0.42, px) * sclera, np.array([0.02, 0.02, 0.02], np.float32))
    glint = _coverage(np.hypot(x - cx - gaze + iris_r * 0.3, y - eye_y + iris_r * 0.3) - iris_r * 0.16, px)
    _paint(image, glint * sclera, np.array([1.0, 1.0, 1.0], np.float32))
    lid = _coverage(np.abs(sclera_sdf) - 0.006, px) * (y < eye_y + ay * 0.3)
    _paint(image, lid, p["hair"] * 0.5)
    regions[sclera > 0.5] = REGION_IDS["eyes"]

    # Brow: a tapered arc of fine strokes above the eye, thicker toward the nose.
    t = (x - cx) / (ax * 1.35)
    centre_y = eye_y - brow_up - brow_arch * (1.0 - t ** 2)
    taper = np.clip(1.0 - 0.5 * (side * t + 1.0) / 2.0, 0.3, 1.0)
    brow = _coverage(np.abs(y - centre_y) - brow_thick / 2 * taper, px) * _coverage(np.abs(t) - 1.0, px * 4)
    strokes = 0.8 + 0.2 * np.sin((x * 1.5 + y) * 2.4 / px)
    _paint(image, brow * 0.9, p["hair"][None, None, :] * 0.7 * strokes[:, :, None])
    regions[brow > 0.5] = REGION_IDS["brows"]
    return np.array([[cx - ax, eye_y - ay], [cx + ax, eye_y + ay]])


def _draw_mouth(image, regions, x, y, px, p) -> np.ndarray:
    """Draw upper and lower lips with fine vertical lines and the mouth line; return box points."""
    fx = p["face"][0]
    my, half_w, upper, lower, smile = p["mouth"]
    t = np.clip((x - fx) / half_w, -1.0, 1.0)
    seam = my - smile * (t ** 2)  # mouth line, corners raised by `smile`
    inside = np.abs(x - fx) < half_w
    cupid = upper * (1.0 - 0.35 * np.exp(-(t * 6.0) ** 2))  # dip of the upper lip in the middle
    up = _coverage(np.maximum(seam - cupid * (1 - t ** 2) - y, y - seam), px) * inside
    low = _coverage(np.maximum(y - seam - lower * (1 - t ** 2), seam - y), px) * inside
    lines = 0.88 + 0.12 * np.sin(x * 4.4 / px)  # vertical lip lines, a few pixels apart
    lip_colour = p["lips"][None, None, :] * lines[:, :, None]
    _paint(image, up, lip_colour * 0.85)
    _paint(image, low, lip_colour)
    line = _coverage(np.abs(y - seam) - 0.004, px) * inside
    _paint(image, line, p["lips"] * 0.3)
    regions[np.maximum(up, low) > 0.5] = REGION_IDS["mouth"]
    return np.array([[fx - half_w, my - smile - upper], [fx + half_w, my + lower]])


class SyntheticFaceDataset(Dataset):
    """`num_images` synthetic faces at `out_size`, degraded on the fly; face i is `render_face(first_id + i)`.

    Train and validation sets use disjoint `first_id` ranges. Regions are exact, so the region
    weights of docs/knobs.md can be trained on this data.
    """

    def __init__(self, num_images: int, out_size: int, degradation: GFPGANDegradation, seed: int = 0,
                 flip_prob: float = 0.5, first_id: int = 0) -> None:
        self.num_images = int(check_range("data.num_images", num_images, 1, None))
        self.out_size = int(check_range("data.out_size", out_size, 16, 4096))
        self.first_id = int(check_range("data.first_id", first_id, 0, None))
        self.items = EpochSeededItems(degradation, seed, flip_prob)

    def __len__(self) -> int:
        return self.num_images

    def set_epoch(self, epoch: int) -> None:
        self.items.set_epoch(epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = self.items.split_key(key)
        if not 0 <= index < self.num_images:
            raise IndexError(f"index {index} out of range for {self.num_images} synthetic faces")
        face_id = self.first_id + index
        image, regions, boxes = render_face(face_id, self.out_size)
        return self.items.make_item(image, regions, boxes, epoch, index, f"synthetic_{face_id:07d}")
