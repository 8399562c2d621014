"""`gpen-restore`: restore the faces in photos (detect, align, restore, paste back).

    gpen-restore -i photos/ -o results/ -m GFPGANv1.4.pth -s 2

INPUT is an image or a folder of images (only read; sub-folders are not entered). OUTPUT gets, as
GFPGAN's command writes them:

    restored_imgs/<name>.<ext>       the whole photo, faces restored, upscaled by -s
    cropped_faces/<name>_<k>.png     the aligned input faces
    restored_faces/<name>_<k>.png    the restored faces
    cmp/<name>_<k>.png               aligned input | restored, side by side
    faces.json                       per photo: boxes, landmarks, scores; skipped files; photos with no face

See docs/photo_restoration.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from gpen.models.templates import face_template
from gpen.photo.detect import DETECTORS
from gpen.photo.pipeline import (
    PhotoRestorer,
    PhotoResult,
    RestoreFaces,
    generator_restore_faces,
    to_uint8_rgb,
)
from gpen.restore import RestoreSettings, load_face_parser, restore_aligned
from gpen.restore.masks import FaceParser
from gpen.utils.image_io import IMAGE_SUFFIXES, UnreadableImageError, list_images, read_image, write_image
from gpen.utils.validation import ConfigValueError

log = logging.getLogger("gpen-restore")
SUBFOLDERS = ("restored_imgs", "cropped_faces", "restored_faces", "cmp")
FACES_FILE = "faces.json"
FORMAT = "gpen-faces/v1"
EXIF_ORIENTATION_TAG = 0x0112
#: Named restore presets (the `restore` config group of evaluate.py)
RESTORE_PRESETS = Path(__file__).resolve().parents[2] / "configs" / "restore"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gpen-restore", description=__doc__.split("\n")[0])
    p.add_argument("-i", "--input", type=Path, required=True, help="image file or folder of images (only read)")
    p.add_argument("-o", "--output", type=Path, default=Path("results"), help="output folder (default: results)")
    p.add_argument("-m", "--model", required=True,
                   help="generator file: our checkpoint/export or a released GFPGAN file (a bare name is looked "
                        "up in experiments/pretrained_models/)")
    p.add_argument("-s", "--upscale", type=float, default=2, help="output size = input size x this (default: 2)")
    p.add_argument("--aligned", action="store_true", help="inputs are already aligned faces")
    p.add_argument("--only-center-face", "--only_center_face", action="store_true", dest="only_center_face",
                   help="restore only the face nearest the centre of each photo")
    p.add_argument("--ext", default="auto", help="restored photo format: auto (as the input), png, jpg, ...")
    p.add_argument("--suffix", default=None, help="suffix of restored photos and faces, e.g. 'restored'")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda if present), cpu, cuda:0, ...")
    p.add_argument("--batch-size", type=int, default=4, help="faces per generator call (default: 4)")
    knobs = p.add_argument_group("restore knobs (docs/knobs.md)")
    knobs.add_argument("--preset", default="default",
                       help=f"restore preset: a name in configs/restore/ ({', '.join(restore_presets())}) "
                            "or a YAML file (default: default, the plain feed-forward model)")
    knobs.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                       help="override one restore setting, e.g. --set latent_steps=10 --set region_weights.eyes=1.3 "
                            "(repeatable)")
    knobs.add_argument("--sft-strength", type=float, default=None,
                       help="fidelity knob alpha of GFP-GAN models, same as --set sft_strength=X")
    det = p.add_argument_group("detection and paste-back")
    det.add_argument("--detector", choices=DETECTORS, default="mtcnn",
                     help="mtcnn (default, weights ship with facenet-pytorch) or retinaface[-mobile] (need weights)")
    det.add_argument("--detector-weights", type=Path, default=None,
                     help="RetinaFace file: detection_Resnet50_Final.pth (retinaface) or "
                          "detection_mobilenet0.25_Final.pth (retinaface-mobile)")
    det.add_argument("--detector-threshold", type=float, default=None, help="minimum face score (mtcnn 0.95)")
    det.add_argument("--min-face-size", type=int, default=20, help="smallest face MTCNN looks for, in px")
    det.add_argument("--detect-max-side", type=int, default=1600,
                     help="larger photos are detected on a copy downscaled to this longest side")
    det.add_argument("--parsing-weights", type=Path, default=None,
                     help="face-parsing file for the paste mask and region weights, same as --set parser_path=FILE "
                          "(default: masks from the landmark template)")
    det.add_argument("--parsing-net", choices=("bisenet", "parsenet"), default=None,
                     help="which facexlib network --parsing-weights holds (default: bisenet)")
    p.add_argument("--overwrite", action="store_true", help="write into an existing, non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p.parse_args(argv)


# -------------------------------------------------------------------------------- inputs and outputs
def collect_inputs(source: Path) -> list[Path]:
    """The image files to restore: `source` itself, or the images directly inside the folder."""
    if source.is_file():
        return [source]
    if source.is_dir():
        return list_images(source)
    raise SystemExit(f"error: --input {source} does not exist")


def check_output(output: Path, source: Path, inputs: list[Path], overwrite: bool) -> None:
    """Refuse an output that would write over inputs, or over earlier results without --overwrite."""
    output = output.resolve()
    if source.is_dir() and output == source.resolve():
        raise SystemExit(f"error: --output {output} is the input folder; choose another (e.g. {output}/results)")
    reserved = [output / name for name in SUBFOLDERS]
    for path in inputs:
        if any(path.resolve().is_relative_to(folder) for folder in reserved):
            raise SystemExit(f"error: input {path} lies in an output folder of {output}; choose another --output")
    if output.exists() and not output.is_dir():
        raise SystemExit(f"error: --output {output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise SystemExit(f"error: --output {output} is not empty; pass --overwrite to write into it")


#: EXIF orientation tag value -> the array operation that shows the photo upright
EXIF_ORIENTATION = {
    2: lambda x: x[:, ::-1], 3: lambda x: x[::-1, ::-1], 4: lambda x: x[::-1], 5: lambda x: x.transpose(1, 0, 2),
    6: lambda x: np.rot90(x, -1), 7: lambda x: x[::-1, ::-1].transpose(1, 0, 2), 8: lambda x: np.rot90(x, 1),
}


def read_photo(path: Path) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file, turned upright by its EXIF orientation (as viewers show it)."""
    photo = to_uint8_rgb(read_image(path))
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except (OSError, ValueError):  # decodable by OpenCV but not by Pillow: no orientation to apply
        orientation = 1
    upright = EXIF_ORIENTATION.get(orientation)
    return photo if upright is None else np.ascontiguousarray(upright(photo))


