"""No-reference quality metrics from pyiqa (CLIP-IQA, MANIQA, MUSIQ, Q-Align) for the `ntire2025` preset.

pyiqa downloads its weights on first use; here nothing is downloaded. Each metric lists the files it
needs; `setup` looks for them in `experiments/pretrained_models/` (or GPEN_PRETRAINED_DIR) and in
pyiqa's own cache (torch hub dir / pyiqa, and / clip for CLIP), and the Hugging Face models it needs
(Q-Align: `q-future/one-align`) in the Hugging Face cache, and reports the metric unavailable, naming
the missing file or model and where to put it, before pyiqa would try the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from gpen.metrics.base import PerImageMetric
from gpen.utils.pretrained import MissingWeightsError, pretrained_dir


def pyiqa_cache_dirs() -> list[Path]:
    hub = Path(torch.hub.get_dir())
    return [pretrained_dir(), hub / "pyiqa", hub / "clip", hub / "checkpoints"]


class PyIQAMetric(PerImageMetric):
    """A pyiqa no-reference metric by name; higher is better for all four of the ntire2025 preset."""

    needs_reference = False
    lower_is_better = False

    def __init__(self, metric: str, weights: Sequence[str] = (), name: str | None = None,
                 config_key: str | None = None, hf_models: Sequence[str] = (),
                 one_image_at_a_time: bool = False) -> None:
        super().__init__()
        self.metric, self.weights, self.hf_models = metric, list(weights), list(hf_models)
        self.name = name or metric.upper()
        self.config_key = config_key or f"metrics.{metric}"
        self.one_image_at_a_time = one_image_at_a_time  # pyiqa's Q-Align takes batches of one
        self.network = None

    def find_weights(self) -> list[Path]:
        found = []
        for file in self.weights:
            hits = [folder / file for folder in pyiqa_cache_dirs() if (folder / file).is_file()]
            if not hits:
                folders = ", ".join(str(f) for f in pyiqa_cache_dirs())
                raise MissingWeightsError(f"{self.name} (pyiqa '{self.metric}') needs {file}: put it in one of "
                                          f"{folders} (no download is attempted), or switch it off with "
                                          f"{self.config_key}=null")
            found.append(hits[0])
        for repo in self.hf_models:
            self.check_hf_model(repo)
        return found

    def check_hf_model(self, repo: str) -> None:
        """Raise `MissingWeightsError` unless the Hugging Face model `repo` is in the local cache."""
        from huggingface_hub import constants, try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(repo, "config.json"), str):
            raise MissingWeightsError(
                f"{self.name} (pyiqa '{self.metric}') needs the Hugging Face model {repo} in the Hugging Face "
                f"cache ({constants.HF_HUB_CACHE}, env HF_HOME / HF_HUB_CACHE): fetch it on a machine with "
                f"internet (`hf download {repo}`) and copy the cache folder models--{repo.replace('/', '--')} "
                f"there (no download is attempted), or switch it off with {self.config_key}=null")

    def setup(self, device: torch.device | str = "cpu") -> None:
        super().setup(device)
        import pyiqa

        found = self.find_weights()
        local = [p for p in found if p.parent == pretrained_dir()]
        kwargs = {"pretrained_model_path": str(local[0])} if local else {}
        self.network = pyiqa.create_metric(self.metric, as_loss=False, device=self.device, **kwargs)

    def score(self, restored: torch.Tensor, reference: torch.Tensor | None) -> torch.Tensor:
        images = restored.float().clamp(0, 1)
        if self.one_image_at_a_time:
            return torch.cat([self.network(image[None]).flatten() for image in images])
        return self.network(images).flatten()

    def details(self) -> dict:
        return {"pyiqa_metric": self.metric, "weights": self.weights, "hf_models": self.hf_models}
