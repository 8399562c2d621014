"""Scenario presets: seeded and reproducible, identity at degradation_scale 0, usable for data and test sets."""

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from gpen.cli.make_testset import main as make_testset
from gpen.data.items import sample_rng
from gpen.data.scenarios import PRESETS
from gpen.data.synthetic import SyntheticFaceDataset, render_face
from gpen.utils.validation import ConfigValueError

ROOT = Path(__file__).resolve().parents[1]
GT = render_face(3, 64)[0]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_a_pure_function_of_seed_and_params(name):
    preset = PRESETS[name]()
    params = preset.sample_params(sample_rng(0, 0, 5))
    assert json.loads(json.dumps(params)) == params  # a manifest can record it
    lq = preset.apply(GT, params)
    assert lq.shape == GT.shape and lq.dtype == np.float32 and 0.0 <= lq.min() and lq.max() <= 1.0
    assert np.array_equal(lq, preset.apply(GT, preset.sample_params(sample_rng(0, 0, 5))))
    assert not np.array_equal(lq, preset.apply(GT, preset.sample_params(sample_rng(0, 0, 6))))
    assert np.abs(lq - GT).mean() > 0.002


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_degradation_scale_moves_toward_identity(name):
    rng = sample_rng(1, 0, 0)
    zero = PRESETS[name](degradation_scale=0.0)
    assert np.array_equal(zero.apply(GT, zero.sample_params(rng)), GT)
    errors = [np.abs(PRESETS[name](degradation_scale=s).apply(GT, PRESETS[name](degradation_scale=s)
                                                              .sample_params(sample_rng(1, 0, 0))) - GT).mean()
              for s in (0.3, 1.0)]
    assert errors[0] < errors[1]


def test_bad_ranges_are_refused():
    with pytest.raises(ConfigValueError, match="degradation.degradation_scale=2.0 is out of range"):
        PRESETS["film_scan"](degradation_scale=2.0)
    with pytest.raises(ConfigValueError, match="degradation.grain_sigma"):
        PRESETS["film_scan"](grain_sigma=(0.06, 0.02))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_training_data_config_builds_the_preset(name):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=[f"degradation={name}"])
    degradation = instantiate(cfg.degradation)
    assert type(degradation) is PRESETS[name]
    data = SyntheticFaceDataset(4, 32, degradation, seed=0)
    assert np.array_equal(data[(0, 1)]["lq"].numpy(), data[(0, 1)]["lq"].numpy())


def test_make_testset_with_a_preset_is_byte_identical_per_seed(tmp_path):
    for out in ("a", "b"):
        assert make_testset(["--synthetic", "2", "--size", "32", "--preset", "film_scan",
                             "--output", str(tmp_path / out)]) == 0
    first, second = (sorted((tmp_path / o / "lq").iterdir()) for o in ("a", "b"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["preset"] == "film_scan" and manifest["images"][0]["params"]["preset"] == "film_scan"
    for name in sorted(set(PRESETS) - {"film_scan"}):  # every preset's settings go into the manifest
        assert make_testset(["--synthetic", "1", "--size", "32", "--preset", name, "--output", str(tmp_path / name)]) == 0
        assert json.loads((tmp_path / name / "manifest.json").read_text())["preset"] == name
