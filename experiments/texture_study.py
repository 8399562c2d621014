"""What each texture lever does on a trained generator (docs/knobs.md, "Measured evidence").

Makes a seeded paired test set of the built-in synthetic faces per scenario preset (the same code as
`gpen-make-testset --synthetic N --preset NAME`; region labels from the face renderer), restores it with
`--checkpoint` through `restore_aligned` (the path evaluate.py and gpen-restore run), sweeping each
knob one at a time around the scenario's restore preset (configs/restore/NAME.yaml, the article's
control version), and scores every setting with the metrics preset of evaluate.py (PSNR, SSIM,
LPIPS, Deg identity, NIQE, the texture measures on the whole face and the skin; a metric without its
weights, or not applicable at this size, is reported so), plus PSNR of the low-passed faces (the face
restored, grain aside) and the mean absolute distance (0-255) of the output to the input and to the
plain feed-forward output.

    python experiments/texture_study.py --checkpoint outputs/train/<run>/checkpoints/generator_ema.pth \
        --output outputs/texture_study [--faces 32] [--presets film_scan lowlight_phone]

Writes per preset <output>/<preset>/{testset/, restored/<setting>/, results.{md,csv,json}, study.md}, and
<output>/texture_study.md and texture_study.png (metric against knob, one column of panels per lever).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from gpen.cli.make_testset import write_synthetic_testset
from gpen.data.synthetic import render_face
from gpen.data.testsets import ImagePairs, collate_same_size
from gpen.metrics.api import evaluate_rows
from gpen.metrics.benchmark import PRESET_KEYS, write_batch
from gpen.metrics.report import ResultsTable
from gpen.restore import RestoreSettings, restore_aligned
from gpen.restore.filters import gaussian_blur
from gpen.utils.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
INPUT_ROW, PLAIN_ROW = "Input", "feed-forward"
TO_INPUT, TO_PLAIN = "L1 to input", "L1 to feed-forward"  # mean |a − b|, 0-255
LOW_PASS = "PSNR (low-pass)"
LEGEND = ("One knob at a time around the restore preset of the test set's scenario (its value in bold). "
          f"{LOW_PASS}: PSNR against the GT after a Gaussian blur of grain_sigma px on both (the face, grain "
          f"aside); {TO_INPUT} / {TO_PLAIN}: mean absolute difference (0-255) to the input and to the plain "
          "restore=default output. Texture measures: HF ratio 0 = the GT's high-frequency power, Grain 0 = "
          "the input's grain kept (docs/evaluation.md).")
FIGURE_METRICS = ("PSNR", LOW_PASS, "SSIM", "HF ratio (skin)", "Grain", "Grain (skin)", TO_INPUT)


@dataclass(frozen=True)
class Lever:
    """One knob of the restore block, swept alone: `apply(base, value)` gives the settings."""

    name: str
    values: tuple
    apply: Callable[[RestoreSettings, Any], RestoreSettings]


def _field(name: str) -> Callable[[RestoreSettings, Any], RestoreSettings]:
    return lambda settings, value: dataclasses.replace(settings, **{name: value})


def _skin_weight(settings: RestoreSettings, value: float) -> RestoreSettings:
    return dataclasses.replace(settings, region_weights={**settings.region_weights, "skin": value, "forehead": value})


def _grain_on(settings: RestoreSettings, value: float) -> RestoreSettings:
    return dataclasses.replace(settings, keep_grain=True, grain_strength=value)


LEVERS: tuple[Lever, ...] = (
    Lever("sft_strength α", (0.0, 0.5, 1.0, 1.5, 2.0), _field("sft_strength")),
    Lever("degradation_scale s", (0.0, 0.25, 0.5, 0.75, 0.9, 1.0, 1.25), _field("degradation_scale")),
    Lever("latent_step η", (0.0, 0.02, 0.03, 0.05, 0.1, 0.2), _field("latent_step")),
    Lever("latent_step_decay γ", (1.0, 0.9, 0.7, 0.5), _field("latent_step_decay")),
    Lever("latent_steps K", (0, 5, 10, 20), _field("latent_steps")),
    Lever("skin + forehead weight", (0.0, 0.25, 0.5, 0.75, 1.0, 1.3), _skin_weight),
    Lever("keep_grain", (False, True), _field("keep_grain")),
    Lever("grain_strength (keep_grain on)", (0.25, 0.5, 0.75, 1.0), _grain_on),
)


@dataclass
class StudyRow:
    lever: str
    value: Any
    is_base: bool
    cells: dict[str, float | str]


@dataclass
class Study:
    """One test set's sweep: the Input and feed-forward rows, then every (lever, value) row."""

    name: str
    metrics: list[str]
    base: RestoreSettings
    rows: list[StudyRow] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)   # metric -> why it gave no column
    seconds: float = 0.0

    def row(self, lever: str, value: Any) -> StudyRow:
        return next(r for r in self.rows if r.lever == lever and r.value == value)


