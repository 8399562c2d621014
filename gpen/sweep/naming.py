"""Run folders and report rows named by the overrides that differ between the runs of a sweep.

`python train.py -m experiment=ablation_sft,ablation_cs_sft scale=demo` gives the folders
`experiment=ablation_cs_sft/` and `experiment=ablation_sft/` (not 0/, 1/): what is common to every job
(scale=demo) is left out, what differs is kept, seeds included. The names are deterministic, so a
re-launched sweep finds each job's own folder (and its last.ckpt) again.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence

from omegaconf import OmegaConf

MAX_NAME = 150
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@:~-]")


def split_override(line: str) -> tuple[str, str]:
    """'+a.b=1' -> ('a.b', '1'); '~a.b' -> ('~a.b', '')."""
    key, _, value = line.partition("=")
    return key.lstrip("+"), value


def differing_keys(jobs: Sequence[Sequence[str]]) -> list[str]:
    """Keys whose value is not the same in every job (a key missing from a job counts as a value)."""
    parsed = [dict(split_override(line) for line in job) for job in jobs]
    keys = sorted({key for job in parsed for key in job})
    return [key for key in keys if len({job.get(key) for job in parsed}) > 1]


def safe_dirname(text: str) -> str:
    """A single path component: path separators and shell-unfriendly characters become '_'; long
    names are cut and end in a short hash of the full text, so they stay unique."""
    name = _UNSAFE.sub("_", text).strip(".") or "run"
    if len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 9]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
    return name


def run_names(jobs: Sequence[Sequence[str]], exclude: Iterable[str] = ()) -> list[str]:
    """One folder name per job: its differing overrides (sorted by key), or, for a single job, all of
    its overrides except `exclude`; unique within the sweep."""
    exclude = set(exclude)
    if len(jobs) > 1:
        keys = set(differing_keys(jobs))
    else:
        keys = {split_override(line)[0] for job in jobs for line in job} - exclude
    names = []
    for job in jobs:
        items = sorted((k, v) for k, v in map(split_override, job) if k in keys)
        names.append(safe_dirname(",".join(f"{k}={v}" if v or not k.startswith("~") else k for k, v in items)))
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # sanitising may merge two names: number the later ones
        if name in seen:
            names[i] = f"{name}-{i}"
        seen[name] = i
    return names


def register_resolvers() -> None:
    """`${gpen.or:VALUE,DEFAULT}`: DEFAULT where VALUE is null -- e.g. a study folder named by the
    chosen `scale`, or `paper` when none is chosen. Registered when Hydra loads gpen's plugin."""
    if not OmegaConf.has_resolver("gpen.or"):
        OmegaConf.register_new_resolver("gpen.or", lambda value, default: default if value is None else value)
