"""The restore block: validation, the texture-control article's config (Python and YAML), Hydra presets."""

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from gpen.restore import RestoreSettings
from gpen.restore.settings import ARTICLE_LATENT_STEPS
from gpen.utils.validation import ConfigValueError

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = {"degradation_scale": 0.7, "latent_step_decay": 0.04,
           "face_mask_weights": {"eye": 1.3, "lip": 1.3, "cheek": 1.0, "forehead": 0.8, "other": 0.7}}


def _check_article(settings: RestoreSettings) -> None:
    assert settings.degradation_scale == 0.7
    assert settings.latent_step == 0.04 and settings.latent_step_decay == 1.0  # the article's name is our eta
    assert settings.latent_steps == ARTICLE_LATENT_STEPS
    assert settings.region_weights == {"eyes": 1.3, "brows": 1.0, "nose": 1.0, "mouth": 1.3, "skin": 1.0,
                                       "forehead": 0.8, "hair": 1.0, "other": 0.7}


def test_article_config_from_python():
    _check_article(RestoreSettings.from_mapping(ARTICLE))


def test_article_config_from_a_yaml_file(tmp_path):
    path = tmp_path / "article.yaml"
    path.write_text(yaml.safe_dump(ARTICLE))
    _check_article(RestoreSettings.from_mapping(yaml.safe_load(path.read_text())))


def test_article_config_as_a_restore_preset():
    _check_article(RestoreSettings.from_mapping(OmegaConf.to_container(_compose(["restore=article"]).restore)))


def test_our_names_keep_their_meaning():
    settings = RestoreSettings.from_mapping({"latent_steps": 5, "latent_step": 0.05, "latent_step_decay": 0.9})
    assert (settings.latent_steps, settings.latent_step, settings.latent_step_decay) == (5, 0.05, 0.9)
    assert RestoreSettings().is_feed_forward and not settings.is_feed_forward


@pytest.mark.parametrize("values, match", [
    ({"degradation_scale": 1.6}, r"restore.degradation_scale=1.6 is out of range; valid range is \[0, 1.5\]"),
    ({"region_weights": {"eyes": 2.0}}, r"restore.region_weights.eyes=2.0 is out of range"),
    ({"face_mask_weights": {"ear": 1.5}}, r"unknown region 'ear'; valid: \['eyes', 'brows'"),
    ({"latent_steps": -1}, r"restore.latent_steps=-1 is out of range"),
    ({"latent_steps": 2.5}, r"must be an integer"),
    ({"latent_start": "random"}, r"restore.latent_start='random' is not one of"),
    ({"latent_step_decay": 1.5, "latent_step": 0.1}, r"restore.latent_step_decay=1.5 is out of range"),
    ({"strength": 1.0}, r"unknown restore setting\(s\) \['strength'\]; valid: \['sft_strength'"),
])
def test_bad_values_are_refused_with_key_and_range(values, match):
    with pytest.raises(ConfigValueError, match=match):
        RestoreSettings.from_mapping(values)


def _compose(overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("evaluate", overrides=["testset=x", *overrides])


def test_default_block_is_the_feed_forward_model_and_presets_compose():
    assert RestoreSettings.from_mapping(OmegaConf.to_container(_compose([]).restore)).is_feed_forward
    film = RestoreSettings.from_mapping(OmegaConf.to_container(_compose(["restore=film_scan"]).restore))
    assert film.keep_grain and film.degradation_scale == 0.5 and film.latent_step == 0.05
    digicam = RestoreSettings.from_mapping(OmegaConf.to_container(_compose(["restore=early_digicam"]).restore))
    assert digicam.region_weights["eyes"] == 1.3 and digicam.region_weights["mouth"] == 1.3
    assert digicam.region_weights["skin"] == 1.0  # preset weights merge into the defaults
    for name in ("ai_generated", "lowlight_phone"):
        RestoreSettings.from_mapping(OmegaConf.to_container(_compose([f"restore={name}"]).restore))
    grain = _compose(["restore.keep_grain=true", "restore.region_weights.skin=0.5"]).restore
    assert RestoreSettings.from_mapping(OmegaConf.to_container(grain)).region_weights["skin"] == 0.5
