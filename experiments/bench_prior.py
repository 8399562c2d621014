"""StyleGAN2 prior training speed and memory: gpen (`experiment=stylegan2_prior`) vs BasicSR 1.4.2's
`StyleGAN2Model`, same sizes and settings, same machine, paired in one run (docs/training.md).

    pip install --no-deps --target /tmp/ref basicsr==1.4.2
    PYTHONPATH=/tmp/ref python experiments/bench_prior.py                     # demo prior, 64 px, batch 8, CPU
    PYTHONPATH=/tmp/ref python experiments/bench_prior.py --device cuda --size 256 --batch 16
    PYTHONPATH=/tmp/ref python experiments/bench_prior.py --repeats 2 --size 32   # smoke run

What runs. Ours: the real training system, `GANModule` under a Lightning `Trainer.fit` built by
`gpen.lit.build` from the composed config (`experiment=stylegan2_prior scale=demo`, `--size` and
`--batch` on top, plus `--override`); one iteration = generator step (non-saturating GAN), the lazy
path-length generator step every 4th, discriminator step with lazy R1 every 16th, EMA update, LR
schedulers, the per-step seeding callback. Validation, checkpoints, the EMA export, logger and progress
bar are switched off (they are not part of a training step). Official: `StyleGAN2Model` built from an
`opt` dict with the same options (sizes from our config, `wgan_softplus`, R1 γ 10 every 16, path length 2
every 4 on half the batch, mixing 0.9, Adam 2e-3 (0, 0.99) with its own lazy scaling, EMA 0.5^(32/10k),
MultiStepLR), one iteration = `update_learning_rate` + `feed_data` + `optimize_parameters(iter)`, as
BasicSR's train loop does. The algorithms differ where the designs do (the official iteration runs the
generator twice and the discriminator on real images twice on R1 steps; ours reuses one generator output
for both steps and takes R1 from the discriminator's real pass): that is what is compared.

Both sides get the same GT batches, already on the device (built-in synthetic faces); data loading and
logging are outside the timed region on both sides. Ours is timed from `on_train_batch_start` to
`on_train_batch_end` of a callback that runs first; the official iteration around its three calls;
the device is synchronised at both ends.

Paired (default): one process holds both; windows of `--window` iterations (16 = one R1 cycle with four
path-length steps) alternate ours / official, after `--warmup` windows each; per side the median
images/s over `--repeats` windows, and the median of the per-window ratios ours/official (time; < 1 =
ours faster). Peak memory always comes from one fresh child process per side running one window
(16 iterations hold every kind of step): CPU = peak RSS of the child (`getrusage`) minus its peak
before the networks were built; CUDA = `torch.cuda.max_memory_allocated`. `--no-paired`: the
children run all windows and their own timings are reported instead (each side alone, one after the
other).

Official ops: BasicSR's StyleGAN2 uses compiled ops. Never compiled here on CPU (BASICSR_JIT is
removed): `upfirdn2d` takes BasicSR's own CPU path `upfirdn2d_native`, and `fused_leaky_relu`, which has
no CPU path in 1.4.2, is replaced by its formula `leaky_relu(x + bias, 0.2) * sqrt(2)`. On CUDA the
compiled extensions are used when importable (pre-built, or BASICSR_JIT=True to build them at import),
else the same PyTorch fallbacks; the run prints which. Float32 only (BasicSR has no mixed precision).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import pytorch_lightning as pl
import torch
import torchvision
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.nn import functional as F
from torch.utils.data import Dataset

from gpen.lit.build import build_module, build_trainer
from gpen.utils.machine import describe_machine

ROOT = Path(__file__).resolve().parents[1]
OFF = ["model_checkpoint", "preemption", "time_budget", "export_ema", "lr_monitor", "progress_bar"]
SIDES = ("ours", "official")


# ---------------------------------------------------------------- shared set-up
def compose_prior(args: argparse.Namespace, run_dir: str, max_steps: int) -> DictConfig:
    overrides = ["experiment=stylegan2_prior", "scale=demo", f"data.out_size={args.size}",
                 f"data.batch_size={args.batch}", f"paths.run_dir={run_dir}", f"trainer.max_steps={max_steps}",
                 f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}", "trainer.limit_val_batches=0",
                 "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    overrides += [f"callbacks.{name}=null" for name in OFF]
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=overrides + args.override)
    cfg.logger = None
    return cfg


def gt_batches(cfg: DictConfig, batch: int, count: int, device: str) -> list[torch.Tensor]:
    """`count` batches of built-in synthetic faces (GT only: the prior is unconditional), on the device."""
    faces = instantiate(cfg.data.train_dataset)
    gts = torch.stack([faces[i]["gt"] for i in range(batch * count)])
    return list(gts.to(device).split(batch))


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


class Batches(Dataset):
    """`length` items cycling over prepared batches (one epoch for the whole run, no data work)."""

    def __init__(self, batches: list[torch.Tensor], length: int) -> None:
        self.batches, self.length = batches, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"gt": self.batches[index % len(self.batches)]}


# ---------------------------------------------------------------- ours: Lightning
class IterationTimer(pl.Callback):
    """Seconds of every training iteration; after every `window` iterations calls `between` (a paired run
    times the official side there). Put first in the callback list, so the others' hooks are timed too."""

    def __init__(self, device: str, window: int, between: Callable[[], None] | None = None) -> None:
        self.device, self.window, self.between = device, window, between
        self.times: list[float] = []
        self.start = 0.0

    def on_train_batch_start(self, *args) -> None:
        synchronize(self.device)
        self.start = time.perf_counter()

    def on_train_batch_end(self, *args) -> None:
        synchronize(self.device)
        self.times.append(time.perf_counter() - self.start)
        if self.between is not None and len(self.times) % self.window == 0:
            self.between()


