"""`train.py` end to end: exact resume (N steps = k steps + checkpoint + resume to N), `ckpt_path=last`,
and the start-up errors for missing checkpoints and pretrained files."""

import importlib.util
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gpen.utils.pretrained import MissingWeightsError

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "scale=tiny", "data.out_size=32", "data.batch_size=2", "data.val_batch_size=2",
    "data.train_dataset.num_images=6", "data.val_dataset.num_images=2",  # 3 batches per epoch
    "model.generator.num_style_feat=32", "model.generator.narrow=0.0625", "model.generator.num_mlp=1",
    "model.validator.num_samples=2", "loss.terms.gan.discriminator.narrow=0.0625",
    "loss.terms.gan.r1_interval=2",  # lazy R1 inside the few steps
    "trainer.accelerator=cpu", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "trainer.max_time=null", "trainer.val_check_interval=2",
    "callbacks.model_checkpoint.every_n_train_steps=1", "callbacks.model_checkpoint.save_top_k=2",
]


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cfg_for(run_dir, *overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=[*TINY, f"paths.run_dir={run_dir}", *overrides])


def trained_state(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 4
    return checkpoint["state_dict"], checkpoint["optimizer_states"]


@pytest.mark.slow
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path):
    train = load_train_script().train
    train(cfg_for(tmp_path / "straight", "trainer.max_steps=4"))
    # stop mid-epoch (2 of 3 batches), then resume the same run folder to 4 steps
    train(cfg_for(tmp_path / "resumed", "trainer.max_steps=2"))
    kept = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").glob("step*.ckpt"))
    assert kept == ["step0000001.ckpt", "step0000002.ckpt"]
    train(cfg_for(tmp_path / "resumed", "trainer.max_steps=4", "ckpt_path=last"))

    (straight, straight_opt), (resumed, resumed_opt) = map(trained_state, (tmp_path / "straight", tmp_path / "resumed"))
    assert straight.keys() == resumed.keys()
    for key in straight:  # generator, EMA, discriminators
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-5, atol=1e-6, msg=key)
    for a, b in zip(straight_opt, resumed_opt):
        for pa, pb in zip(a["state"].values(), b["state"].values()):
            torch.testing.assert_close(pa["exp_avg"], pb["exp_avg"], rtol=1e-5, atol=1e-6)
    kept = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").glob("step*.ckpt"))
    assert kept == ["step0000003.ckpt", "step0000004.ckpt"]  # only the last K=2 stay
    assert (tmp_path / "resumed" / "checkpoints" / "generator_ema.pth").is_file()


def test_ckpt_path_last_without_a_checkpoint_is_an_error(tmp_path):
    script = load_train_script()
    with pytest.raises(FileNotFoundError, match="last.ckpt.*hydra.run.dir"):
        script.resolve_ckpt_path("last", tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        script.resolve_ckpt_path(str(tmp_path / "nothing.ckpt"), tmp_path)


def test_missing_pretrained_file_stops_at_start_up(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "cache"))
    train = load_train_script().train
    cfg = cfg_for(tmp_path / "run", "pretrained.vgg19=vgg19-dcbb9e9d.pth", "loss.terms.percep.weight=1")
    with pytest.raises(MissingWeightsError, match=r"vgg19-dcbb9e9d.pth[\s\S]*pretrained.vgg19"):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained


def test_stylegan2_prior_loads_from_a_file_written_by_the_same_code(tmp_path, monkeypatch):
    from gpen.lit.build import build_module
    from gpen.lit.pretrained import load_pretrained

    cfg = cfg_for(tmp_path / "run", "model.generator.fix_decoder=true")
    module = build_module(cfg)
    donor = build_module(cfg).generator.stylegan_decoder  # another random init, same shapes
    torch.save({"params_ema": donor.state_dict()}, tmp_path / "prior.pth")
    notes = load_pretrained(module, {"stylegan2_prior": str(tmp_path / "prior.pth")})
    assert not any("prior" in n for n in notes)
    for key, value in donor.state_dict().items():
        assert torch.equal(module.generator.stylegan_decoder.state_dict()[key], value)
        assert torch.equal(module.generator_ema.stylegan_decoder.state_dict()[key], value)  # EMA follows
