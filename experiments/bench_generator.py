"""Speed and memory of the face restoration generators at 512: ours vs the official implementation, and
GPEN (GPEN-BFR-512 shape) next to GFPGANv1Clean (cm 2) in the same run.

For each configuration, in a fresh subprocess (so peak memory is that configuration's alone):
forward time (eval, no grad, stored noise) and forward+backward time (train mode, fresh noise, loss on
the image and the pyramid, frozen prior as in the paper), median of `--repeats` runs after `--warmup`,
and peak memory: CPU = max RSS of the process (`getrusage`) minus the RSS after building the model;
CUDA = `torch.cuda.max_memory_allocated`. Variants: fp32, channels_last, bf16 autocast.

    python experiments/bench_generator.py                      # CPU, both archs, ours only
    PYTHONPATH=/tmp/ref_clean python experiments/bench_generator.py --official   # + official code
    python experiments/bench_generator.py --device cuda --repeats 20
    python experiments/bench_generator.py --archs clean gpen --variants fp32 bf16   # GPEN vs GFP-GAN

GPEN has no official code here (no `--official` rows); its fwd+bwd trains the whole network (GPEN's
recipe), while the GFP-GAN rows keep the prior frozen (the paper's), so compare those rows with that in mind.

The official code (gfpgan 1.3.8 / basicsr 1.4.2, see check_official_parity.py) is imported the same
way as in the parity check; on CPU its original-architecture ops run their native PyTorch fallbacks.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
# arch -> channel multiplier benchmarked (paper GFPGANv1 / released v1.3-1.4 / GPEN-BFR-512)
ARCHS = {"v1": 1, "clean": 2, "gpen": 2}
OFFICIAL_ARCHS = ("v1", "clean")  # archs whose official code the script can import
VARIANTS = ("fp32", "channels_last", "bf16")


@functools.cache
def official_modules() -> dict:
    """The official arch modules, imported once per process (see check_official_parity.py)."""
    sys.path.insert(0, str(HERE))
    import check_official_parity

    return check_official_parity.import_official(check_official_parity.load_v1_checker())


def build_generator(impl: str, arch: str, size: int) -> torch.nn.Module:
    if arch == "gpen":
        from gpen.models.gpen import GPENGenerator
        return GPENGenerator(out_size=size, style_dim=512, n_mlp=8, channel_multiplier=ARCHS[arch], narrow=1)
    kwargs = {"out_size": size, "num_style_feat": 512, "channel_multiplier": ARCHS[arch], "fix_decoder": True, "num_mlp": 8,
                  "input_is_latent": True, "different_w": True, "narrow": 1, "sft_half": True}
    if impl == "ours":
        from gpen.models.gfpgan_clean import GFPGANv1Clean
        from gpen.models.gfpgan_v1 import GFPGANv1
        return (GFPGANv1Clean if arch == "clean" else GFPGANv1)(**kwargs)
    official = official_modules()
    module = official["gfpganv1_clean"].GFPGANv1Clean if arch == "clean" else official["gfpganv1"].GFPGANv1
    return module(**kwargs, decoder_load_path=None)


def run_once(model: torch.nn.Module, x: torch.Tensor, backward: bool, device: str, bf16: bool) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16), torch.set_grad_enabled(backward):
        image, rgbs = model(x, return_rgb=True, randomize_noise=backward)  # eval: stored noise
        if backward:
            (image.float().mean() + sum(r.float().mean() for r in rgbs)).backward()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def worker(config: dict) -> dict:
    """Measure one configuration; runs in its own process."""
    device, backward = config["device"], config["mode"] == "fwd+bwd"
    model, x = prepare(config, config["impl"])
    baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(config["warmup"] + config["repeats"]):
        model.zero_grad(set_to_none=True)
        elapsed = run_once(model, x, backward, device, config["variant"] == "bf16")
        if i >= config["warmup"]:
            times.append(elapsed)
    if device == "cuda":
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_kb) / 1024
    return config | {"median_s": statistics.median(times), "min_s": min(times), "peak_mb": peak_mb}


def prepare(config: dict, impl: str) -> tuple[torch.nn.Module, torch.Tensor]:
    from gpen.models.stylegan2_clean import to_channels_last

    torch.manual_seed(0)
    model = build_generator(impl, config["arch"], config["size"]).to(config["device"])
    model.train(config["mode"] == "fwd+bwd")
    x = torch.rand(config["batch"], 3, config["size"], config["size"], device=config["device"]) * 2 - 1
    if config["variant"] == "channels_last":
        to_channels_last(model)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x


def paired(config: dict) -> dict:
    """Ours and official in one process, timed alternately, so both see the same machine load.

    On a shared machine the load changes from minute to minute; the median of the per-pair ratios
    is then a fairer comparison than two medians taken minutes apart.
    """
    models = {impl: prepare(config, impl) for impl in ("ours", "official")}
    backward, bf16 = config["mode"] == "fwd+bwd", config["variant"] == "bf16"
    times: dict[str, list[float]] = {"ours": [], "official": []}
    for i in range(config["warmup"] + config["repeats"]):
        for impl, (model, x) in models.items():
            model.zero_grad(set_to_none=True)
            elapsed = run_once(model, x, backward, config["device"], bf16)
            if i >= config["warmup"]:
                times[impl].append(elapsed)
    ratios = [o / r for o, r in zip(times["ours"], times["official"])]
    return config | {f"{impl}_median_s": statistics.median(t) for impl, t in times.items()} | {
        "median_ratio": statistics.median(ratios), "ratios": ratios}


def launch(config: dict) -> dict:
    result = subprocess.run([sys.executable, __file__, "--worker", json.dumps(config)], capture_output=True, check=False,
                            text=True, env=os.environ | {"PYTHONPATH": os.pathsep.join(
                                filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))})
    if result.returncode != 0:
        return config | {"error": result.stderr.strip().splitlines()[-1] if result.stderr else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(results: list[dict]) -> None:
    print(f"{'arch':<6} {'impl':<9} {'variant':<14} {'mode':<8} {'median s':>9} {'min s':>8} "
          f"{'peak MB':>8} {'ours/official':>13}")
    for r in results:
        if "error" in r:
            print(f"{r['arch']:<6} {r['impl']:<9} {r['variant']:<14} {r['mode']:<8} ERROR {r['error']}")
            continue
        twin = next((o for o in results if o["impl"] == "official" and "error" not in o and all(
            o[k] == r[k] for k in ("arch", "variant", "mode"))), None)
        ratio = f"{r['median_s'] / twin['median_s']:.2f}" if twin and r["impl"] == "ours" else ""
        print(f"{r['arch']:<6} {r['impl']:<9} {r['variant']:<14} {r['mode']:<8} {r['median_s']:>9.3f} "
              f"{r['min_s']:>8.3f} {r['peak_mb']:>8.0f} {ratio:>13}", flush=True)


def report_gpen_vs_clean(results: list[dict]) -> None:
    """GPEN's time and memory as a multiple of GFPGANv1Clean's, per variant and mode (ours, same run)."""
    ours = {(r["arch"], r["variant"], r["mode"]): r for r in results if r["impl"] == "ours" and "error" not in r}
    for (arch, variant, mode), r in ours.items():
        clean = ours.get(("clean", variant, mode))
        if arch == "gpen" and clean:
            print(f"gpen/clean {variant:<14} {mode:<8} time x{r['median_s'] / clean['median_s']:.2f}, "
                  f"peak memory x{r['peak_mb'] / max(clean['peak_mb'], 1e-9):.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=list(ARCHS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwd+bwd"], choices=["fwd", "fwd+bwd"])
    parser.add_argument("--official", action="store_true", help="also time the official code (PYTHONPATH)")
    parser.add_argument("--paired", action="store_true",
                        help="time ours and the official code alternately in one process (ratio only)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    sys.path.insert(0, str(HERE.parent))
    from gpen.utils.machine import describe_machine

    print(describe_machine(args.device))
    print(f"batch {args.batch}, {args.size}x{args.size}, median of {args.repeats} runs after {args.warmup} warm-up")
    if args.paired:
        for arch, variant, mode in itertools.product(args.archs, args.variants, args.modes):
            if arch not in OFFICIAL_ARCHS:
                print(f"{arch:<6} no official code to pair with; run without --paired", flush=True)
                continue
            try:
                r = paired({"arch": arch, "variant": variant, "mode": mode, "device": args.device,
                            "size": args.size, "batch": args.batch, "repeats": args.repeats,
                            "warmup": args.warmup})
            except RuntimeError as error:  # e.g. the official code cannot run channels_last (.view)
                print(f"{arch:<6} {variant:<14} {mode:<8} ERROR {str(error).splitlines()[0]}", flush=True)
                continue
            print(f"{arch:<6} {variant:<14} {mode:<8} ours {r['ours_median_s']:.3f} s, official "
                  f"{r['official_median_s']:.3f} s, median ours/official {r['median_ratio']:.2f} "
                  f"(pairs: {', '.join(f'{q:.2f}' for q in r['ratios'])})", flush=True)
        return
    impls = ["ours", "official"] if args.official else ["ours"]
    results = []
    for arch, variant, mode, impl in itertools.product(args.archs, args.variants, args.modes, impls):
        if impl == "official" and arch not in OFFICIAL_ARCHS:
            continue
        config = {"arch": arch, "variant": variant, "mode": mode, "impl": impl, "device": args.device, "size": args.size,
                      "batch": args.batch, "repeats": args.repeats, "warmup": args.warmup}
        results.append(launch(config))
        print(f"  done: {arch} {impl} {variant} {mode}", file=sys.stderr, flush=True)
    report(results)
    report_gpen_vs_clean(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