def fit_ours(cfg: DictConfig, batches: list[torch.Tensor], timer: IterationTimer) -> None:
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    module = build_module(cfg)
    trainer = build_trainer(cfg)
    trainer.callbacks.insert(0, timer)
    loader = torch.utils.data.DataLoader(Batches(batches, cfg.trainer.max_steps), batch_size=None)
    trainer.fit(module, train_dataloaders=loader)


# ---------------------------------------------------------------- official: BasicSR
def import_official(device: str):
    """BasicSR's StyleGAN2Model from PYTHONPATH, with the op fallbacks described above; -> (class, ops)."""
    if device == "cpu":
        os.environ.pop("BASICSR_JIT", None)  # nothing to compile for CPU
    sys.modules.setdefault("torchvision.transforms.functional_tensor", torchvision.transforms._functional_tensor)
    try:
        from basicsr.archs import stylegan2_arch
        from basicsr.models.stylegan2_model import StyleGAN2Model
        from basicsr.utils import get_root_logger
    except ImportError as error:
        sys.exit(f"BasicSR not importable ({error}): pip install --no-deps --target /tmp/ref basicsr==1.4.2 "
                 "and run with PYTHONPATH=/tmp/ref")
    get_root_logger(log_level=logging.WARNING)  # not the network printouts
    fused_act = sys.modules["basicsr.ops.fused_act.fused_act"]
    upfirdn2d_module = sys.modules["basicsr.ops.upfirdn2d.upfirdn2d"]
    compiled = device == "cuda" and hasattr(fused_act, "fused_act_ext") and hasattr(upfirdn2d_module, "upfirdn2d_ext")
    if compiled:
        return StyleGAN2Model, "compiled CUDA extensions (fused_act_ext, upfirdn2d_ext)"

    def leaky_relu_formula(x, bias, negative_slope=0.2, scale=2**0.5):
        return F.leaky_relu(x + bias.view(1, -1, *[1] * (x.ndim - 2)), negative_slope) * scale

    def native(x, kernel, up=1, down=1, pad=(0, 0)):
        return upfirdn2d_module.upfirdn2d_native(x, kernel, up, up, down, down, pad[0], pad[1], pad[0], pad[1])

    fused_act.fused_leaky_relu = stylegan2_arch.fused_leaky_relu = leaky_relu_formula
    if device == "cuda":  # on CPU BasicSR's upfirdn2d takes upfirdn2d_native itself
        stylegan2_arch.upfirdn2d = native
    return StyleGAN2Model, "PyTorch fallbacks (upfirdn2d_native; fused_leaky_relu as leaky_relu(x + b) * sqrt(2))"


