"""Datasets and datamodule: item contract, flips, component boxes, landmark files, bad input,
determinism across worker counts, epochs, and the Hydra data configs."""

import hashlib
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from gpen.data.components import (
    boxes_from_five_points,
    boxes_from_official,
    boxes_from_points,
    flip_boxes,
    template_boxes,
)
from gpen.data.datamodule import FaceDataModule
from gpen.data.degradation import GFPGANDegradation
from gpen.data.folder import FaceFolderDataset
from gpen.data.landmarks import write_landmarks
from gpen.data.regions import OTHER
from gpen.data.synthetic import SyntheticFaceDataset, render_face
from gpen.utils.image_io import EmptyImageFolderError, UnreadableImageError
from gpen.utils.validation import ConfigValueError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PARTS = ("left_eye", "right_eye", "mouth")


def write_faces(folder: Path, count: int, size: int = 64) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i:05d}.png"
        image = (render_face(i, size)[0][:, :, ::-1] * 255).round().astype(np.uint8)
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths


def folder_digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_synthetic_item_contract():
    item = SyntheticFaceDataset(4, 32, GFPGANDegradation(), seed=1)[2]
    for key in ("gt", "lq"):
        assert item[key].shape == (3, 32, 32) and item[key].dtype == torch.float32
        assert -1 <= item[key].min() and item[key].max() <= 1
    for part in PARTS:
        assert item[f"loc_{part}"].shape == (4,) and item[f"loc_{part}"].dtype == torch.float32
    assert item["regions"].shape == (32, 32) and item["regions"].dtype == torch.int64
    assert item["index"] == 2 and item["name"] == "synthetic_0000002"


def test_flip_moves_pixels_boxes_and_regions_together():
    clean = GFPGANDegradation(degradation_scale=0.0)
    plain = SyntheticFaceDataset(3, 48, clean, flip_prob=0.0)[1]
    flipped = SyntheticFaceDataset(3, 48, clean, flip_prob=1.0)[1]
    assert torch.equal(flipped["gt"], plain["gt"].flip(-1)) and torch.equal(flipped["lq"], flipped["gt"])
    assert torch.equal(flipped["regions"], plain["regions"].flip(-1))
    # left and right eye swap; x -> W - x
    for new, old in (("left_eye", "right_eye"), ("right_eye", "left_eye"), ("mouth", "mouth")):
        x1, y1, x2, y2 = plain[f"loc_{old}"].tolist()
        assert flipped[f"loc_{new}"].tolist() == pytest.approx([48 - x2, y1, 48 - x1, y2])
    box = {"left_eye": (1.0, 2.0, 5.0, 6.0), "right_eye": (10.0, 2.0, 14.0, 6.0), "mouth": (3.0, 8.0, 9.0, 12.0)}
    assert flip_boxes(flip_boxes(box, 16), 16) == box


def test_official_landmark_entry_to_boxes():
    entry = {"left_eye": [200.0, 240.0, 20.0], "right_eye": [312.0, 240.0, 20.0], "mouth": [256.0, 370.0, 50.0]}
    boxes = boxes_from_official(entry, 512)
    assert boxes["left_eye"] == pytest.approx((200 - 28 + 1, 240 - 28 + 1, 228, 268))  # eyes x1.4
    assert boxes["mouth"] == pytest.approx((207, 321, 306, 420))
    assert boxes_from_official(entry, 256)["mouth"] == pytest.approx((104.0, 161.0, 153.0, 210.0))


def test_landmark_points_to_boxes_rule():
    points = {"left_eye": [[100, 200], [140, 210]], "right_eye": [[300, 200], [304, 202]],
              "mouth": [[200, 360], [320, 380]]}
    boxes = boxes_from_points(points, 512)
    # centre = mean, half = max(max(w, h) / 2, 16), eyes x1.4
    assert boxes["left_eye"] == pytest.approx((120 - 28 + 1, 205 - 28 + 1, 148, 233))
    assert boxes["right_eye"] == pytest.approx((302 - 22.4 + 1, 201 - 22.4 + 1, 324.4, 223.4))  # min half 16
    assert boxes["mouth"] == pytest.approx((260 - 60 + 1, 370 - 60 + 1, 320, 430))
    small = boxes_from_points({k: np.array(v) / 4 for k, v in points.items()}, 128)
    # the minimum half size scales with out_size: 16 * 128 / 512 = 4, x1.4 for eyes
    assert small["right_eye"][2] - small["right_eye"][0] == pytest.approx(2 * 4 * 1.4 - 1)


