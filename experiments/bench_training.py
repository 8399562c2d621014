"""Training-step benchmark: throughput, peak memory and each loss term's share of the step time.

    python experiments/bench_training.py                      # default CPU config, fp32 vs bf16
    python experiments/bench_training.py --config paper --steps 2 --repeats 1   # 512 paper config
    python experiments/bench_training.py --device cuda --config paper           # on a GPU

Parts are timed one by one (forward + backward of that part only, inputs detached), with several
repeats and medians: generator forward, generator backward, every loss term, every discriminator step,
the EMA update. The perceptual loss is also timed with output and GT concatenated into one VGG batch (with
a graph for both halves) to show why the GT side runs under no_grad. Prints the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from gpen.lit.build import build_module
from gpen.losses.base import LossInputs, gram_matrix
from gpen.losses.perceptual import PerceptualLoss
from gpen.utils.machine import describe_machine

CONFIGS = {
    "default": [],  # exactly what `python train.py` trains
    "paper": ["model=gfpgan_v1", "loss=gfpgan", "data.out_size=512"],
}


def synthetic_batch(batch: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
    s = size
    box = {"loc_left_eye": [0.2, 0.3, 0.4, 0.5], "loc_right_eye": [0.6, 0.3, 0.8, 0.5], "loc_mouth": [0.3, 0.6, 0.7, 0.9]}
    out = {"gt": gt, "lq": (gt + 0.2 * torch.randn(gt.shape, generator=gen)).clamp(-1, 1),
           "regions": torch.randint(0, 8, (batch, s, s), generator=gen)}
    out.update({k: torch.tensor(v).mul(s).expand(batch, 4).clone() for k, v in box.items()})
    return {k: v.to(device) for k, v in out.items()}


def timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def concat_perceptual(term: PerceptualLoss, inputs: LossInputs) -> torch.Tensor:
    """The alternative design: one VGG call on [output; GT], graph recorded for both halves."""
    feats = term.extractor(torch.cat([inputs.output, inputs.gt]))
    loss = inputs.output.new_zeros(())
    for layer, w in term.layer_weights.items():
        out_f, gt_f = feats[layer].chunk(2)
        loss = loss + w * F.l1_loss(out_f, gt_f.detach())
        loss = loss + term.style_weight * w * F.l1_loss(gram_matrix(out_f), gram_matrix(gt_f.detach()))
    return loss


def step_parts(module, batch, autocast, device: torch.device) -> dict[str, float]:
    """Seconds for each part of one training iteration, measured separately."""
    times = {}
    gen = module.generator
    with autocast:
        times["generator forward"] = timed(lambda: gen(batch["lq"], return_rgb=True), device)
        output, rgbs = gen(batch["lq"], return_rgb=True)
    times["generator backward"] = timed(lambda: (output.float().mean() + sum(r.float().mean() for r in rgbs)).backward(), device)
    det = LossInputs(output=output.detach().requires_grad_(), gt=batch["gt"], regions=batch["regions"],
                     out_rgbs=[r.detach().requires_grad_() for r in rgbs], step=1,
                     boxes={k[4:]: v for k, v in batch.items() if k.startswith("loc_")})

    def run_term(term):
        with autocast:
            loss = sum(term(det).values())
        loss.backward()

    for name, term in module.losses.items():
        times[f"loss {name}"] = timed(lambda term=term: run_term(term), device)
        if isinstance(term, PerceptualLoss):
            times[f"loss {name} (concat variant)"] = timed(
                lambda term=term: _backward(concat_perceptual, term, det, autocast), device)
    for name, term in module.adversarial.items():
        def d_step(term=term, step=1):
            with autocast:
                loss = sum(term.discriminator_loss(LossInputs(**{**det.__dict__, "step": step})).values())
            loss.backward()
        times[f"D step {name}"] = timed(d_step, device)
        if hasattr(term, "r1_interval"):
            times[f"D step {name} +R1 (1 in {term.r1_interval})"] = timed(lambda: d_step(step=0), device)
    times["EMA update"] = timed(lambda: module.ema.update(module.generator_ema, module.generator), device)
    return times


def _backward(fn, term, det, autocast):
    with autocast:
        loss = fn(term, det)
    loss.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=sorted(CONFIGS), default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: the config's batch size")
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--steps", type=int, default=3, help="measured iterations per repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--override", nargs="*", default=[], help="extra Hydra overrides")
    args = parser.parse_args()
    device = torch.device(args.device)
    config_dir = str(Path(__file__).resolve().parents[1] / "configs")
    with initialize_config_dir(config_dir=config_dir, version_base="1.3"):
        cfg = compose("train", overrides=CONFIGS[args.config] + ["paths.run_dir=/tmp/gpen_bench"] + args.override)
    torch.manual_seed(0)
    module = build_module(cfg).to(device).train()
    batch_size = args.batch or cfg.data.get("batch_size", 4)
    batch = synthetic_batch(batch_size, cfg.data.out_size, device)
    print(f"machine: {describe_machine(device)}")
    print(f"config: {args.config} ({cfg.data.out_size}px, batch {batch_size}, terms {list(module.losses)})")
    for precision in args.precision:
        autocast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
        step_parts(module, batch, autocast, device)  # warm-up
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        runs = [step_parts(module, batch, autocast, device) for _ in range(args.repeats * args.steps)]
        medians = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        step = sum(v for k, v in medians.items() if "variant" not in k and "+R1" not in k)
        print(f"\n[{precision}] median iteration {step * 1e3:.0f} ms -> {batch_size / step:.2f} images/s "
              f"(sum of parts over {len(runs)} runs; R1 adds its extra cost 1 step in r1_interval)")
        for k, v in medians.items():
            share = "" if "variant" in k or "+R1" in k else f"{100 * v / step:5.1f}%"
            print(f"  {k:<40s} {v * 1e3:9.1f} ms  {share}")
        if device.type == "cuda":
            print(f"  peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
        print(f"  peak process RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
