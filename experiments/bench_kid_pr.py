"""Benchmark: KID and improved precision / recall on N vs N random 2048-d features, ours vs a direct
NumPy reference written from the papers' formulas (full float64 distance matrix, `np.partition` radii;
the KID sums written out per subset), same subsets; ours computes P/R distances in float32 as the
metrics do. Reports seconds (median of runs), the ratio, the
largest difference of the values, the machine and its load.

    python experiments/bench_kid_pr.py [--n 1000] [--dim 2048] [--subsets 100] [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from scipy.spatial.distance import cdist

from gpen.metrics.distribution import kid_subsets, knn_radii, manifold_coverage
from gpen.utils.machine import describe_machine


def reference_kid(real: np.ndarray, fake: np.ndarray, subsets: int, size: int, seed: int) -> np.ndarray:
    generator = torch.Generator().manual_seed(seed)  # the same subsets as ours
    dim, values = real.shape[1], []
    for _ in range(subsets):
        x = real[torch.randperm(real.shape[0], generator=generator)[:size].numpy()]
        y = fake[torch.randperm(fake.shape[0], generator=generator)[:size].numpy()]
        kxx, kyy, kxy = ((a @ b.T / dim + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        values.append(off - 2 * kxy.mean())
    return np.array(values)


def reference_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    d_rr, d_ff, d_fr = cdist(real, real), cdist(fake, fake), cdist(fake, real)
    r_real, r_fake = np.partition(d_rr, k, axis=1)[:, k], np.partition(d_ff, k, axis=1)[:, k]
    return float((d_fr <= r_real[None]).any(1).mean()), float((d_fr.T <= r_fake[None]).any(1).mean())


def timed(fn, runs: int):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--subsets", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    real = torch.randn(args.n, args.dim, generator=g, dtype=torch.float64).abs()  # Inception pool features are >= 0
    fake = torch.randn(args.n, args.dim, generator=g, dtype=torch.float64).abs() * 1.05
    print(f"machine: {describe_machine('cpu')}; load average {os.getloadavg()}; torch threads {args.threads}")
    print(f"{args.n} vs {args.n} features of dim {args.dim}, KID {args.subsets} subsets of {args.n}, k = 3")

    t_kid, ours_kid = timed(lambda: kid_subsets(real, fake, args.subsets, args.n), args.runs)
    t_kid_ref, ref_kid = timed(lambda: reference_kid(real.numpy(), fake.numpy(), args.subsets, args.n, 0), args.runs)
    print(f"KID: ours {t_kid:.2f} s, reference {t_kid_ref:.2f} s, ratio {t_kid / t_kid_ref:.2f}; "
          f"mean {float(ours_kid.mean()):.6g} ± {float(ours_kid.std()):.3g}, "
          f"max |diff| {np.abs(ours_kid.numpy() - ref_kid).max():.2g}")

    real32, fake32 = real.float(), fake.float()  # the metrics' distance precision (features are stored as float32)

    def ours_pr():
        return (manifold_coverage(fake32, real32, knn_radii(real32)),
                manifold_coverage(real32, fake32, knn_radii(fake32)))

    t_pr, (precision, recall) = timed(ours_pr, args.runs)
    t_pr_ref, (ref_p, ref_r) = timed(lambda: reference_precision_recall(real.numpy(), fake.numpy(), 3), args.runs)
    print(f"precision/recall: ours {t_pr:.2f} s, reference {t_pr_ref:.2f} s, ratio {t_pr / t_pr_ref:.2f}; "
          f"ours P {precision:.4f} R {recall:.4f}, reference P {ref_p:.4f} R {ref_r:.4f}")


if __name__ == "__main__":
    main()
