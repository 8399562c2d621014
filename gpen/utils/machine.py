"""One line describing the machine a benchmark ran on (benchmarks state their machine with their numbers)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def describe_machine(device: str | torch.device = "cpu") -> str:
    """CPU model, cores (visible and usable), load, torch version and threads, and the GPU if used."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    text = (f"CPU {cpu_model()}, {os.cpu_count()} logical cores ({usable} usable), load average {load}; "
            f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if torch.device(device).type == "cuda":
        text += f"; GPU {torch.cuda.get_device_name(torch.device(device))}"
    return text