def test_template_boxes_cover_template_points():
    boxes = template_boxes(512)
    for name, (x, y) in (("left_eye", (193, 240)), ("right_eye", (319, 240)), ("mouth", (257, 371))):
        x1, y1, x2, y2 = boxes[name]
        assert x1 < x < x2 and y1 < y < y2
    assert template_boxes(128)["mouth"] == pytest.approx(np.array(boxes["mouth"]) / 4, abs=1.0)
    with pytest.raises(ValueError, match="5 landmarks"):
        boxes_from_five_points(np.zeros((4, 2)), 512)


def test_folder_dataset_with_official_landmarks(tmp_path):
    write_faces(tmp_path / "hq", 3, size=64)
    table = {f"{i:08d}": {"left_eye": np.array([190.0, 240, 20]), "right_eye": np.array([320.0, 240, 20]),
                          "mouth": np.array([256.0, 370, 48])} for i in range(3)}
    torch.save(table, tmp_path / "FFHQ_eye_mouth_landmarks_512.pth")
    dataset = FaceFolderDataset(tmp_path / "hq", 128, GFPGANDegradation(), tmp_path / "FFHQ_eye_mouth_landmarks_512.pth",
                                flip_prob=0.0)
    item = dataset[1]
    assert item["gt"].shape == (3, 128, 128) and item["name"] == "00001"
    assert item["loc_mouth"].tolist() == pytest.approx([64 - 12 + 1, 92.5 - 12 + 1, 76, 104.5])
    assert (item["regions"] == OTHER).all()
    torch.save({"00000000": {"nose": [1, 2, 3]}}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="bad.pth"):
        FaceFolderDataset(tmp_path / "hq", 128, GFPGANDegradation(), tmp_path / "bad.pth")


def test_folder_dataset_with_gpen_landmarks(tmp_path, caplog):
    write_faces(tmp_path / "hq", 2, size=64)
    points = (np.array([[193, 240], [319, 240], [256, 314], [201, 371], [313, 371]]) / 2).tolist()
    write_landmarks(tmp_path / "lm.json", {"00000.png": {"size": [256, 256], "landmarks": points, "score": 1.0},
                                           "00001.png": {"size": [64, 64], "landmarks": None, "score": 0.0}})
    with caplog.at_level(logging.WARNING):
        dataset = FaceFolderDataset(tmp_path / "hq", 64, GFPGANDegradation(), tmp_path / "lm.json", flip_prob=0.0)
    assert "1 image(s) without detected landmarks" in caplog.text and "00001.png" in caplog.text
    expected = boxes_from_five_points(np.array(points) / 4, 64)
    assert dataset[0]["loc_left_eye"].tolist() == pytest.approx(expected["left_eye"])
    assert dataset[1]["loc_mouth"].tolist() == pytest.approx(template_boxes(64)["mouth"])
    write_landmarks(tmp_path / "partial.json", {"00000.png": {"size": [64, 64], "landmarks": points, "score": 1}})
    with pytest.raises(ValueError, match="00001.png"):
        FaceFolderDataset(tmp_path / "hq", 64, GFPGANDegradation(), tmp_path / "partial.json")