def official_opt(cfg: DictConfig, device: str) -> dict:
    """BasicSR options equal to our composed config (sizes, regularisers, optimiser, schedule)."""
    model, terms, path = cfg.model, cfg.loss.terms.gan, cfg.loss.regularizers.path_length
    sizes = {"out_size": cfg.data.out_size, "channel_multiplier": model.channel_multiplier}
    adam = {"type": "Adam", "lr": cfg.optim.generator.lr}
    assert list(cfg.optim.generator.betas) == [0.0, 0.99], "BasicSR's StyleGAN2Model fixes betas (0, 0.99)"
    return {
        "name": "bench_prior", "model_type": "StyleGAN2Model", "num_gpu": int(device == "cuda"),
        "is_train": True, "dist": False, "rank": 0, "world_size": 1, "path": {}, "val": {"num_val_samples": 16},
        "network_g": {"type": "StyleGAN2Generator", **sizes, "num_style_feat": model.num_style_feat,
                      "num_mlp": model.num_mlp, "narrow": model.narrow},
        "network_d": {"type": "StyleGAN2Discriminator", **sizes, "narrow": terms.discriminator.narrow},
        "train": {"optim_g": dict(adam), "optim_d": {**adam, "lr": cfg.optim.discriminators.gan.lr},
                  "scheduler": {"type": "MultiStepLR", "milestones": list(cfg.optim.scheduler.milestones),
                                "gamma": cfg.optim.scheduler.gamma},
                  "gan_opt": {"type": "GANLoss", "gan_type": "wgan_softplus", "loss_weight": terms.weight},
                  "r1_reg_weight": terms.r1_gamma, "net_d_reg_every": terms.r1_interval,
                  "path_reg_weight": path.weight, "net_g_reg_every": path.interval,
                  "path_batch_shrink": path.batch_shrink, "mixing_prob": cfg.model.generator.mixing_prob},
    }


class OfficialRunner:
    """BasicSR's training iteration, as its train loop calls it (iterations counted from 1)."""

    def __init__(self, model_class, cfg: DictConfig, batches: list[torch.Tensor], device: str) -> None:
        torch.manual_seed(cfg.seed)
        self.model = model_class(official_opt(cfg, device))
        self.batches, self.device = batches, device
        self.iteration = 0
        self.times: list[float] = []

    def window(self, iterations: int) -> None:
        for _ in range(iterations):
            self.iteration += 1
            synchronize(self.device)
            start = time.perf_counter()
            self.model.update_learning_rate(self.iteration)
            self.model.feed_data({"gt": self.batches[self.iteration % len(self.batches)]})
            self.model.optimize_parameters(self.iteration)
            synchronize(self.device)
            self.times.append(time.perf_counter() - start)


# ---------------------------------------------------------------- runs
def window_sums(times: list[float], window: int, warmup: int) -> list[float]:
    return [sum(times[i:i + window]) for i in range(warmup * window, len(times) - window + 1, window)]


def paired(args: argparse.Namespace) -> dict:
    windows = args.warmup + args.repeats
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = compose_prior(args, run_dir, windows * args.window)
        batches = gt_batches(cfg, args.batch, 4, args.device)
        model_class, ops = import_official(args.device)
        official = OfficialRunner(model_class, cfg, batches, args.device)
        timer = IterationTimer(args.device, args.window, between=lambda: official.window(args.window))
        fit_ours(cfg, batches, timer)
    times = {"ours": window_sums(timer.times, args.window, args.warmup),
             "official": window_sums(official.times, args.window, args.warmup)}
    return {"times": times, "ops": ops, "ratios": [o / r for o, r in zip(times["ours"], times["official"])]}


