"""How many torch CPU threads a run uses (`num_threads`): a number, null (torch's default) or `auto`.

Measured on a 2-core CPU with the demo (100 iterations): idle, 2 threads took 48 s and 1 thread 67 s;
with another training process on the machine, 1 thread was about 3× faster than 2 (OpenMP threads
spinning against each other). `auto` therefore takes the cores this process may use minus the ones the
1-minute load average says are busy, at least 1.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_num_threads(value: int | str | None, load: float | None = None) -> int | None:
    """The thread count for `num_threads=value` (None: leave torch's default)."""
    if value is None:
        return None
    if value == "auto":
        busy = os.getloadavg()[0] if load is None and hasattr(os, "getloadavg") else (load or 0.0)
        return max(1, usable_cores() - int(busy + 0.5))
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"num_threads must be a positive integer, null or auto, got {value!r}")
    return value
