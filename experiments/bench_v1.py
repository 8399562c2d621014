"""Speed and peak memory of the original-architecture GFPGANv1 (ours vs the official code) and its blur op.

Each configuration runs in a fresh subprocess (so peak memory is its own): one warm-up, then `--runs`
timed repetitions; the median is printed. Forward is eval mode under no_grad; forward+backward is a
training step of the generator (fresh noise, frozen prior, loss on the image and the pyramid).

    python experiments/bench_v1.py                              # ours, CPU, 512, cm1, fp32
    python experiments/bench_v1.py --dtypes fp32 bf16 --channels-last
    PYTHONPATH=/tmp/ref_v1 python experiments/bench_v1.py --official   # + the official GFPGANv1
    python experiments/bench_v1.py --ops                         # upfirdn2d: ours vs BasicSR's native

The official code is imported as in check_official_parity_v1.py (BasicSR's `upfirdn2d_native` on CPU).
Peak memory: CUDA max_memory_allocated, or on CPU the rise of the process's peak RSS over the RSS
after building the model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    text = f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(impl: str, size: int, channel_multiplier: int) -> torch.nn.Module:
    kwargs = dict(out_size=size, num_style_feat=512, channel_multiplier=channel_multiplier, fix_decoder=True,
                  num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    if impl == "official":
        sys.path.insert(0, str(HERE))
        from check_official_parity_v1 import import_official

        return import_official()[1].GFPGANv1(**kwargs, decoder_load_path=None)
    from gpen.models.gfpgan_v1 import GFPGANv1

    return GFPGANv1(**kwargs)


def step(net: torch.nn.Module, x: torch.Tensor, mode: str, autocast) -> None:
    if mode == "fwd":
        with torch.no_grad(), autocast:
            net(x, randomize_noise=False)
        return
    with autocast:
        image, rgbs = net(x, randomize_noise=True)
        loss = image.float().mean() + sum(r.float().mean() for r in rgbs)
    loss.backward()
    net.zero_grad(set_to_none=True)


def run_one(cfg: dict) -> dict:
    """One configuration in this process: returns median seconds and peak memory (MiB)."""
    torch.manual_seed(0)
    device = torch.device(cfg["device"])
    net = build(cfg["impl"], cfg["size"], cfg["cm"]).to(device)
    net.train(cfg["mode"] == "fwdbwd")
    x = torch.rand(cfg["batch"], 3, cfg["size"], cfg["size"], device=device) * 2 - 1
    if cfg["channels_last"]:
        from gpen.models.stylegan2_clean import to_channels_last

        to_channels_last(net)
        x = x.contiguous(memory_format=torch.channels_last)
    dtype = {"fp32": None, "bf16": torch.bfloat16}[cfg["dtype"]]
    autocast = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    base = rss_mib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step(net, x, cfg["mode"], autocast)  # warm-up
    times = []
    for _ in range(cfg["runs"]):
        sync()
        start = time.perf_counter()
        step(net, x, cfg["mode"], autocast)
        sync()
        times.append(time.perf_counter() - start)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    return {"median_s": statistics.median(times), "times": times, "peak_mib": peak}


def bench_ops(runs: int) -> None:
    """Blur (upfirdn2d) of ours vs BasicSR's CPU fallback on generator-sized feature maps."""
    from gpen.models.stylegan2_ops import make_resample_kernel, upfirdn2d

    sys.path.insert(0, str(HERE))
    from check_official_parity_v1 import import_official

    import_official()
    from basicsr.ops.upfirdn2d.upfirdn2d import upfirdn2d_native

    kernel = make_resample_kernel((1, 3, 3, 1))
    for shape, up in [((1, 32, 512, 512), 1), ((1, 64, 256, 256), 1), ((1, 256, 64, 64), 1), ((4, 3, 256, 256), 2)]:
        x = torch.randn(shape)
        k, pad = (kernel * 4, (2, 1)) if up == 2 else (kernel, (2, 1))
        fns = {"basicsr native": lambda x=x, k=k, up=up, pad=pad: upfirdn2d_native(x, k, up, up, 1, 1, *pad, *pad),
               "ours": lambda x=x, k=k, up=up, pad=pad: upfirdn2d(x, k, up=up, pad=pad)}
        line = []
        for name, fn in fns.items():
            fn()
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            line.append(f"{name} {statistics.median(times) * 1e3:8.2f} ms")
        print(f"upfirdn2d up={up} {tuple(shape)!s:<20} " + "   ".join(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cm", type=int, nargs="+", default=[1])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    parser.add_argument("--modes", nargs="+", default=["fwd", "fwdbwd"], choices=["fwd", "fwdbwd"])
    parser.add_argument("--channels-last", action="store_true", help="also run with channels_last")
    parser.add_argument("--official", action="store_true", help="also run the official GFPGANv1 (fp32)")
    parser.add_argument("--ops", action="store_true", help="benchmark upfirdn2d only")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(args.one))))
        return
    print(machine())
    if args.ops:
        bench_ops(max(args.runs, 5))
        return
    configs = []
    for cm in args.cm:
        for mode in args.modes:
            base = dict(size=args.size, batch=args.batch, runs=args.runs, cm=cm, device=args.device, mode=mode)
            if args.official:
                configs.append({**base, "impl": "official", "dtype": "fp32", "channels_last": False})
            for dtype in args.dtypes:
                for layout in [False, True] if args.channels_last else [False]:
                    configs.append({**base, "impl": "ours", "dtype": dtype, "channels_last": layout})
    print(f"GFPGANv1 {args.size}x{args.size}, batch {args.batch}, median of {args.runs} runs, {args.device}")
    for cfg in configs:
        proc = subprocess.run([sys.executable, __file__, "--one", json.dumps(cfg)], capture_output=True, text=True,
                              check=False)
        if proc.returncode:
            print(f"{cfg}: failed\n{proc.stderr[-2000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        layout = "channels_last" if cfg["channels_last"] else "contiguous"
        print(f"{cfg['impl']:<9} cm{cfg['cm']} {cfg['mode']:<7} {cfg['dtype']} {layout:<13} "
              f"{result['median_s']:8.3f} s  ({cfg['batch'] / result['median_s']:.3f} img/s)  "
              f"peak {result['peak_mib']:8.0f} MiB")


if __name__ == "__main__":
    main()