def worker(args: argparse.Namespace) -> dict:
    """One side alone in this (fresh) process: timings and peak memory."""
    # memory only: one window of 16 holds every kind of step (path length, R1), so its peak is the run's
    windows = args.warmup + args.repeats if args.time_in_worker else 1
    with tempfile.TemporaryDirectory() as run_dir:
        cfg = compose_prior(args, run_dir, windows * args.window)
        batches = gt_batches(cfg, args.batch, 4, args.device)
        model_class, ops = import_official(args.device) if args.worker == "official" else (None, "gpen")
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if args.worker == "ours":
            timer = IterationTimer(args.device, args.window)
            fit_ours(cfg, batches, timer)
            times = timer.times
        else:
            official = OfficialRunner(model_class, cfg, batches, args.device)
            official.window(windows * args.window)
            times = official.times
    peak_mib = (torch.cuda.max_memory_allocated() / 2**20 if args.device == "cuda"
                else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kb) / 1024)
    return {"side": args.worker, "peak_mib": peak_mib, "ops": ops,
            "times": window_sums(times, args.window, args.warmup) if args.time_in_worker else []}


def launch(args: argparse.Namespace, side: str) -> dict:
    command = [sys.executable, __file__, "--worker", side] + forwarded(args)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        sys.exit(f"{side} worker failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def forwarded(args: argparse.Namespace) -> list[str]:
    flags = ["--device", args.device, "--size", str(args.size), "--batch", str(args.batch), "--repeats",
             str(args.repeats), "--warmup", str(args.warmup), "--window", str(args.window),
             "--threads", str(args.threads), "--override", *args.override]
    return flags + ([] if args.paired else ["--time-in-worker"])


# ---------------------------------------------------------------- report
def report(args: argparse.Namespace, times: dict[str, list[float]], memory: dict[str, dict], ratios: list[float],
           ops: str) -> None:
    images = args.batch * args.window
    print(f"official ops: {ops}")
    print(f"{'side':<9} {'images/s':>9} {'ms/iter':>8} {'peak MiB':>9}   per window (images/s)")
    for side in SIDES:
        rates = [images / t for t in times[side]]
        print(f"{side:<9} {statistics.median(rates):>9.1f} {1e3 * statistics.median(times[side]) / args.window:>8.1f} "
              f"{memory[side]['peak_mib']:>9.0f}   {', '.join(f'{r:.1f}' for r in rates)}")
    print(f"ours/official time: median {statistics.median(ratios):.2f} "
          f"({'paired windows' if args.paired else 'medians of separate runs'}: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); peak memory ours/official "
          f"{memory['ours']['peak_mib'] / max(memory['official']['peak_mib'], 1e-9):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, default=64, help="image size (out_size of G and D)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5, help="measured windows per side")
    parser.add_argument("--warmup", type=int, default=1, help="windows per side before measuring")
    parser.add_argument("--window", type=int, default=16, help="iterations per window (16: one R1 cycle)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--paired", action=argparse.BooleanOptionalAction, default=True,
                        help="time both sides alternately in one process (default); --no-paired: each alone")
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides for ours (sizes ...); "
                        "the official options are derived from the composed config")
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--time-in-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(args)))
        return
    print(f"machine: {describe_machine(args.device)}")
    print(f"StyleGAN2 prior, {args.size} px, batch {args.batch}, overrides {args.override or 'none'}; "
          f"{args.repeats} windows of {args.window} iterations per side after {args.warmup} warm-up, float32")
    opt = official_opt(compose_prior(args, "unused", 1), args.device)
    print("sizes and settings (both sides):", json.dumps({k: opt[k] for k in ("network_g", "network_d", "train")}))
    memory = {side: launch(args, side) for side in SIDES}
    if args.paired:
        run = paired(args)
        times, ratios, ops = run["times"], run["ratios"], run["ops"]
    else:
        times = {side: memory[side]["times"] for side in SIDES}
        ratios = [statistics.median(times["ours"]) / statistics.median(times["official"])]
        ops = memory["official"]["ops"]
    report(args, times, memory, ratios, ops)


if __name__ == "__main__":
    main()
