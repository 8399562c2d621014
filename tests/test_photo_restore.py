"""gpen-restore and gpen.photo: detect, align, restore, paste back on real public-domain photos.

Tiny random generators of both GFP-GAN architectures stand in for trained ones (the pipeline, not
the weights, is under test); MTCNN runs for real. Detector runs are kept few: one command run per
architecture, shared by the tests through module-scoped fixtures.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch
from matplotlib import cbook

from gpen.cli.restore import main as restore_main
from gpen.data.components import TEMPLATE_5POINT_512
from gpen.models import CheckpointMismatchError, GFPGANv1, GFPGANv1Clean, load_generator
from gpen.models.gpen import GPENGenerator
from gpen.models.templates import GPEN_TEMPLATE_512
from gpen.photo import MTCNNDetector, PhotoRestorer, face_template, similarity_transform
from gpen.photo.detect import RetinaFaceDetector, build_detector
from gpen.photo.paste import ellipse_mask
from gpen.restore import RestoreSettings, restore_aligned
from gpen.restore.masks import FaceParser
from gpen.utils.image_io import read_image, write_image

TINY = {"out_size": 64, "num_style_feat": 16, "narrow": 0.0625, "channel_multiplier": 1, "num_mlp": 2}
TINY_GPEN = {"out_size": 64, "style_dim": 16, "n_mlp": 2, "channel_multiplier": 2, "narrow": 0.0625}
ARCHS = {"clean": (GFPGANv1Clean, TINY), "v1": (GFPGANv1, TINY), "gpen": (GPENGenerator, TINY_GPEN)}


def tiny_generator(arch: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    cls, kwargs = ARCHS[arch]
    return cls(**kwargs)


def export_generator(path: Path, arch: str, seed: int = 0) -> Path:
    """A tiny random generator saved as train.py exports it (params_ema + constructor spec)."""
    model = tiny_generator(arch, seed)
    torch.save({"params_ema": model.state_dict(), "gpen_generator": {"arch": arch, "kwargs": ARCHS[arch][1]}}, path)
    return path


def astronaut() -> np.ndarray:
    return skimage.data.astronaut()  # (512, 512, 3) uint8, one face


def grace_hopper() -> np.ndarray:
    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    return (read_image(path) * 255).round().astype(np.uint8)  # (600, 512, 3), one face


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Input folder: the two photos, a two-face collage, 16-bit grey and RGBA copies, a photo with no
    face and a corrupt file."""
    folder = tmp_path_factory.mktemp("photos")
    write_image(folder / "astronaut.png", astronaut())
    (folder / "grace_hopper.jpg").write_bytes(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).read_bytes())
    hopper = cv2.resize(grace_hopper(), (384, 450), interpolation=cv2.INTER_AREA)
    collage = np.full((512, 960, 3), 128, np.uint8)
    collage[:, :512], collage[31:481, 560:944] = astronaut(), hopper
    write_image(folder / "collage.png", collage)
    grey16 = (cv2.cvtColor(astronaut(), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "grey16.png"), grey16)
    rgba = np.dstack([grace_hopper(), np.full((600, 512), 255, np.uint8)])
    cv2.imwrite(str(folder / "rgba.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    noface = np.tile(np.linspace(30, 220, 320, dtype=np.uint8)[None, :, None], (240, 1, 3))
    write_image(folder / "noface.png", noface)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return folder


@pytest.fixture(scope="module")
def clean_run(photos, tmp_path_factory):
    """gpen-restore with a GFPGANv1Clean export at -s 1, writing into a folder inside the input folder."""
    model = export_generator(tmp_path_factory.mktemp("model") / "generator_ema.pth", "clean")
    before = {p.name: sha(p) for p in photos.iterdir()}
    output = photos / "results"
    assert restore_main(["-i", str(photos), "-o", str(output), "-m", str(model), "-s", "1", "--ext", "png", "--quiet"]) == 0
    return output, before, json.loads((output / "faces.json").read_text())


def test_each_photo_has_its_faces_in_faces_json(clean_run):
    _, _, report = clean_run
    counts = {name: len(entry["faces"]) for name, entry in report["images"].items()}
    assert counts == {"astronaut.png": 1, "grace_hopper.jpg": 1, "collage.png": 2, "grey16.png": 1,
                      "rgba.png": 1, "noface.png": 0}
    face = report["images"]["astronaut.png"]["faces"][0]
    assert np.array(face["landmarks"]).shape == (5, 2) and face["score"] > 0.95
    x1, y1, x2, y2 = face["box"]
    assert 150 < x1 < x2 < 300 and 40 < y1 < y2 < 200  # the astronaut's face, upper middle


def test_bad_and_faceless_inputs_are_listed_and_inputs_untouched(clean_run, photos):
    output, before, report = clean_run
    assert list(report["skipped"]) == ["corrupt.jpg"] and "corrupt" in report["skipped"]["corrupt.jpg"]
    assert report["no_face"] == ["noface.png"]
    assert read_image(output / "restored_imgs" / "noface.png").shape == (240, 320, 3)  # still written
    assert {p.name: sha(p) for p in photos.iterdir() if p.is_file()} == before


def test_outputs_keep_size_and_leave_far_pixels_unchanged(clean_run, photos):
    output, _, report = clean_run
    for name in ("astronaut.png", "grace_hopper.jpg", "collage.png"):
        restored = cv2.imread(str(output / "restored_imgs" / Path(name).with_suffix(".png")))[:, :, ::-1]
        original = cv2.imread(str(photos / name))[:, :, ::-1]
        assert restored.shape == original.shape
        changed = np.abs(restored.astype(int) - original.astype(int)).max(axis=2) > 0
        far = np.ones(changed.shape, bool)
        for face in report["images"][name]["faces"]:  # keep out a generous square around each face
            x1, y1, x2, y2 = face["box"]
            r = 1.5 * max(x2 - x1, y2 - y1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            far[max(0, int(cy - r)):int(cy + r), max(0, int(cx - r)):int(cx + r)] = False
        assert not changed[far].any(), name
        assert changed[~far].any(), name  # the face itself was replaced
    for sub in ("cropped_faces", "restored_faces"):
        assert read_image(output / sub / "collage_01.png").shape == (64, 64, 3)
    assert read_image(output / "cmp" / "collage_01.png").shape == (64, 128, 3)


def test_output_inside_input_is_not_reread_and_reruns_need_overwrite(clean_run, photos):
    output, _, _ = clean_run
    with pytest.raises(SystemExit, match="not empty; pass --overwrite"):
        restore_main(["-i", str(photos), "-o", str(output), "-m", "unused.pth"])
    with pytest.raises(SystemExit, match="is the input folder"):
        restore_main(["-i", str(photos), "-o", str(photos), "-m", "unused.pth"])
    with pytest.raises(SystemExit, match="lies in an output folder"):
        restore_main(["-i", str(output / "restored_imgs"), "-o", str(output), "-m", "x.pth", "--overwrite"])


@pytest.mark.parametrize("arch", ["v1", "gpen"])
def test_upscale_with_the_original_gfpgan_and_gpen_architectures(tmp_path, arch):
    model = export_generator(tmp_path / f"{arch}.pth", arch)
    write_image(tmp_path / "astronaut.png", astronaut())
    output = tmp_path / "out"
    assert restore_main(["-i", str(tmp_path / "astronaut.png"), "-o", str(output), "-m", str(model),
                         "-s", "2", "--only-center-face", "--ext", "jpg", "--quiet"]) == 0
    restored = read_image(output / "restored_imgs" / "astronaut.jpg")
    assert restored.shape == (1024, 1024, 3)
    report = json.loads((output / "faces.json").read_text())
    assert len(report["images"]["astronaut.png"]["faces"]) == 1


def test_aligned_input_restores_the_crop(clean_run, tmp_path):
    output, _, _ = clean_run
    crop_dir = tmp_path / "crops"
    crop_dir.mkdir()
    (crop_dir / "face.png").write_bytes((output / "cropped_faces" / "astronaut_00.png").read_bytes())
    model = export_generator(tmp_path / "g.pth", "clean")
    assert restore_main(["-i", str(crop_dir), "-o", str(tmp_path / "out"), "-m", str(model), "--aligned",
                         "--quiet"]) == 0
    report = json.loads((tmp_path / "out" / "faces.json").read_text())
    assert report["images"]["face.png"]["faces"][0]["aligned_input"] is True
    assert read_image(tmp_path / "out" / "restored_faces" / "face_00.png").shape == (64, 64, 3)
    assert not (tmp_path / "out" / "restored_imgs").exists()


def test_a_file_that_is_not_a_generator_is_one_clear_error(tmp_path):
    write_image(tmp_path / "a.png", astronaut()[:64, :64])
    torch.save({"params_ema": {"conv.weight": torch.zeros(3, 3)}}, tmp_path / "other.pth")
    (tmp_path / "image.pth").write_bytes((tmp_path / "a.png").read_bytes())
    for model in ("other.pth", "image.pth", "missing.pth"):
        with pytest.raises(SystemExit, match=f"-m {tmp_path / model} is not a usable generator"):
            restore_main(["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / model / "out"),
                          "-m", str(tmp_path / model)])


# ------------------------------------------------------------------------------------ API level
def identity_restorer(detector=None, **kwargs) -> PhotoRestorer:
    return PhotoRestorer(lambda faces: faces, 128, TEMPLATE_5POINT_512 / 4, detector=detector, **kwargs)


def test_identity_restoration_gives_the_photo_back_without_shift_or_seam():
    """Align -> paste back with an identity 'restoration' returns the photo up to resampling blur (two
    bilinear resamplings ~ a Gaussian of sigma 0.7), not shifted by even half a pixel, with no seam."""
    photo = astronaut()
    result = PhotoRestorer(lambda faces: faces, 512, TEMPLATE_5POINT_512, detector=MTCNNDetector()).restore(photo)
    assert len(result.faces) == 1
    face = (slice(90, 150), slice(195, 255))  # eyes to mouth

    def error(dx: float, dy: float) -> float:
        shifted = cv2.warpAffine(cv2.GaussianBlur(photo.astype(np.float32), (0, 0), 0.7),
                                 np.float32([[1, 0, dx], [0, 1, dy]]), (512, 512))
        return float(np.abs(result.image[face] - shifted[face]).mean())

    assert error(0, 0) < 1.5
    assert all(error(dx, dy) > 2 * error(0, 0) for dx, dy in [(0.5, 0), (-0.5, 0), (0, 0.5), (0, -0.5)])
    assert np.abs(result.image.astype(float) - photo).mean() < 0.2  # the rest is untouched


def test_huge_photo_detects_on_a_downscaled_copy():
    photo = np.full((4000, 6000, 3), 90, np.uint8)
    photo[1000:2536, 2000:3536] = cv2.resize(astronaut(), (1536, 1536), interpolation=cv2.INTER_CUBIC)
    detector = MTCNNDetector(max_side=800)
    seen, network_detect = [], detector.mtcnn.detect  # record what the network is given
    detector.mtcnn.detect = lambda image, landmarks: (seen.append(image.shape), network_detect(image, landmarks))[1]
    result = identity_restorer(detector, upscale=1).restore(photo)
    assert seen[-1][:2] == (533, 800)  # the network saw the downscaled copy
    assert result.image.shape == photo.shape and len(result.faces) == 1
    x1, y1, x2, y2 = result.faces[0].detection.box  # boxes come back in full-size pixels
    assert 2000 + 3 * 150 < x1 < x2 < 2000 + 3 * 300 and 1000 + 3 * 40 < y1 < y2 < 1000 + 3 * 200
    assert (result.image[:900] == 90).all()  # far from the face: untouched


def test_face_template_follows_the_generator():
    for arch in ARCHS:
        expected = GPEN_TEMPLATE_512 if arch == "gpen" else TEMPLATE_5POINT_512
        np.testing.assert_allclose(face_template(tiny_generator(arch)), np.asarray(expected) / 8, rtol=1e-6)


def test_similarity_transform_recovers_a_rotation_and_scale():
    angle, scale, shift = 0.3, 1.7, np.array([40.0, -12.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = TEMPLATE_5POINT_512 @ rotation.T + shift
    affine = similarity_transform(landmarks, TEMPLATE_5POINT_512)
    np.testing.assert_allclose(landmarks @ affine[:, :2].T + affine[:, 2], TEMPLATE_5POINT_512, atol=1e-6)


def test_ellipse_mask_is_soft_and_covers_the_face():
    mask = ellipse_mask(128, TEMPLATE_5POINT_512 / 4)
    assert mask[75, 64] == 1.0 and mask[2, 2] == 0.0 and mask[64, 2] == 0.0  # nose area in, corners out
    column = mask[75:, 64]  # from the nose down past the chin: 1, a smooth fall, then 0
    assert column[0] == 1.0 and column[-1] == 0.0 and (np.diff(column) <= 0).all()
    assert ((column > 0.05) & (column < 0.95)).sum() >= 5  # feathered over several pixels, not a hard edge


def test_parsing_mask_and_detector_weights_load_from_files(tmp_path):
    from facexlib.parsing.bisenet import BiSeNet

    torch.manual_seed(0)
    torch.save(BiSeNet(num_class=19).state_dict(), tmp_path / "bisenet.pth")
    parser = FaceParser.load(tmp_path / "bisenet.pth", "bisenet")
    restorer = identity_restorer(MTCNNDetector(), parser=parser)
    result = restorer.restore(astronaut())
    assert result.image.shape == (512, 512, 3) and len(result.faces) == 1
    write_image(tmp_path / "x.png", astronaut()[:64, :64])
    with pytest.raises(SystemExit, match="face-parsing weights not found"):
        restore_main(["-i", str(tmp_path / "x.png"), "-o", str(tmp_path / "out"), "-m",
                      str(export_generator(tmp_path / "g.pth", "clean")), "--parsing-weights", str(tmp_path / "nope.pth")])
    with pytest.raises(FileNotFoundError, match="RetinaFace weights not found.*--detector mtcnn"):
        RetinaFaceDetector(tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="needs its weights file"):
        build_detector("retinaface")


def test_retinaface_loads_its_weights_from_a_file_and_returns_faces(tmp_path):
    from facexlib.detection.retinaface import RetinaFace

    torch.manual_seed(0)
    torch.save(RetinaFace(network_name="mobile0.25", half=False, device="cpu").state_dict(), tmp_path / "rf.pth")
    detector = build_detector("retinaface-mobile", tmp_path / "rf.pth", threshold=0.0, max_side=64)
    faces = detector.detect(astronaut())  # random weights: any boxes, in photo pixels, best first
    assert faces and all(f.landmarks.shape == (5, 2) and f.box.shape == (4,) for f in faces)
    assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
    torch.save({"params": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(CheckpointMismatchError, match="does not fit RetinaFace"):
        build_detector("retinaface-mobile", tmp_path / "other.pth")


def test_restore_faces_is_one_injectable_callable_called_per_batch():
    photo = np.full((512, 960, 3), 128, np.uint8)
    photo[:, :512] = astronaut()
    photo[31:481, 560:944] = cv2.resize(grace_hopper(), (384, 450), interpolation=cv2.INTER_AREA)
    calls = []

    def darken(faces: torch.Tensor) -> torch.Tensor:
        calls.append((tuple(faces.shape), faces.dtype, float(faces.min()), float(faces.max())))
        return faces * 0 - 1  # black faces

    result = PhotoRestorer(darken, 64, TEMPLATE_5POINT_512 / 8, detector=MTCNNDetector(), batch_size=1).restore(photo)
    assert [c[0] for c in calls] == [(1, 3, 64, 64)] * 2 and all(c[1] == torch.float32 for c in calls)
    assert all(-1.0 <= c[2] and c[3] <= 1.0 for c in calls)
    assert all((face.restored == 0).all() for face in result.faces)
    for face in result.faces:  # each face is darkened where its landmarks are
        x, y = face.detection.landmarks[2].round().astype(int)  # nose tip
        assert result.image[y, x].max() < 10
    with pytest.raises(ValueError, match="restore_faces returned shape"):
        PhotoRestorer(lambda f: f[:, :, :32], 64, TEMPLATE_5POINT_512 / 8).restore_aligned(astronaut())


def test_restore_presets_and_set_reach_the_faces_as_in_evaluation(clean_run, tmp_path):
    """--preset/--set build the shared restore block; the restored face is what restore_aligned gives."""
    output, _, _ = clean_run
    crops = tmp_path / "crops"
    crops.mkdir()
    (crops / "face.png").write_bytes((output / "cropped_faces" / "astronaut_00.png").read_bytes())
    model = export_generator(tmp_path / "g.pth", "clean")
    sets = ["--set", "region_weights.eyes=0.5", "--set", "keep_grain=true", "--sft-strength", "0.5"]
    assert restore_main(["-i", str(crops), "-o", str(tmp_path / "out"), "-m", str(model), "--aligned", "--quiet",
                         *sets]) == 0
    report = json.loads((tmp_path / "out" / "faces.json").read_text())
    assert report["restore"]["region_weights"]["eyes"] == 0.5 and report["restore"]["keep_grain"] is True
    assert report["restore"]["sft_strength"] == 0.5
    settings = RestoreSettings.from_mapping(report["restore"])
    face = torch.from_numpy(read_image(crops / "face.png")).permute(2, 0, 1)[None] * 2 - 1  # (1, 3, 64, 64)
    with torch.no_grad():
        generator = load_generator(model)
        landmarks = torch.as_tensor(face_template(generator), dtype=torch.float32)[None]  # (1, 5, 2)
        expected = restore_aligned(generator, face, settings, landmarks=landmarks).clamp(-1, 1)
    written = torch.from_numpy(read_image(tmp_path / "out" / "restored_faces" / "face_00.png")).permute(2, 0, 1)
    assert (written * 2 - 1 - expected[0]).abs().max() <= 1.01 / 127.5  # equal up to 8-bit rounding
    with pytest.raises(SystemExit, match="unknown restore setting"):
        restore_main(["-i", str(crops), "-o", str(tmp_path / "o2"), "-m", str(model), "--set", "+colour=1"])
    with pytest.raises(SystemExit, match="--preset nope: no .*presets: .*film_scan"):
        restore_main(["-i", str(crops), "-o", str(tmp_path / "o3"), "-m", str(model), "--preset", "nope"])
    with pytest.raises(SystemExit, match="restore.latent_step_decay"):
        restore_main(["-i", str(crops), "-o", str(tmp_path / "o4"), "-m", str(model), "--set", "latent_step_decay=3"])


def test_documented_gpen_restore_commands_parse():
    """Every `gpen-restore ...` line in the README and docs/ uses flags and presets that exist."""
    import shlex

    from gpen.cli.restore import parse_args, restore_presets

    root = Path(__file__).resolve().parents[1]
    lines = [line.strip() for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]
             for line in page.read_text().splitlines() if line.strip().startswith("gpen-restore ")]
    assert len(lines) >= 4
    for line in lines:
        args = parse_args(shlex.split(line.split("  #")[0])[1:])
        assert Path(args.preset).suffix == ".yaml" or args.preset in restore_presets(), line


@pytest.mark.parametrize("orientation", [3, 6, 7, 8])
def test_photos_are_read_upright_by_their_exif_orientation(tmp_path, orientation):
    from PIL import Image, ImageOps

    from gpen.cli.restore import read_photo

    pixels = np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.save(tmp_path / "p.png", exif=exif)
    image = Image.fromarray(pixels)
    image.getexif()[0x0112] = orientation
    np.testing.assert_array_equal(read_photo(tmp_path / "p.png"), np.asarray(ImageOps.exif_transpose(image)))