def test_bad_files_are_skipped_with_one_warning_and_input_untouched(tmp_path, caplog):
    folder = tmp_path / "hq"
    write_faces(folder, 2, size=32)
    (folder / "notes.png").write_text("not an image")
    good_jpeg = cv2.imencode(".jpg", np.full((32, 32, 3), 128, np.uint8))[1].tobytes()
    (folder / "cut.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    gray = (np.arange(32 * 32).reshape(32, 32) % 256).astype(np.uint8)
    cv2.imwrite(str(folder / "gray.png"), gray)
    cv2.imwrite(str(folder / "rgba.png"), np.dstack([np.full((32, 32, 3), 200, np.uint8), np.zeros((32, 32), np.uint8)]))
    cv2.imwrite(str(folder / "deep.png"), np.full((32, 32, 3), 65535 // 4, np.uint16))
    before = folder_digest(folder)
    with caplog.at_level(logging.WARNING):
        dataset = FaceFolderDataset(folder, 32, GFPGANDegradation(degradation_scale=0.0), flip_prob=0.0)
    assert [r for r in caplog.records if r.levelno == logging.WARNING].__len__() == 1
    assert "2 unreadable" in caplog.text and "notes.png" in caplog.text and "cut.jpg" in caplog.text
    items = {dataset[i]["name"]: dataset[i] for i in range(len(dataset))}
    assert sorted(items) == ["00000", "00001", "deep", "gray", "rgba"]
    gt = {name: (item["gt"] + 1) / 2 for name, item in items.items()}
    assert torch.allclose(gt["gray"][0], torch.from_numpy(gray / 255.0).float(), atol=1e-6)
    assert torch.equal(gt["gray"][0], gt["gray"][2])
    assert torch.allclose(gt["rgba"], torch.full_like(gt["rgba"], 200 / 255), atol=1e-6)
    assert torch.allclose(gt["deep"], torch.full_like(gt["deep"], (65535 // 4) / 65535), atol=1e-6)
    with pytest.raises(UnreadableImageError, match="notes.png"):
        FaceFolderDataset(folder, 32, GFPGANDegradation(), strict=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "broken.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(EmptyImageFolderError, match="empty"):
        FaceFolderDataset(empty, 32, GFPGANDegradation())
    assert folder_digest(folder) == before


def test_invalid_dataset_values_are_refused(tmp_path):
    with pytest.raises(ConfigValueError, match="flip_prob"):
        SyntheticFaceDataset(4, 32, GFPGANDegradation(), flip_prob=1.5)
    with pytest.raises(ConfigValueError, match="out_size"):
        SyntheticFaceDataset(4, 8, GFPGANDegradation())
    with pytest.raises(FileNotFoundError, match="missing"):
        FaceFolderDataset(tmp_path / "missing", 32, GFPGANDegradation())
    train = SyntheticFaceDataset(4, 32, GFPGANDegradation())
    with pytest.raises(ConfigValueError, match="out_size"):
        FaceDataModule(train, SyntheticFaceDataset(4, 48, GFPGANDegradation()), out_size=32)


def collect(loader):
    return [{k: v for k, v in batch.items()} for batch in loader]


def test_same_samples_for_any_worker_count_and_new_degradations_per_epoch():
    def module(workers):
        return FaceDataModule(SyntheticFaceDataset(6, 32, GFPGANDegradation(), seed=3),
                              SyntheticFaceDataset(4, 32, GFPGANDegradation(), seed=3, first_id=100, flip_prob=0.0),
                              batch_size=2, val_batch_size=2, num_workers=workers, out_size=32, seed=3)

    serial, parallel = module(0), module(2)
    runs = {}
    for name, dm in (("serial", serial), ("parallel", parallel)):
        loader = dm.train_dataloader()
        epochs = []
        for epoch in (0, 1):
            loader.sampler.set_epoch(epoch)  # what Lightning does at each epoch start
            epochs.append(collect(loader))
        runs[name] = (epochs, collect(dm.val_dataloader()), collect(dm.val_dataloader()))
    for a, b in zip(runs["serial"][0][0] + runs["serial"][0][1] + runs["serial"][1],
                    runs["parallel"][0][0] + runs["parallel"][0][1] + runs["parallel"][1]):
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"]) and a["name"] == b["name"]
    epoch0 = {n: lq for batch in runs["serial"][0][0] for n, lq in zip(batch["name"], batch["lq"])}
    epoch1 = {n: lq for batch in runs["serial"][0][1] for n, lq in zip(batch["name"], batch["lq"])}
    assert set(epoch0) == set(epoch1) and any(not torch.equal(epoch0[n], epoch1[n]) for n in epoch0)
    for a, b in zip(runs["serial"][1], runs["serial"][2]):  # validation is fixed
        assert torch.equal(a["lq"], b["lq"])


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def test_hydra_synthetic_and_ffhq_configs_instantiate(tmp_path):
    from hydra.utils import instantiate

    dm = instantiate(compose(["data.train_dataset.num_images=4", "data.val_dataset.num_images=2"]).data)
    batch = next(iter(dm.train_dataloader()))
    assert batch["gt"].shape == (4, 3, 64, 64) and dm.out_size == 64
    write_faces(tmp_path / "ffhq", 3, size=64)
    cfg = compose(["data=ffhq", f"data.root={tmp_path / 'ffhq'}", "data.out_size=32", "data.num_workers=0",
                   "data.batch_size=2", "data.pin_memory=false", "data.persistent_workers=false"])
    dm = instantiate(cfg.data)
    batch = next(iter(dm.train_dataloader()))
    assert batch["lq"].shape == (2, 3, 32, 32) and len(dm.val_dataset) == 3
    assert batch["loc_mouth"][0].tolist() == pytest.approx(template_boxes(32)["mouth"]) or \
        batch["loc_mouth"][0].tolist() == pytest.approx(flip_boxes(template_boxes(32), 32)["mouth"])


def test_landmarks_file_is_plain_json(tmp_path):
    write_landmarks(tmp_path / "lm.json", {"a.png": {"size": [8, 8], "landmarks": None, "score": 0.0}})
    payload = json.loads((tmp_path / "lm.json").read_text())
    assert payload["format"] == "gpen-landmarks/v1" and payload["images"]["a.png"]["landmarks"] is None


def test_lightning_passes_the_epoch_to_the_sampler():
    import pytorch_lightning as pl

    class Recorder(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.seen = {}

        def training_step(self, batch, _):
            for name, lq in zip(batch["name"], batch["lq"]):
                self.seen.setdefault(self.current_epoch, {})[name] = lq.clone()
            return (self.weight * 0).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm = FaceDataModule(SyntheticFaceDataset(4, 32, GFPGANDegradation(), seed=5),
                        SyntheticFaceDataset(2, 32, GFPGANDegradation(), first_id=50, flip_prob=0.0),
                        batch_size=2, out_size=32)
    model = Recorder()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    first, second = model.seen[0], model.seen[1]
    assert set(first) == set(second) and len(first) == 4
    assert all(not torch.equal(first[n], second[n]) for n in first)  # new degradations each epoch
    expected = SyntheticFaceDataset(4, 32, GFPGANDegradation(), seed=5)[(1, 2)]
    assert torch.equal(second[expected["name"]], expected["lq"])  # epoch 1 sample == (seed, 1, index)


class _NotData:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_landmark_file_loading_refuses_code(tmp_path, capsys):
    write_faces(tmp_path / "hq", 1, size=32)
    torch.save({"00000000": _NotData()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="evil.pth"):
        FaceFolderDataset(tmp_path / "hq", 32, GFPGANDegradation(), tmp_path / "evil.pth")
    assert "must never run" not in capsys.readouterr().out


def test_max_images_takes_a_fixed_verified_subset(tmp_path, caplog):
    folder = tmp_path / "hq"
    write_faces(folder, 4, size=32)
    (folder / "00001.png").write_bytes(b"broken")
    with caplog.at_level(logging.WARNING):
        dataset = FaceFolderDataset(folder, 32, GFPGANDegradation(), max_images=3)
    assert [p.name for p in dataset.paths] == ["00000.png", "00002.png"] and "00001.png" in caplog.text
    unchecked = FaceFolderDataset(folder, 32, GFPGANDegradation(), verify=False)
    assert len(unchecked) == 4
    assert unchecked[1]["name"] == "00002" and unchecked.unreadable_at_run_time == [str(folder / "00001.png")]
    with pytest.raises(UnreadableImageError, match="00001.png"):  # strict: a bad file stops the run
        FaceFolderDataset(folder, 32, GFPGANDegradation(), verify=False, strict=True)[1]
