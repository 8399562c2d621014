"""Every training run scores itself when it ends: the EMA generator on a fixed paired test set, with
the same metrics, results files and protocol record as `evaluate.py` (gpen.metrics.benchmark), so a
sweep leaves one `<run>/results.json` per run for `gpen-report`.

The default test set is built-in synthetic faces from an id range disjoint from the training (0..) and
validation (1,000,000..) faces, degraded by the run's own degradation model at a fixed severity, so
every run of a sweep -- even a training-severity sweep -- is scored on the same pairs. Any
`gpen-make-testset` folder can be given instead. A run stopped by a preemption signal is not scored
(it will resume); a run stopped by its time budget is scored, marked `training.finished: false`, and
scored again when it is continued; a re-launched run that already scored its step is not scored twice.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_info

from gpen.cli.make_testset import SYNTHETIC_FIRST_ID, write_synthetic_testset
from gpen.data.testsets import ImagePairs, TestSet, open_testset
from gpen.metrics.benchmark import benchmark, restore_folder, save_test_faces


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


class EvaluateAtEnd(pl.Callback):
    """At the end of fit (rank zero): restore the test set with the EMA generator, score it, write
    `<run>/results.{md,csv,json}` and `<run>/test_faces/`. Configured with `_recursive_: false`: the
    metric specs are recorded as given and built here, like evaluate.py does."""

    def __init__(self, run_dir: str, metrics: Mapping[str, Any], testset: str | None = None,
                 synthetic: Mapping[str, Any] | None = None, degradation: Mapping[str, Any] | None = None,
                 protocol: Mapping[str, Any] | None = None, batch_size: int = 8, saved_faces: int = 8,
                 enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.metrics = _plain(metrics)
        self.testset = testset
        self.synthetic = {"num_images": 16, "size": 512, "seed": 0, "degradation_scale": 1.0,
                          **(_plain(synthetic) or {})}
        self.degradation = _plain(degradation)
        self.protocol = {"input_size": None, "resize": None, **(_plain(protocol) or {})}
        self.batch_size = batch_size
        self.saved_faces = saved_faces
        self.enabled = enabled

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        if getattr(pl_module, "input_key", "lq") is None:
            rank_zero_info("Unconditional model (a prior): no test set to restore, no final evaluation.")
            return
        if any(getattr(cb, "stopped_by_signal", False) for cb in trainer.callbacks):  # preemption, Ctrl-C
            rank_zero_info("Stopped by a signal: no final evaluation (it runs when the resumed run ends).")
            return
        if self.already_scored(trainer.global_step):
            rank_zero_info(f"{self.run_dir / 'results.json'} already scores step {trainer.global_step}.")
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".final_eval_", dir=self.run_dir) as tmp:
            self.evaluate(trainer, pl_module, Path(tmp))

    def already_scored(self, step: int) -> bool:
        path = self.run_dir / "results.json"
        if not path.is_file():
            return False
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        return metadata.get("training", {}).get("global_step") == step and "metric_details" in metadata

    def build_testset(self, folder: Path) -> tuple[TestSet, dict]:
        if self.testset is not None:
            return open_testset(self.testset), {"source": "folder"}
        degradation = None
        if self.degradation is not None:
            degradation = instantiate(self.degradation)  # a new object: the training data's is untouched
            if self.synthetic["degradation_scale"] is not None:
                degradation.degradation_scale = float(self.synthetic["degradation_scale"])
        settings = {k: self.synthetic[k] for k in ("num_images", "size", "seed")}
        write_synthetic_testset(folder, degradation=degradation,
                                degradation_scale=self.synthetic["degradation_scale"] or 1.0, **settings)
        label = (f"synthetic faces {SYNTHETIC_FIRST_ID}..+{settings['num_images']} at {settings['size']} px, "
                 f"seed {settings['seed']}, degradation_scale {self.synthetic['degradation_scale']}")
        return open_testset(folder), {"source": "built-in synthetic faces", "label": label, **settings,
                                      "degradation_scale": self.synthetic["degradation_scale"]}

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule, tmp: Path) -> None:
        testset, origin = self.build_testset(tmp / "testset")
        generator = pl_module.generator_ema
        size = self.protocol["input_size"] or getattr(generator, "out_size", None)
        inputs = ImagePairs(testset.inputs, size=size)
        restored = restore_folder(generator, inputs, tmp / "restored", pl_module.device, self.batch_size)
        metadata = {
            "testset": origin.get("label", str(testset.root)), "checkpoint": None, "restored_folder": None,
            "testset_origin": origin,
            "restoration": {"generator": "EMA generator in memory", "restored_images": len(inputs),
                            "input_resized_to": size, "skipped_inputs": inputs.skipped.as_dict()},
            "training": {"run_dir": str(self.run_dir.resolve()), "global_step": trainer.global_step,
                         "max_steps": trainer.max_steps, "finished": trainer.global_step >= trainer.max_steps,
                         "epoch": trainer.current_epoch},
        }
        table = benchmark(restored, testset, self.run_dir.name, self.metrics, self.protocol, self.run_dir,
                          metadata, pl_module.device, self.batch_size)
        save_test_faces(testset, restored, self.run_dir, self.saved_faces)
        rank_zero_info("Final evaluation (EMA generator):\n" + table.to_markdown().split("\n## ")[0])