# ------------------------------------------------------------------------------------------- settings
def restore_preset(name: str) -> RestoreSettings:
    """configs/restore/<name>.yaml (with its defaults), composed like gpen-restore --preset does."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "configs" / "restore"), version_base=None):
        return RestoreSettings.from_mapping(OmegaConf.to_container(compose(config_name=name), resolve=True))


def metrics_config(preset: str = "default") -> dict:
    """evaluate.py's metrics group; FID is left out (no meaning on a few dozen faces, and no statistics)."""
    cfg = OmegaConf.to_container(OmegaConf.load(ROOT / "configs" / "metrics" / f"{preset}.yaml"), resolve=True)
    cfg.pop("defaults", None)
    cfg["fid"] = None
    return cfg


def sweep_settings(base: RestoreSettings, levers: Sequence[Lever]) -> list[tuple[str, Any, RestoreSettings]]:
    """(lever, value, settings) for every value of every lever, the others at the base."""
    return [(lever.name, value, lever.apply(base, value)) for lever in levers for value in lever.values]


def _key(settings: RestoreSettings) -> str:
    return json.dumps(settings.to_dict(), sort_keys=True)


# ------------------------------------------------------------------------------------------- test set
def make_testset(folder: Path, preset: str, faces: int, size: int, seed: int) -> Path:
    """gpen-make-testset --synthetic faces --preset preset --size size --seed seed, into a new folder."""
    write_synthetic_testset(folder, faces, size, seed=seed, preset=preset)
    return folder


def load_testset(folder: Path) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """(names, inputs (N, 3, S, S) in [0, 1], region labels (N, S, S)) of a synthetic test set."""
    manifest = json.loads((folder / "manifest.json").read_text())
    data = ImagePairs(folder / "lq")
    by_name = {entry["name"].rsplit(".", 1)[0]: entry["source"] for entry in manifest["images"]}
    names, images, regions = [], [], []
    for item in data:
        source = by_name[item["name"]]
        if not source.startswith("synthetic:"):
            raise ValueError(f"{folder}/manifest.json: {item['name']} is not a synthetic face ({source}); "
                             "the study needs the renderer's region labels (gpen-make-testset --synthetic)")
        names.append(item["name"])
        images.append(item["image"])
        regions.append(torch.from_numpy(render_face(int(source.split(":")[1]), manifest["size"])[1]))
    return names, torch.stack(images), torch.stack(regions).long()


