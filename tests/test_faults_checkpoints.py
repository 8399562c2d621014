"""Checkpoint faults: clear errors for unreadable or foreign ckpt_path files, a resume with another
architecture, weight paths that are text files or folders, all missing files at once, file modes."""

import importlib.util
import os
import stat
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from gpen.lit.build import generator_spec
from gpen.lit.checkpointing import atomic_torch_save
from gpen.models.loading import UnreadableCheckpointError, load_generator
from gpen.utils.pretrained import MissingWeightsError

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "data.out_size=32", "data.batch_size=2", "data.val_batch_size=2",
    "data.train_dataset.num_images=6", "data.val_dataset.num_images=2",
    "model.generator.num_style_feat=32", "model.generator.narrow=0.0625", "model.generator.num_mlp=1",
    "model.validator.num_samples=2", "loss.terms.gan.discriminator.narrow=0.0625",
    "trainer.accelerator=cpu", "~callbacks.progress_bar", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "trainer.max_time=null", "trainer.limit_val_batches=0",
    "stylegan2_prior_file=null",  # the shipped 64 px prior does not fit the tiny generator
    "prior_discriminator_file=null",  # nor its discriminator the tiny one
]


def load_train_script():
    spec = importlib.util.spec_from_file_location("train_script", ROOT / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cfg_for(run_dir, *overrides):
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose("train", overrides=[*TINY, f"paths.run_dir={run_dir}", *overrides])


def test_text_file_or_truncated_file_as_ckpt_path_gets_one_clear_error(tmp_path):
    text = tmp_path / "notes.ckpt"
    text.write_text("epoch=3 step=1000\n")
    with pytest.raises(UnreadableCheckpointError, match="notes.ckpt.*not a PyTorch checkpoint"):
        load_train_script().train(cfg_for(tmp_path / "run", f"ckpt_path={text}"))
    truncated = tmp_path / "cut.ckpt"
    atomic_torch_save({"state_dict": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(UnreadableCheckpointError, match="cut.ckpt.*truncated"):
        load_train_script().train(cfg_for(tmp_path / "run", f"ckpt_path={truncated}"))


def test_resume_with_another_architecture_names_the_settings_that_differ(tmp_path):
    trained = cfg_for(tmp_path, "model.generator.narrow=0.125")
    ckpt = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}, "gpen_generator": generator_spec(trained.model)}, ckpt)
    with pytest.raises(ValueError, match=r"narrow=0.125.*narrow=0.0625.*model.generator.narrow") as error:
        load_train_script().train(cfg_for(tmp_path / "run", f"ckpt_path={ckpt}"))
    assert len(str(error.value).splitlines()) < 8


def test_load_generator_on_a_text_file_or_a_folder(tmp_path):
    text = tmp_path / "model.pth"
    text.write_text("not weights")
    with pytest.raises(UnreadableCheckpointError) as error:
        load_generator(text)
    assert "weights_only" not in str(error.value) and "not a PyTorch checkpoint" in str(error.value)
    folder = tmp_path / "weights"
    folder.mkdir()
    with pytest.raises(MissingWeightsError, match="is a folder") as error:
        load_generator(folder)
    assert "put the file at" not in str(error.value)


def test_every_missing_pretrained_file_is_reported_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "empty"))
    cfg = cfg_for(tmp_path / "run", "pretrained.stylegan2_prior=prior.pth", "pretrained.vgg19=vgg.pth",
                  "pretrained.arcface=arc.pth", "loss.terms.percep.weight=1", "loss.terms.identity.weight=1")
    with pytest.raises(MissingWeightsError) as error:
        load_train_script().train(cfg)
    assert all(name in str(error.value) for name in ("prior.pth", "vgg.pth", "arc.pth"))


def test_checkpoints_keep_the_users_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "a.ckpt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.ckpt").stat().st_mode) == 0o644


def test_missing_files_and_checkpoints_are_found_before_the_dataset_scan(tmp_path, monkeypatch):
    import gpen.data.folder

    def no_scan(*args, **kwargs):
        raise AssertionError("the dataset was scanned before the cheap checks")

    monkeypatch.setattr(gpen.data.folder, "scan_image_sizes", no_scan)
    monkeypatch.setenv("GPEN_PRETRAINED_DIR", str(tmp_path / "empty"))
    (tmp_path / "faces").mkdir()

    def ffhq_cfg(*overrides):
        with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
            return compose("train", overrides=[
                "data=ffhq", f"data.root={tmp_path / 'faces'}", "data.num_workers=0", "data.persistent_workers=false",
                "data.out_size=32", *TINY[5:10], "trainer.accelerator=cpu", f"paths.run_dir={tmp_path / 'run'}",
                *overrides])

    with pytest.raises(MissingWeightsError, match="prior.pth"):
        load_train_script().train(ffhq_cfg("pretrained.stylegan2_prior=prior.pth"))
    with pytest.raises(FileNotFoundError, match="ckpt_path"):
        load_train_script().train(ffhq_cfg(f"ckpt_path={tmp_path / 'gone.ckpt'}"))


def test_a_full_disk_while_checkpointing_is_one_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    import errno

    from gpen.lit import checkpointing

    path = tmp_path / "ckpt" / "last.ckpt"
    atomic_torch_save({"w": torch.ones(10)}, path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle):
            self.handle, self.written = handle, 0

        def write(self, data):
            self.written += len(data)
            if self.written > 4096:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(checkpointing.os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match=r"last\.ckpt.*ckpt.*MB") as error:
        atomic_torch_save({"w": torch.zeros(1_000_000)}, path)
    assert error.value.errno == errno.ENOSPC and error.value.__suppress_context__
    assert "4.0 MB" in str(error.value)  # the size the checkpoint needs
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]
