"""``edgedistill augment`` end to end, as a user runs it, in a child process."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli
from PIL import Image

from edgedistill.augment.pipeline import draw_views
from edgedistill.augment.stats import STATISTICS
from edgedistill.demo_data import generate_split

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def field_folder(tmp_path_factory) -> Path:
    """Field photos: demo images, noisy and JPEG-compressed, saved as files in nested folders."""
    folder = tmp_path_factory.mktemp("field")
    degradations = [
        {"SensorNoise": {"shot_range": [0.01, 0.03], "p": 1.0}},
        {"ImageCompression": {"quality_range": [25, 40], "p": 1.0}},
    ]
    images = draw_views(degradations, generate_split(per_class=6, image_size=48, seed=5).images, seed=1)
    for index, image in enumerate(images):
        (folder / f"day{index % 3}").mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"day{index % 3}" / f"{index}.png")
    return folder


def test_list_shows_every_shipped_domain():
    result = run_cli("augment", "list")
    assert result.returncode == 0, result.stderr
    for domain in ("phone", "low-light", "webcam", "dashcam", "security-camera", "clean"):
        assert domain in result.stdout


def test_preview_writes_a_labelled_grid(tmp_path):
    out = tmp_path / "grid.png"
    result = run_cli(
        "augment", "preview", "--domain", "phone", "--out", str(out), "--images", "3", "--views", "4", "--cell", "64"
    )
    assert result.returncode == 0, result.stderr
    with Image.open(out) as grid:
        assert grid.format == "PNG" and grid.width >= 5 * 64 and grid.height >= 3 * 64
        pixels = np.asarray(grid.convert("L"))
    assert (pixels < 128).mean() > 0.05, "the grid should show images and captions, not a blank page"


def test_check_prints_both_distributions_and_a_verdict(field_folder):
    result = run_cli("augment", "check", "--domain", "clean", "--field", str(field_folder), "--samples", "48")
    assert result.returncode == 0, result.stderr
    for statistic in STATISTICS:
        assert statistic in result.stdout
    assert "verdict: 'clean' is off on" in result.stdout and "noise" in result.stdout.split("verdict:")[1]


def test_fit_writes_a_preset_closer_than_phone_and_keeps_existing_files(field_folder, tmp_path):
    out = tmp_path / "mine.yaml"
    result = run_cli(
        "augment", "fit", "--field", str(field_folder), "--out", str(out), "--samples", "48", "--rounds", "1"
    )
    assert result.returncode == 0, result.stderr
    header = out.read_text().splitlines()[2]
    phone, fitted = (float(x.split()[0]) for x in header.split("'phone' ")[1].split(", this preset "))
    assert fitted < phone
    assert "SensorNoise" in yaml.safe_load(out.read_text())["transforms"].__repr__()
    before = out.read_text()
    again = run_cli("augment", "fit", "--field", str(field_folder), "--out", str(out))
    assert again.returncode == 1 and "--force" in again.stderr and out.read_text() == before


@pytest.mark.parametrize("make,message", [
    (lambda tmp: tmp / "missing", "is not a folder"),
    (lambda tmp: tmp, "holds no images"),
])  # fmt: skip
def test_bad_field_folder_gets_one_line(make, message, tmp_path):
    result = run_cli("augment", "check", "--field", str(make(tmp_path)))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.parametrize("make,message", [
    (lambda tmp: tmp, "must be a file path"),
    (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "mine.yaml", "must be a file path"),
])  # fmt: skip
def test_fit_refuses_an_out_path_it_cannot_write_before_searching(make, message, field_folder, tmp_path):
    result = run_cli("augment", "fit", "--field", str(field_folder), "--out", str(make(tmp_path)), "--force")
    assert result.returncode == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_preview_keeps_an_existing_file(tmp_path):
    out = tmp_path / "grid.png"
    out.write_bytes(b"mine")
    result = run_cli("augment", "preview", "--out", str(out))
    assert result.returncode == 1 and "--force" in result.stderr and out.read_bytes() == b"mine"


def test_malformed_preset_gets_one_line(tmp_path):
    preset = tmp_path / "broken.yaml"
    preset.write_text("transforms:\n  - [unclosed\n")
    result = run_cli("augment", "preview", "--domain", str(preset), "--out", str(tmp_path / "g.png"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "broken.yaml is not valid YAML" in lines[0]


def test_speed_benchmark_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "speed.json"
    script = ROOT / "benchmarks" / "augment_speed.py"
    result = subprocess.run(
        [sys.executable, str(script), "--quick", "--sizes", "32", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "phone at 32 px" in result.stdout
    written = json.loads(out.read_text())
    phone = [row for row in written["rows"] if row["kind"] == "preset" and row["name"] == "phone"]
    assert len(phone) == 1 and phone[0]["images_per_s"] > 0
    # the provenance that makes the figure reproducible: the command, the one core it was pinned to, the time
    assert "augment_speed.py --quick --sizes 32" in written["command"]
    assert written["machine"]["cores_used"] == 1 and written["wall_time_s"] > 0
