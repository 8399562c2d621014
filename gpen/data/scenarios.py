"""Scenario presets: the four kinds of real input of the texture-control study (docs/degradation.md).

Each is a degradation with the interface of `GFPGANDegradation`: `sample_params(rng)` draws every random
choice into a JSON-serialisable dict (noise fields from stored seeds), `apply(gt, params)` is a pure
function of the image and that dict, so datasets (`degradation=<name>`) and `gpen-make-testset --preset
NAME` seed them per (seed, epoch, index) like the official model. Ranges are in pixels of a 512 face
and scale with the image; `degradation_scale` s moves every part toward identity (s = 0: LQ = GT).
Each preset has a restore preset of the same name with the article's recommended knobs.

| preset | imitates | operations |
|---|---|---|
| early_digicam | 2000s ~3 MP camera JPEG | blur, downscale, sensor noise, in-camera sharpening, JPEG 4:2:0 |
| ai_generated | generated faces with defects | one eye enlarged, mouth shear, edge-preserving skin smoothing |
| film_scan | scanned film prints | blur, fade + yellow cast, luminance-dependent grain, scratches, dust |
| lowlight_phone | low-light phone selfies | under-exposure, Poisson-Gaussian + chroma noise, brightening, denoiser smear, chromatic aberration + purple fringe, motion blur |
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np

from gpen.data import scenario_ops as ops
from gpen.data.degradation import add_gaussian_noise, jpeg, quantize_8bit
from gpen.utils.validation import check_interval, check_range

Interval = Sequence[float]


class ScenarioDegradation:
    """Shared parts: the strength knob, range checks, draws in a fixed order, identity at s = 0."""

    name = "scenario"

    def __init__(self, degradation_scale: float = 1.0, **ranges: Interval) -> None:
        self.degradation_scale = float(check_range("degradation.degradation_scale", degradation_scale, 0.0, 1.5))
        self.ranges = {key: check_interval(f"degradation.{key}", value, -1e4, 1e4) for key, value in ranges.items()}

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One value per range, in the order of the constructor (sorted keys would change with renames)."""
        return {key: float(rng.uniform(*bounds)) for key, bounds in self.ranges.items()}

    def sample_params(self, rng: np.random.Generator) -> dict[str, Any]:
        values = self.draw(rng)
        seed = int(rng.integers(2**31))
        if self.degradation_scale == 0.0:
            return {"preset": self.name, "degradation_scale": 0.0, "identity": True}
        return {"preset": self.name, "degradation_scale": self.degradation_scale, "identity": False,
                "seed": seed, **self.scaled(values, self.degradation_scale)}

    def scaled(self, values: dict[str, float], s: float) -> dict[str, Any]:
        """Move each drawn value toward its identity value by s (subclasses)."""
        raise NotImplementedError

    def __call__(self, gt: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        params = self.sample_params(rng)
        return self.apply(gt, params), params

    def apply(self, gt: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        image = np.ascontiguousarray(gt, dtype=np.float32)
        if params["identity"]:
            return image.copy()
        return quantize_8bit(self.degrade(image, params, image.shape[1] / 512.0))

    def target(self, gt: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """The GT to train against: the scenarios never change it (the datasets' common contract)."""
        return gt

    def degrade(self, image: np.ndarray, p: dict[str, Any], px: float) -> np.ndarray:
        raise NotImplementedError


def toward(value: float, identity: float, s: float) -> float:
    return identity + (value - identity) * s


class EarlyDigicam(ScenarioDegradation):
    """2000s digital camera: optics blur, ~3 MP sensor (downscale), noise, sharpening halo, heavy JPEG 4:2:0."""

    name = "early_digicam"

    def __init__(self, degradation_scale: float = 1.0, downscale: Interval = (2.0, 4.0),
                 blur_sigma: Interval = (0.5, 1.5), noise_sigma: Interval = (2.0, 6.0),
                 sharpen_amount: Interval = (0.5, 1.5), sharpen_sigma: Interval = (1.0, 2.0),
                 jpeg_quality: Interval = (15, 45)) -> None:
        super().__init__(degradation_scale, downscale=downscale, blur_sigma=blur_sigma, noise_sigma=noise_sigma,
                         sharpen_amount=sharpen_amount, sharpen_sigma=sharpen_sigma, jpeg_quality=jpeg_quality)

    def scaled(self, v: dict[str, float], s: float) -> dict[str, Any]:
        return {"downscale": toward(v["downscale"], 1.0, s), "blur_sigma": v["blur_sigma"] * s,
                "noise_sigma": v["noise_sigma"] * s, "sharpen_amount": v["sharpen_amount"] * s,
                "sharpen_sigma": v["sharpen_sigma"], "jpeg_quality": round(toward(v["jpeg_quality"], 100.0, s))}

    def degrade(self, image: np.ndarray, p: dict[str, Any], px: float) -> np.ndarray:
        h, w = image.shape[:2]
        small = ops.resize(ops.gaussian(image, p["blur_sigma"] * px), w / p["downscale"], h / p["downscale"])
        small = add_gaussian_noise(small, p["noise_sigma"], p["seed"])
        small = ops.unsharp(small, p["sharpen_amount"], p["sharpen_sigma"] * px / p["downscale"])
        small = jpeg(small, p["jpeg_quality"])  # OpenCV's encoder: 4:2:0 chroma subsampling
        return ops.resize(small, w, h, cv2.INTER_CUBIC)


class AIGenerated(ScenarioDegradation):
    """Generated faces: one eye enlarged, a skewed mouth, waxy (edge-preserving smoothed) skin; full resolution."""

    name = "ai_generated"

    def __init__(self, degradation_scale: float = 1.0, eye_scale: Interval = (1.1, 1.4),
                 mouth_shear: Interval = (0.1, 0.3), smoothing: Interval = (0.6, 1.0),
                 smoothing_sigma_color: Interval = (0.08, 0.15)) -> None:
        super().__init__(degradation_scale, eye_scale=eye_scale, mouth_shear=mouth_shear, smoothing=smoothing,
                         smoothing_sigma_color=smoothing_sigma_color)

    def sample_params(self, rng: np.random.Generator) -> dict[str, Any]:
        params = super().sample_params(rng)
        eye, sign = int(rng.integers(2)), float(rng.choice([-1.0, 1.0]))
        if not params["identity"]:
            params["eye"] = eye
            params["mouth_shear"] *= sign
        return params

    def scaled(self, v: dict[str, float], s: float) -> dict[str, Any]:
        return {"eye_scale": toward(v["eye_scale"], 1.0, s), "mouth_shear": v["mouth_shear"] * s,
                "smoothing": min(1.0, v["smoothing"] * s), "smoothing_sigma_color": v["smoothing_sigma_color"]}

    def degrade(self, image: np.ndarray, p: dict[str, Any], px: float) -> np.ndarray:
        image = ops.local_warp(image, p["eye"], p["eye_scale"], p["mouth_shear"])
        waxy = cv2.bilateralFilter(image, d=-1, sigmaColor=p["smoothing_sigma_color"], sigmaSpace=max(1.0, 6 * px))
        weight = (p["smoothing"] * ops.face_mask(image.shape[1], 8 * px))[:, :, None]
        return image + weight * (waxy - image)


class FilmScan(ScenarioDegradation):
    """Scanned film print: print blur, contrast fade and yellow cast, film grain, scratches and dust."""

    name = "film_scan"

    def __init__(self, degradation_scale: float = 1.0, grain_sigma: Interval = (0.02, 0.06),
                 grain_px: Interval = (1.0, 2.0), contrast: Interval = (0.7, 0.9), yellow_cast: Interval = (0.04, 0.12),
                 scratches: Interval = (0, 3), dust: Interval = (5, 40), blur_sigma: Interval = (0.5, 2.0)) -> None:
        super().__init__(degradation_scale, grain_sigma=grain_sigma, grain_px=grain_px, contrast=contrast,
                         yellow_cast=yellow_cast, scratches=scratches, dust=dust, blur_sigma=blur_sigma)

    def scaled(self, v: dict[str, float], s: float) -> dict[str, Any]:
        return {"grain_sigma": v["grain_sigma"] * s, "grain_px": v["grain_px"],
                "contrast": toward(v["contrast"], 1.0, s), "yellow_cast": v["yellow_cast"] * s,
                "scratches": int(v["scratches"] * s + 0.5), "dust": int(v["dust"] * s), "blur_sigma": v["blur_sigma"] * s}

    def degrade(self, image: np.ndarray, p: dict[str, Any], px: float) -> np.ndarray:
        image = ops.gaussian(image, p["blur_sigma"] * px)
        image = ops.fade_and_cast(image, p["contrast"], p["yellow_cast"])
        image = ops.film_grain(image, p["grain_sigma"], p["grain_px"] * px, p["seed"])
        return ops.scratches_and_dust(image, p["scratches"], p["dust"], px, p["seed"] + 1)


class LowlightPhone(ScenarioDegradation):
    """Low-light selfie: under-exposure, Poisson-Gaussian and chroma noise, brightening, denoiser smear,
    lateral chromatic aberration with a purple fringe, hand-shake motion blur."""

    name = "lowlight_phone"

    def __init__(self, degradation_scale: float = 1.0, exposure: Interval = (0.2, 0.5),
                 photons: Interval = (40.0, 120.0), read_noise: Interval = (1.0, 4.0), chroma_noise: Interval = (0.02, 0.05),
                 smear: Interval = (0.5, 1.0), aberration: Interval = (0.025, 0.05), fringe: Interval = (0.05, 0.15),
                 motion_px: Interval = (5.0, 21.0)) -> None:
        super().__init__(degradation_scale, exposure=exposure, photons=photons, read_noise=read_noise,
                         chroma_noise=chroma_noise, smear=smear, aberration=aberration, fringe=fringe,
                         motion_px=motion_px)

    def sample_params(self, rng: np.random.Generator) -> dict[str, Any]:
        params = super().sample_params(rng)
        angle = float(rng.uniform(0.0, 180.0))
        if not params["identity"]:
            params["motion_angle"] = angle
        return params

    def scaled(self, v: dict[str, float], s: float) -> dict[str, Any]:
        return {"exposure": toward(v["exposure"], 1.0, s), "photons": v["photons"] / max(s, 1e-3) ** 2,
                "read_noise": v["read_noise"] * s, "chroma_noise": v["chroma_noise"] * s, "smear": min(1.0, v["smear"] * s),
                "aberration": v["aberration"] * s, "fringe": v["fringe"] * s, "motion_px": toward(v["motion_px"], 1.0, s)}

    def degrade(self, image: np.ndarray, p: dict[str, Any], px: float) -> np.ndarray:
        rng = np.random.default_rng(p["seed"])
        dark = image * p["exposure"]
        counts = rng.poisson(dark * p["photons"]).astype(np.float32) / p["photons"]  # shot noise
        dark = counts + rng.standard_normal(image.shape).astype(np.float32) * (p["read_noise"] / 255.0)
        dark = np.clip(dark, 0.0, 1.0).astype(np.float32)
        dark = A.ISONoise().apply(dark, color_shift=p["chroma_noise"], intensity=0.0, random_seed=p["seed"] + 1)
        bright = np.clip(dark / p["exposure"], 0.0, 1.0).astype(np.float32)
        smeared = cv2.bilateralFilter(bright, d=-1, sigmaColor=0.2, sigmaSpace=max(1.0, 4 * px))
        image = bright + p["smear"] * (smeared - bright)
        k = p["aberration"]
        image = A.ChromaticAberration().apply(image, primary_distortion_red=k, secondary_distortion_red=0.0,
                                     primary_distortion_blue=-k, secondary_distortion_blue=0.0)
        image = ops.purple_fringe(np.clip(image, 0.0, 1.0).astype(np.float32), p["fringe"])
        length = 1.0 + (p["motion_px"] - 1.0) * px
        if length >= 2.0:
            image = A.MotionBlur().apply(image, kernel=ops.motion_kernel(length, p["motion_angle"]))
        return image


#: Preset name -> class, for `gpen-make-testset --preset NAME` (training data uses configs/degradation/NAME.yaml).
PRESETS: dict[str, type[ScenarioDegradation]] = {
    cls.name: cls for cls in (EarlyDigicam, AIGenerated, FilmScan, LowlightPhone)}
