"""Results table writers: Markdown / CSV / JSON, round trips and partial-result safety."""

import json
import math

from gpen.metrics.report import ResultsTable


def _table():
    table = ResultsTable(["PSNR", "SSIM", "FID"], metadata={"testset": "/data/celeba_test", "images": {"ours": 3}})
    table.set("ours", "PSNR", 25.0812345678)
    table.set("ours", "SSIM", 0.6777)
    table.set("ours", "FID", "unavailable: Missing pretrained weights for FID Inception-v3: pt_inception.pth\n"
                             "  looked in: experiments/pretrained_models/pt_inception.pth")
    table.set("Input", "PSNR", math.inf)
    table.set("Input", "SSIM", 0.5)
    return table


def test_csv_and_json_round_trip_exactly(tmp_path):
    table = _table()
    paths = table.write(tmp_path)
    from_csv = ResultsTable.from_csv(paths["csv"])
    from_json = ResultsTable.from_json(paths["json"])
    assert from_csv.metrics == from_json.metrics == ["PSNR", "SSIM", "FID"]
    assert from_csv.rows == table.rows and from_json.rows == table.rows
    assert from_json.metadata == table.metadata
    assert list(from_csv.rows) == ["ours", "Input"]  # row order kept
    json.loads(paths["json"].read_text())  # strict JSON: inf is stored as text, not Infinity


def test_markdown_shows_values_reasons_and_run_metadata(tmp_path):
    text = _table().write(tmp_path)["md"].read_text()
    assert "| method | PSNR | SSIM | FID |" in text
    assert "| ours | 25.0812 | 0.6777 | unavailable [1] |" in text  # short cell, the reason in the notes
    assert "[1] ours / FID: unavailable: Missing pretrained weights for FID Inception-v3" in text
    assert "| Input | inf | 0.5000 |  |" in text
    assert "looked in: experiments/pretrained_models/pt_inception.pth" in text  # full reason in the notes
    assert '- testset: "/data/celeba_test"' in text


def test_rewrite_replaces_files_and_leaves_no_temporaries(tmp_path):
    table = _table()
    table.write(tmp_path)
    table.set("ours", "FID", 42.62)
    table.write(tmp_path)
    assert ResultsTable.from_json(tmp_path / "results.json").get("ours", "FID") == 42.62
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.json", "results.md"]
