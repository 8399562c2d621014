"""Whole-photo restoration speed, end to end at 512: gpen's PhotoRestorer vs the official GFPGANer.

What is compared, paired in one run (pipelines alternate, their order rotating every repeat):

- the same generator weights: a randomly initialised GFPGANv1Clean in the released v1.3/v1.4
  configuration (512 px, channel multiplier 2, CS-SFT), saved once and loaded by both (ours through
  `load_generator`, the official one by `GFPGANer(arch="clean")`);
- the same detector: our MTCNN (facenet-pytorch). The official helper wants RetinaFace weights that
  cannot be downloaded here, so its `get_face_landmarks_5` is replaced by a call to the same MTCNN
  object that fills its landmark and box lists; everything after detection (LMEDS alignment, per-face
  forward, parsing-mask paste-back, Lanczos background upscale) is the official code, unchanged;
- the same face-parsing network: facexlib's ParseNet with one set of random weights, given to both
  (the official helper always parses; ours does when given weights). "ours (ellipse mask)" is our
  default, which skips the parsing network.

Times are seconds per photo (median over repeats) and seconds per face (total time / faces), from an
RGB array in memory to the restored photo in memory (no file I/O), upscale -s 2 (GFPGAN's default).

    pip install --no-deps --target /tmp/ref gfpgan==1.3.8 basicsr==1.4.2
    PYTHONPATH=/tmp/ref python experiments/bench_restore.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
import torch
from matplotlib import cbook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gpen.models import GFPGANv1Clean, load_generator
from gpen.photo import MTCNNDetector, PhotoRestorer
from gpen.restore.masks import FaceParser
from gpen.utils.image_io import read_image
from gpen.utils.machine import describe_machine

RELEASED_CLEAN = {"out_size": 512, "num_style_feat": 512, "channel_multiplier": 2, "num_mlp": 8,
                  "input_is_latent": True, "different_w": True, "narrow": 1, "sft_half": True, "fix_decoder": False}


def photos() -> dict[str, np.ndarray]:
    """RGB uint8 photos: astronaut (1 face), Grace Hopper (1 face), a collage of both (2 faces)."""
    astronaut = skimage.data.astronaut()
    hopper = (read_image(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) * 255).round().astype(np.uint8)
    collage = np.full((512, 960, 3), 128, np.uint8)
    collage[:, :512] = astronaut
    collage[31:481, 560:944] = cv2.resize(hopper, (384, 450), interpolation=cv2.INTER_AREA)
    return {"astronaut": astronaut, "grace_hopper": hopper, "collage": collage}


def import_gfpganer():
    """The official GFPGANer from PYTHONPATH, with the import shims of the parity checks."""
    import check_official_parity as parity

    parity.import_official(parity.load_v1_checker())  # namespace packages, CPU fused ops, arch_util
    utils = sys.modules["basicsr.utils"]
    img_util = importlib.import_module("basicsr.utils.img_util")
    utils.img2tensor, utils.tensor2img = img_util.img2tensor, img_util.tensor2img
    importlib.import_module("basicsr.utils.download_util")
    return importlib.import_module("gfpgan.utils").GFPGANer


def official_restorer(model: Path, parse_net: torch.nn.Module, detector: MTCNNDetector, upscale: int):
    """GFPGANer with no download: detection by `detector`, parsing by `parse_net`."""
    import facexlib.utils.face_restoration_helper as helper_module

    GFPGANer = import_gfpganer()
    helper_module.init_detection_model = lambda *a, **k: None  # replaced below by MTCNN
    helper_module.init_parsing_model = lambda *a, **k: parse_net
    restorer = GFPGANer(str(model), upscale=upscale, arch="clean", channel_multiplier=2, device=torch.device("cpu"))
    helper = restorer.face_helper

    def mtcnn_landmarks_5(only_center_face=False, eye_dist_threshold=None, **unused):
        for face in detector.detect(np.ascontiguousarray(helper.input_img[:, :, ::-1])):  # BGR -> RGB
            helper.all_landmarks_5.append(face.landmarks.astype(np.float32))
            helper.det_faces.append(np.append(face.box, face.score).astype(np.float32))
        return len(helper.all_landmarks_5)

    helper.get_face_landmarks_5 = mtcnn_landmarks_5
    return lambda rgb: restorer.enhance(np.ascontiguousarray(rgb[:, :, ::-1]), paste_back=True)[2][:, :, ::-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--upscale", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="bench_restore_"))
    model, parse_file = work / "GFPGAN_random_v1.4_layout.pth", work / "parsenet_random.pth"
    torch.save({"params_ema": GFPGANv1Clean(**RELEASED_CLEAN).state_dict()}, model)
    parse_net = FaceParser.build_network("parsenet").eval()
    torch.save(parse_net.state_dict(), parse_file)
    detector = MTCNNDetector()

    generator = load_generator(model)
    pipelines = {
        "ours (parsing)": PhotoRestorer.from_generator(
            generator, detector=detector, upscale=args.upscale, parser=FaceParser.load(parse_file, "parsenet")),
        "ours (ellipse mask)": PhotoRestorer.from_generator(generator, detector=detector, upscale=args.upscale),
    }
    pipelines = {name: (lambda rgb, r=restorer: r.restore(rgb).image) for name, restorer in pipelines.items()}
    pipelines["official GFPGANer"] = official_restorer(model, parse_net, detector, args.upscale)
    images = photos()
    faces = {name: len(detector.detect(img)) for name, img in images.items()}
    outputs = {}
    for name, restore in pipelines.items():  # warm-up, and the outputs for a sanity comparison
        outputs[name] = {photo: restore(img) for photo, img in images.items()}
    times = {name: {photo: [] for photo in images} for name in pipelines}
    order = list(pipelines)
    for r in range(args.repeats):
        for photo, img in images.items():
            for name in order[r % len(order):] + order[:r % len(order)]:
                start = time.perf_counter()
                pipelines[name](img)
                times[name][photo].append(time.perf_counter() - start)

    print(f"machine: {describe_machine('cpu')} (shared machine: other jobs were running)")
    print(f"faces per photo: {faces}; upscale {args.upscale}; {args.repeats} repeats after 1 warm-up\n")
    print("| pipeline | " + " | ".join(f"{p} s/photo" for p in images) + " | s/face (all) |")
    print("|---" * (len(images) + 2) + "|")
    per_face = {}
    for name in pipelines:
        medians = [statistics.median(times[name][p]) for p in images]
        per_face[name] = sum(sum(times[name][p]) for p in images) / (args.repeats * sum(faces.values()))
        print(f"| {name} | " + " | ".join(f"{m:.2f}" for m in medians) + f" | {per_face[name]:.2f} |")
    official = per_face["official GFPGANer"]
    for name in ("ours (parsing)", "ours (ellipse mask)"):
        print(f"official / {name}: {official / per_face[name]:.2f}x time per face")
    for photo in images:
        diff = np.abs(outputs["ours (parsing)"][photo].astype(float) - outputs["official GFPGANer"][photo]).mean()
        print(f"{photo}: mean |ours (parsing) - official| = {diff:.2f} / 255 (alignment: least squares vs LMEDS)")


if __name__ == "__main__":
    main()
