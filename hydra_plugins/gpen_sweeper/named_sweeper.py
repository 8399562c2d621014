"""Hydra's basic sweeper, with each job's folder named by the overrides that differ between the jobs
(gpen.sweep.naming) instead of its number: `experiment=ablation_sft/`, not `1/`.

Selected by `hydra/sweeper: named` (gpen's configs/hydra/default.yaml). The name goes to each job as a
`hydra.sweep.subdir` override, so every launcher (basic, joblib, submitit/SLURM) and every requeue of a
job uses the same folder.
"""

from dataclasses import dataclass
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.types import Override

from gpen.sweep.naming import register_resolvers, run_names

register_resolvers()  # Hydra imports this module before it composes any config


@dataclass
class NamedRunSweeperConf:
    _target_: str = "hydra_plugins.gpen_sweeper.named_sweeper.NamedRunSweeper"
    max_batch_size: Any = None
    params: Any = None


ConfigStore.instance().store(group="hydra/sweeper", name="named", node=NamedRunSweeperConf, provider="gpen")


class NamedRunSweeper(BasicSweeper):
    def split_arguments(  # type: ignore[override]  # an instance method: it reads the sweep's config
        self, overrides: list[Override], max_batch_size: int | None
    ) -> list[list[list[str]]]:
        batches = BasicSweeper.split_arguments(overrides, max_batch_size)
        jobs = [job for batch in batches for job in batch]
        exclude = list(self.config.hydra.job.config.override_dirname.exclude_keys) if self.config else []
        names = iter(run_names(jobs, exclude))
        return [[[*job, f"hydra.sweep.subdir='{next(names)}'"] for job in batch] for batch in batches]
