"""Procedural synthetic faces: deterministic, labels line up with pixels, boxes hold their parts,
and fine detail is there for degradation to destroy."""

import cv2
import numpy as np
import pytest

from gpen.data.degradation import GFPGANDegradation
from gpen.data.regions import REGION_IDS
from gpen.data.synthetic import render_face, sample_face_params


def test_deterministic_per_seed_and_varied_across_seeds():
    a, ra, ba = render_face(5, 64)
    b, rb, bb = render_face(5, 64)
    c, _, _ = render_face(6, 64)
    assert np.array_equal(a, b) and np.array_equal(ra, rb) and ba == bb
    assert np.abs(a - c).mean() > 0.02
    assert a.dtype == np.float32 and a.shape == (64, 64, 3) and 0 <= a.min() and a.max() <= 1
    assert ra.shape == (64, 64) and ra.dtype == np.int64


def test_every_region_is_present():
    _, regions, _ = render_face(1, 128)
    assert set(np.unique(regions)) == set(REGION_IDS.values())


@pytest.mark.parametrize("seed", [0, 3, 11])
def test_region_labels_match_pixel_colours(seed):
    size = 128
    image, regions, _ = render_face(seed, size)
    params = sample_face_params(seed)

    def median(name):
        return np.median(image[regions == REGION_IDS[name]], axis=0)

    # skin: the skin tone under lighting (0.72-1.0) and pore texture, the same hue
    ratio = median("skin") / params["skin"]
    assert 0.6 < ratio.min() and ratio.max() < 1.15 and ratio.max() - ratio.min() < 0.08
    # mouth pixels are the lip colour (darkened by lip lines and shadow), redder than skin
    lips = median("mouth")
    ratio = lips / params["lips"]
    assert 0.6 < ratio.min() and ratio.max() < 1.05 and ratio.max() - ratio.min() < 0.1
    assert lips[0] / lips[1] > median("skin")[0] / median("skin")[1]
    # eye pixels hold both the near-white sclera and the near-black pupil
    eyes = image[regions == REGION_IDS["eyes"]].mean(axis=1)
    assert eyes.max() > 0.8 and eyes.min() < 0.1
    # hair pixels are the hair colour under strand texture (x 0.5-1.0)
    ratio = median("hair") / np.maximum(params["hair"], 1e-3)
    assert 0.5 < ratio.min() and ratio.max() < 1.0 and ratio.max() - ratio.min() < 0.15
    # outside the head: the background gradient, not skin
    other = image[regions == REGION_IDS["other"]]
    lo, hi = params["background"].min(axis=0) * 0.8 - 0.02, params["background"].max(axis=0) * 1.2 + 0.02
    assert ((other >= lo) & (other <= hi)).all(axis=1).mean() > 0.95


def test_boxes_hold_their_parts():
    size = 128
    for seed in range(4):
        _, regions, boxes = render_face(seed, size)
        ys, xs = np.nonzero(regions == REGION_IDS["eyes"])
        for name, side in (("left_eye", xs < size / 2), ("right_eye", xs >= size / 2)):
            x1, y1, x2, y2 = boxes[name]
            assert (xs[side] >= x1 - 1).all() and (xs[side] <= x2).all()
            assert (ys[side] >= y1 - 1).all() and (ys[side] <= y2).all()
        ys, xs = np.nonzero(regions == REGION_IDS["mouth"])
        x1, y1, x2, y2 = boxes["mouth"]
        inside = (xs >= x1 - 1) & (xs <= x2) & (ys >= y1 - 1) & (ys <= y2)
        assert inside.mean() > 0.98
        assert boxes["left_eye"][2] < boxes["right_eye"][0]  # image-left eye first


def test_box_geometry_scales_with_size():
    _, _, small = render_face(2, 128)
    _, _, large = render_face(2, 512)
    for name in small:
        assert np.allclose(np.array(large[name]) / 4, small[name], atol=1.0)


def test_fine_detail_is_destroyed_by_degradation():
    image, regions, _ = render_face(4, 256)
    skin = regions == REGION_IDS["skin"]
    lq, _ = GFPGANDegradation(blur_sigma=(2, 3), downsample_range=(3, 4))(image, np.random.default_rng(0))

    def detail(img):
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        return np.abs(cv2.Laplacian(gray, cv2.CV_32F))[skin].mean()

    assert detail(image) > 0.01  # pores and texture are there
    assert detail(lq) < 0.5 * detail(image)