# ------------------------------------------------------------------------------------------- restore
@torch.no_grad()
def restore_into(generator: torch.nn.Module, names: list[str], inputs: torch.Tensor, regions: torch.Tensor,
                 settings: RestoreSettings, out_dir: Path, batch_size: int) -> Path:
    """restore_aligned on every face (with its region labels), written as <name>.png like evaluate.py."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(names), batch_size):
        part = slice(start, start + batch_size)
        faces = inputs[part] * 2 - 1
        write_batch(out_dir, names[part], restore_aligned(generator, faces, settings, regions=regions[part]))
    return out_dir


def mean_abs_distance(folder: Path, other: Path) -> float:
    """Mean |a − b| over all pixels, 0-255 scale, of same-named 8-bit images."""
    total, count = 0.0, 0
    for batch in DataLoader(ImagePairs(folder, other), batch_size=64, collate_fn=collate_same_size):
        total += (batch["image"] - batch["reference"]).abs().sum().item() * 255
        count += batch["image"].numel()
    return total / count


def low_pass_psnr(folder: Path, gt: Path, sigma: float) -> float:
    """Mean PSNR (dB) against the GT of both blurred by a Gaussian of `sigma` px: is the face restored,
    whatever happens to the grain (grain keeping works above this band)."""
    values = []
    for batch in DataLoader(ImagePairs(folder, gt), batch_size=64, collate_fn=collate_same_size):
        error = (gaussian_blur(batch["image"], sigma) - gaussian_blur(batch["reference"], sigma)).pow(2)
        values += (-10 * torch.log10(error.mean(dim=(1, 2, 3)).clamp_min(1e-10))).tolist()
    return sum(values) / len(values)


# ------------------------------------------------------------------------------------------- the study
def restore_all(generator: torch.nn.Module, testset: Path, settings: Sequence[RestoreSettings], out_dir: Path,
                batch_size: int, device: torch.device) -> dict[str, Path]:
    """Each distinct setting restored once into out_dir/setting_NN; settings key (JSON) -> folder."""
    names, inputs, regions = load_testset(testset)
    inputs, regions = inputs.to(device), regions.to(device)
    distinct = {}
    for s in settings:
        distinct.setdefault(_key(s), s)
    return {key: restore_into(generator, names, inputs, regions, s, out_dir / f"setting_{index:02d}", batch_size)
            for index, (key, s) in enumerate(distinct.items())}


def score_all(folders: dict[str, Path], testset: Path, plain_dir: Path, metrics_cfg: dict, sigma: float,
              batch_size: int, device: torch.device, progress: bool) -> ResultsTable:
    """evaluate.py's metrics on every folder and the inputs (row = folder name), plus the study's own columns."""
    gt, lq = testset / "gt", testset / "lq"
    rows = {INPUT_ROW: ImagePairs(lq, gt), **{folder.name: ImagePairs(folder, gt) for folder in folders.values()}}
    input_rows = {folder.name: ImagePairs(folder, lq) for folder in folders.values()}
    specs = [spec for key, spec in metrics_cfg.items() if key not in PRESET_KEYS and spec is not None]
    metrics = [hydra.utils.instantiate(spec) for spec in specs]
    table = ResultsTable([m.name for m in metrics], {row: {} for row in rows},
                         {"testset": str(testset), "settings": {f.name: json.loads(k) for k, f in folders.items()}})
    table = evaluate_rows(rows, metrics, device, batch_size, progress=progress, table=table, input_rows=input_rows)
    for row, data in rows.items():
        table.set(row, LOW_PASS, low_pass_psnr(data.folder, gt, sigma))
    for folder in folders.values():
        table.set(folder.name, TO_INPUT, mean_abs_distance(folder, lq))
        table.set(folder.name, TO_PLAIN, mean_abs_distance(folder, plain_dir))
    return table


def run_study(generator: torch.nn.Module, testset: Path, base: RestoreSettings, out_dir: Path,
              metrics_cfg: dict, levers: Sequence[Lever] = LEVERS, batch_size: int = 16,
              name: str | None = None, progress: bool = False, device: torch.device | str = "cpu") -> Study:
    """Restore `testset` (a synthetic paired set) for every lever value around `base` and score it;
    evaluate.py's results files go to `out_dir`, the restored faces to out_dir/restored/."""
    start, device = time.perf_counter(), torch.device(device)
    generator = generator.to(device).eval()
    plain, sweep = RestoreSettings(), sweep_settings(base, levers)
    folders = restore_all(generator, testset, [plain, *(s for _, _, s in sweep)], out_dir / "restored",
                          batch_size, device)
    table = score_all(folders, testset, folders[_key(plain)], metrics_cfg, base.grain_sigma, batch_size, device,
                      progress)
    table.write(out_dir)
    study = Study(name or testset.name, list(table.metrics), base, left_out=table.metadata.get("left_out_metrics", {}))
    study.rows.append(StudyRow(INPUT_ROW, "", False, table.rows[INPUT_ROW]))
    study.rows.append(StudyRow(PLAIN_ROW, "restore=default", False, table.rows[folders[_key(plain)].name]))
    for lever, value, s in sweep:
        study.rows.append(StudyRow(lever, value, _key(s) == _key(base), table.rows[folders[_key(s)].name]))
    study.seconds = time.perf_counter() - start
    return study


# ------------------------------------------------------------------------------------------- output
def _cell(value: float | str | None) -> str:
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.3f}"
    return "–" if value in (None, "") else "n/a"


def _value(value: Any) -> str:
    return {True: "on", False: "off"}.get(value, str(value)) if isinstance(value, bool) else str(value)


def describe_base(base: RestoreSettings) -> str:
    plain = RestoreSettings().to_dict()
    changed = {k: v for k, v in base.to_dict().items() if v != plain[k]}
    if "region_weights" in changed:
        changed["region_weights"] = {k: v for k, v in changed["region_weights"].items() if v != 1.0}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "the defaults"