def output_suffix(path: Path, ext: str) -> str:
    if ext != "auto":
        return "." + ext.lower().lstrip(".")
    return path.suffix.lower() if path.suffix.lower() in IMAGE_SUFFIXES else ".png"


def write_result(output: Path, path: Path, result: PhotoResult, ext: str, suffix: str | None) -> str | None:
    """Write the restored photo and every face's crops; returns the photo's path relative to `output`."""
    tail = f"_{suffix}" if suffix else ""
    for k, face in enumerate(result.faces):
        write_image(output / "cropped_faces" / f"{path.stem}_{k:02d}.png", face.cropped)
        write_image(output / "restored_faces" / f"{path.stem}_{k:02d}{tail}.png", face.restored)
        write_image(output / "cmp" / f"{path.stem}_{k:02d}.png", np.hstack([face.cropped, face.restored]))
    if result.image is None:
        return None
    name = Path("restored_imgs") / f"{path.stem}{tail}{output_suffix(path, ext)}"
    write_image(output / name, result.image)
    return str(name)


# -------------------------------------------------------------------------------- model and restorer
def restore_presets() -> list[str]:
    return sorted(p.stem for p in RESTORE_PRESETS.glob("*.yaml")) if RESTORE_PRESETS.is_dir() else []


def restore_settings(args: argparse.Namespace) -> RestoreSettings:
    """The validated restore block: the preset, then each --set, then the shortcut flags."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    preset = Path(args.preset)
    folder, name = (preset.parent, preset.stem) if preset.suffix in (".yaml", ".yml") else (RESTORE_PRESETS, args.preset)
    if not (folder / f"{name}.yaml").is_file():
        raise SystemExit(f"error: --preset {args.preset}: no {folder / (name + '.yaml')} "
                         f"(presets: {', '.join(restore_presets())}, or a YAML file)")
    try:
        with initialize_config_dir(config_dir=str(folder.resolve()), version_base=None):
            values = OmegaConf.to_container(compose(config_name=name, overrides=args.overrides), resolve=True)
        if args.sft_strength is not None:
            values["sft_strength"] = args.sft_strength
        if args.parsing_weights is not None:
            values["parser_path"] = str(args.parsing_weights)
        if args.parsing_net is not None:
            values["parser"] = args.parsing_net
        settings = RestoreSettings.from_mapping(values)
    except (HydraException, OmegaConfBaseException, ConfigValueError, ValueError) as err:
        raise SystemExit(f"error: restore settings (--preset {args.preset}, --set): {err}") from None
    return settings


def build_restore_faces(generator: torch.nn.Module, settings: RestoreSettings,
                        parser: FaceParser | None) -> RestoreFaces:
    """The per-face restoration: the shared restore path (fidelity, latent refinement, region blend, grain),
    the same function evaluate.py runs, so the same settings give the same faces."""
    if settings.is_feed_forward and settings.sft_strength == 1.0:
        return generator_restore_faces(generator)

    device = next(generator.parameters()).device
    # aligned crops have their landmarks on the model's template (GPEN's differs from FFHQ's): the
    # template region masks are placed there
    template = torch.as_tensor(face_template(generator), dtype=torch.float32, device=device)  # (5, 2)

    def restore_faces(faces: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) in [-1, 1]
        landmarks = template.expand(faces.shape[0], 5, 2)
        with torch.no_grad():  # latent refinement switches gradients on where it needs them
            return restore_aligned(generator, faces.to(device), settings, landmarks=landmarks,
                                   parser=parser).clamp(-1, 1)

    return restore_faces


def load_model(args: argparse.Namespace, device: torch.device) -> torch.nn.Module:
    from gpen.models.loading import CheckpointMismatchError, UnreadableCheckpointError, load_generator

    try:
        generator = load_generator(args.model, config_key="-m/--model")
    except (CheckpointMismatchError, UnreadableCheckpointError, FileNotFoundError, TypeError, ValueError) as err:
        raise SystemExit(f"error: -m {args.model} is not a usable generator:\n{err}") from None
    return generator.to(device)


def build_restorer(args: argparse.Namespace, settings: RestoreSettings, device: torch.device) -> PhotoRestorer:
    from gpen.photo.detect import build_detector

    generator = load_model(args, device)
    if settings.sft_strength != 1.0 and not hasattr(generator, "sft_strength"):
        raise SystemExit(f"error: sft_strength={settings.sft_strength} needs a generator with a fidelity knob; "
                         f"{type(generator).__name__} has none")
    detector = None
    try:
        if not args.aligned:
            options: dict[str, Any] = {"max_side": args.detect_max_side}
            if args.detector_threshold is not None:
                options["threshold"] = args.detector_threshold
            if args.detector == "mtcnn":
                options["min_face_size"] = args.min_face_size
            detector = build_detector(args.detector, args.detector_weights, device, **options)
        parser = load_face_parser(settings, device)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"error: {err}") from None
    return PhotoRestorer.from_generator(
        generator, build_restore_faces(generator, settings, parser), detector=detector, upscale=args.upscale,
        only_center_face=args.only_center_face, batch_size=args.batch_size, parser=parser)


# -------------------------------------------------------------------------------- main
def restore_all(restorer: PhotoRestorer, inputs: list[Path], args: argparse.Namespace,
                settings: RestoreSettings) -> dict[str, Any]:
    """Restore every input, write its outputs; returns the faces.json payload."""
    images: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for path in tqdm(inputs, desc="restore", unit="photo", disable=args.quiet):
        try:
            photo = read_photo(path)
        except UnreadableImageError as err:
            skipped[path.name] = str(err)
            continue
        result = restorer.restore_aligned(photo) if args.aligned else restorer.restore(photo)
        written = write_result(args.output, path, result, args.ext, args.suffix)
        images[path.name] = {
            "size": [photo.shape[1], photo.shape[0]],
            "status": "restored" if result.faces else "no face",
            "output": written,
            "faces": [{"index": k, **face.record()} for k, face in enumerate(result.faces)],
        }
    return {"format": FORMAT, "model": str(args.model), "upscale": args.upscale, "aligned": args.aligned,
            "restore": settings.to_dict(), "images": images, "skipped": skipped,
            "no_face": [name for name, entry in images.items() if entry["status"] == "no face"]}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.upscale <= 0 or args.batch_size < 1:
        raise SystemExit("error: -s/--upscale must be > 0 and --batch-size >= 1")
    inputs = collect_inputs(args.input)  # listed before anything is written, so outputs are never re-read
    check_output(args.output, args.input, inputs, args.overwrite)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = restore_settings(args)  # validated before anything heavy is loaded
    restorer = build_restorer(args, settings, torch.device(args.device))
    args.output.mkdir(parents=True, exist_ok=True)
    report = restore_all(restorer, inputs, args, settings)
    (args.output / FACES_FILE).write_text(json.dumps(report, indent=1))
    faces = sum(len(entry["faces"]) for entry in report["images"].values())
    log.info("restored %d face(s) in %d image(s) -> %s", faces, len(report["images"]), args.output)
    if report["no_face"]:
        log.warning("no face found in %d image(s) (written unchanged%s): %s", len(report["no_face"]),
                    ", upscaled" if args.upscale != 1 else "", ", ".join(report["no_face"]))
    if report["skipped"]:
        log.warning("skipped %d unreadable file(s):\n  %s", len(report["skipped"]),
                    "\n  ".join(report["skipped"].values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