def study_markdown(study: Study, preset: str | None = None) -> str:
    """One table: a row per (lever, value), base rows in bold, and a note per metric that gave no number."""
    title = f"### {study.name}" + (f" (base: restore={preset}: {describe_base(study.base)})" if preset else "")
    lines = [title, "", "| lever | value | " + " | ".join(study.metrics) + " |",
             "|---|---|" + "---|" * len(study.metrics)]
    for row in study.rows:
        value = f"**{_value(row.value)}**" if row.is_base else _value(row.value)
        lines.append(f"| {row.lever} | {value} | " + " | ".join(_cell(row.cells.get(m)) for m in study.metrics) + " |")
    reasons = {m: row.cells[m] for row in study.rows for m in study.metrics if isinstance(row.cells.get(m), str)}
    reasons |= study.left_out
    notes = [f"- {m}: {reason.splitlines()[0]}" for m, reason in reasons.items()]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def plot_studies(studies: dict[str, Study], path: Path, levers: Sequence[Lever] = LEVERS,
                 metrics: Sequence[str] = FIGURE_METRICS) -> Path:
    """Rows of panels = metrics, columns = levers; one line per test set, dotted = its feed-forward value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in metrics if any(isinstance(r.cells.get(m), float) for s in studies.values() for r in s.rows)]
    fig, axes = plt.subplots(len(metrics), len(levers), figsize=(2.6 * len(levers), 1.9 * len(metrics)),
                             squeeze=False, sharey="row")
    for (name, study), color in zip(studies.items(), ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        plain = next(r for r in study.rows if r.lever == PLAIN_ROW)
        for j, lever in enumerate(levers):
            rows = [r for r in study.rows if r.lever == lever.name]
            xs = [float(r.value) for r in rows]
            for i, metric in enumerate(metrics):
                ax = axes[i, j]
                ys = [r.cells.get(metric) if isinstance(r.cells.get(metric), float) else math.nan for r in rows]
                ax.plot(xs, ys, "-o", color=color, ms=3, lw=1.2, label=name)
                ax.plot([x for x, r in zip(xs, rows) if r.is_base], [y for y, r in zip(ys, rows) if r.is_base],
                        "s", color=color, ms=7, mfc="none")
                if isinstance(plain.cells.get(metric), float):
                    ax.axhline(plain.cells[metric], color=color, ls=":", lw=1)
                if i == len(metrics) - 1:
                    ax.set_xlabel(lever.name, fontsize=8)
                if j == 0:
                    ax.set_ylabel(metric, fontsize=8)
                ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("metric vs knob (one knob at a time; square = restore preset, dotted = plain feed-forward)",
                 fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=72)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------- command
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="generator file (generator_ema.pth)")
    parser.add_argument("--output", type=Path, required=True, help="new or empty output folder")
    parser.add_argument("--presets", nargs="+", default=["film_scan", "lowlight_phone"],
                        help="scenario presets: the test-set degradation and the restore preset of the same name")
    parser.add_argument("--faces", type=int, default=32, help="faces per test set")
    parser.add_argument("--size", type=int, default=None, help="face size; default the generator's out_size")
    parser.add_argument("--seed", type=int, default=0, help="test-set seed (gpen-make-testset --seed)")
    parser.add_argument("--metrics", default="default", help="metrics preset in configs/metrics/")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from gpen.models import load_generator

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.output.exists() and any(args.output.iterdir()):
        raise SystemExit(f"error: --output {args.output} is not empty; give a new folder")
    generator = load_generator(args.checkpoint)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    size = args.size or generator.out_size
    if size != generator.out_size:
        raise SystemExit(f"error: --size {size} differs from the generator's out_size {generator.out_size}")
    start = time.perf_counter()
    studies, texts = {}, []
    for preset in args.presets:
        folder = args.output / preset
        testset = make_testset(folder / "testset", preset, args.faces, size, args.seed)
        studies[preset] = run_study(generator, testset, restore_preset(preset), folder, metrics_config(args.metrics),
                                    batch_size=args.batch_size, name=f"{preset}: {args.faces} faces, {size} px",
                                    device=device)
        texts.append(study_markdown(studies[preset], preset))
        (folder / "study.md").write_text(texts[-1])
        print(texts[-1], flush=True)
    figure = plot_studies(studies, args.output / "texture_study.png")
    header = (f"checkpoint: {args.checkpoint}; machine: {describe_machine(device)}; "
              f"{time.perf_counter() - start:.0f} s\n\n{LEGEND}\n")
    (args.output / "texture_study.md").write_text(header + "\n" + "\n".join(texts))
    print(header + f"figure: {figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
