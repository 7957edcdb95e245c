"""Hostile but fair input: every image mode decodes to the RGB a viewer shows, and every file a user can
damage (images, checkpoints, presets, run files) stops the command with one line that names the file and
the fix, changing nothing."""

import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from edgedistill.augment import build_train_transform
from edgedistill.cli import app
from edgedistill.data import load_data, read_image
from edgedistill.device_report import gather_measurements
from edgedistill.errors import UserError
from edgedistill.models import METADATA_KEY, load_checkpoint, load_state_dict_checkpoint


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under ``root``: equal snapshots mean nothing was touched."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


def refused(root: Path, *args: object) -> str:
    """Run the CLI in-process and return its one error line, after checking that it exited 1 without a
    traceback and that nothing under ``root`` changed."""
    before = snapshot(root)
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert snapshot(root) == before
    return lines[0]


def assert_names(line: str, *words: str) -> None:
    missing = [word for word in words if word not in line]
    assert not missing, f"{missing} not in: {line}"


# --- images: every mode gives the 8-bit RGB a viewer shows -------------------------------------------------


def tiled(row: list, dtype: type) -> np.ndarray:
    """A square image whose every row is ``row``: read at its own size it is neither resized nor cropped."""
    row = np.array(row, dtype=dtype)
    return np.tile(row, (len(row), *[1] * row.ndim))


def grey(values: list[int]) -> list[tuple[int, int, int]]:
    return [(v, v, v) for v in values]


def palette_image() -> Image.Image:
    """Index 0 dark blue, 1 orange, 2 green."""
    image = Image.fromarray(tiled([0, 1, 2], np.uint8))
    image.putpalette([10, 20, 30, 200, 100, 50, 0, 160, 0])
    return image


def cmyk_image() -> Image.Image:
    pixels = tiled([(255, 0, 0, 0), (0, 0, 0, 255), (0, 0, 0, 0), (0, 255, 255, 0)], np.uint8)
    return Image.frombytes("CMYK", (4, 4), pixels.tobytes())


SIXTEEN_BIT = [0, 255, 256, 0x1234, 32768, 65535]
SIXTEEN_BIT_AS_8 = [0, 0, 1, 0x12, 128, 255]  # v >> 8
FLOATS = [0, 0.5, 1, -1, 2]
FLOATS_AS_8 = [0, 128, 255, 0, 255]  # 0..1 scaled by 255, clipped
WHITE = (255, 255, 255)

# name: (image, suffix, save options, the mode Pillow opens it in, the expected RGB row)
MODES = {
    "16-bit PNG": (Image.fromarray(tiled(SIXTEEN_BIT, np.uint16)), ".png", {}, "I;16", grey(SIXTEEN_BIT_AS_8)),
    "16-bit TIFF": (Image.fromarray(tiled(SIXTEEN_BIT, np.uint16)), ".tif", {}, "I;16", grey(SIXTEEN_BIT_AS_8)),
    "16-bit PGM": (Image.fromarray(tiled(SIXTEEN_BIT, np.uint16)), ".pgm", {}, "I", grey(SIXTEEN_BIT_AS_8)),
    "float TIFF": (Image.fromarray(tiled(FLOATS, np.float32)), ".tif", {}, "F", grey(FLOATS_AS_8)),
    "palette": (palette_image(), ".png", {}, "P", [(10, 20, 30), (200, 100, 50), (0, 160, 0)]),
    "palette, transparent": (palette_image(), ".png", {"transparency": 1}, "P", [(10, 20, 30), WHITE, (0, 160, 0)]),
    "GIF, transparent": (palette_image(), ".gif", {"transparency": 0}, "P", [WHITE, (200, 100, 50), (0, 160, 0)]),
    "grey + alpha": (
        Image.fromarray(tiled([(100, 255), (100, 0), (100, 128)], np.uint8)), ".png", {}, "LA",
        [(100, 100, 100), WHITE, (177, 177, 177)],  # 100 * 128/255 + 255 * 127/255
    ),
    "RGBA": (
        Image.fromarray(tiled([(200, 0, 0, 255), (200, 0, 0, 0), (0, 0, 200, 51)], np.uint8)), ".png", {}, "RGBA",
        [(200, 0, 0), WHITE, (204, 204, 244)],  # 255 * 0.8 + 200 * 0.2 = 244
    ),
    "grey, transparent value": (
        Image.fromarray(tiled([7, 90], np.uint8)), ".png", {"transparency": 7}, "L", [WHITE, (90, 90, 90)],
    ),
    "CMYK": (cmyk_image(), ".tif", {}, "CMYK", [(0, 255, 255), (0, 0, 0), WHITE, (255, 0, 0)]),
    "1-bit": (Image.fromarray(tiled([True, False], bool)), ".png", {}, "1", [WHITE, (0, 0, 0)]),
}  # fmt: skip


@pytest.mark.parametrize("name", MODES)
def test_every_mode_decodes_to_the_rgb_it_shows(name, tmp_path):
    image, suffix, options, mode, expected = MODES[name]
    path = tmp_path / f"image{suffix}"
    image.save(path, **options)
    assert Image.open(path).mode == mode  # the case tests the mode it names
    pixels = read_image(path, image.width)
    assert pixels.dtype == np.uint8 and pixels.shape == (image.height, image.width, 3)
    assert [tuple(p) for p in pixels[0].tolist()] == expected


@pytest.mark.parametrize("orientation,top", [(6, "red"), (8, "blue"), (1, None)])
def test_phone_photos_are_turned_upright_by_their_exif_orientation(orientation, top, tmp_path):
    """Stored 40 wide x 20 tall, red left half, blue right half; orientation 6 shows it turned clockwise
    (red on top), 8 counter-clockwise (blue on top), 1 as stored."""
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20, 0] = pixels[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    view = read_image(path, 20).astype(int)
    red, blue = view[..., 0] - view[..., 2] > 150, view[..., 2] - view[..., 0] > 150
    if top is None:  # upright already: centre columns 10..29, red left, blue right
        assert red[:, :8].all() and blue[:, 12:].all()
    else:
        upper, lower = (red, blue) if top == "red" else (blue, red)
        assert upper[:8].all() and lower[12:].all()


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds none: refusing it from the header is the only
    way not to fail on it later."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [12, 20])  # 144 pixels: Pillow would only warn; 400: Pillow raises
def test_an_image_over_the_pixel_limit_is_refused_naming_it(side, tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    path = tmp_path / "huge.png"
    Image.new("RGB", (side, side)).save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UserError) as refusal:
            read_image(path, 8)
    assert_names(str(refusal.value), str(path), f"{side * side:,} pixels", "MAX_IMAGE_PIXELS", "shrink it")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


def test_a_decompression_bomb_in_a_folder_is_one_line(tmp_path):
    field = tmp_path / "field"
    field.mkdir()
    (field / "bomb.png").write_bytes(png_header(30000, 30000))
    line = refused(tmp_path, "augment", "check", "--field", field)
    assert_names(line, "bomb.png", "900,000,000 pixels", "MAX_IMAGE_PIXELS", "shrink it")


# --- data sets need two classes ---------------------------------------------------------------------------


def keep_one_class(image_folder: Path, empty_the_rest: bool) -> None:
    """Leave only 'red' with training images; the other class folders are emptied or removed."""
    for name in ("blue", "green"):
        for path in (image_folder / "train" / name).iterdir():
            path.unlink()
        for split in ("train", "test"):
            if not empty_the_rest:
                for path in (image_folder / split / name).iterdir():
                    path.unlink()
                (image_folder / split / name).rmdir()


@pytest.mark.parametrize("empty_the_rest", [False, True], ids=["one class folder", "other classes empty"])
def test_a_single_class_data_set_is_refused(empty_the_rest, image_folder):
    keep_one_class(image_folder, empty_the_rest)
    with pytest.raises(UserError) as refusal:
        load_data(str(image_folder), 16)
    assert_names(str(refusal.value), str(image_folder / "train"), "one class only (red)", "at least two")


def test_training_on_a_single_class_stops_before_any_training(image_folder, tmp_path):
    keep_one_class(image_folder, empty_the_rest=False)
    line = refused(tmp_path, "train", "--data", image_folder, "--out", tmp_path / "run", "--epochs", "1")
    assert_names(line, "one class only", "at least two")


# --- checkpoints: damaged metadata and pickled weights ----------------------------------------------------

GOOD_INFO = {"arch": "resnet18", "classes": ["cat", "dog"], "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3}


def checkpoint_with(path: Path, metadata: str) -> Path:
    save_file({"weight": torch.zeros(2)}, str(path), metadata={METADATA_KEY: metadata})
    return path


DAMAGED = {
    "not JSON": ('{"arch": "resnet18", "classes": ["cat"', "not JSON"),
    "not an object": ('["resnet18"]', "instead of an object"),
    "missing keys": (json.dumps({"arch": "resnet18", "classes": ["cat", "dog"]}), "no image_size, mean, std"),
    "unknown arch": (json.dumps({**GOOD_INFO, "arch": "resnet_eighteen"}), "'resnet_eighteen' is neither a timm model"),
    "classes not a list": (json.dumps({**GOOD_INFO, "classes": "cat,dog"}), "classes must be a list"),
    "classes not strings": (json.dumps({**GOOD_INFO, "classes": [0, 1]}), "classes must be a list"),
    "image_size not an int": (json.dumps({**GOOD_INFO, "image_size": "32"}), "image_size must be"),
    "mean of two": (json.dumps({**GOOD_INFO, "mean": [0.5, 0.5]}), "mean must be a list of three numbers"),
    "std of zero": (json.dumps({**GOOD_INFO, "std": [0.25, 0, 0.25]}), "std must be positive"),
}


@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_checkpoint_metadata_is_named(case, tmp_path):
    metadata, problem = DAMAGED[case]
    path = checkpoint_with(tmp_path / "teacher.safetensors", metadata)
    with pytest.raises(UserError) as refusal:
        load_checkpoint(path)
    assert_names(str(refusal.value), f"{path}: its edgedistill metadata is damaged (", problem)


def test_exporting_a_damaged_checkpoint_is_one_line(tmp_path):
    path = checkpoint_with(tmp_path / "student.safetensors", DAMAGED["unknown arch"][0])
    assert_names(refused(tmp_path, "export", path), "student.safetensors", "metadata is damaged", "timm model")


def test_a_student_modules_weights_without_their_graph_are_named(tmp_path):
    path = checkpoint_with(tmp_path / "student_kd.safetensors", json.dumps({**GOOD_INFO, "arch": "python:Net"}))
    with pytest.raises(UserError) as refusal:
        load_checkpoint(path)
    assert_names(str(refusal.value), str(path), "module from Python", "student_kd.pt2 is not beside it")


PICKLES = {  # what torch.save wrote, and what the refusal must say
    "whole module": (lambda path: torch.save(torch.nn.Linear(2, 2), path), ["pickled Python objects", "Linear"]),
    "weights beside an object": (
        lambda path: torch.save({"state_dict": {}, "epoch": Path("x")}, path),
        ["pickled Python objects", "pathlib"],
    ),
    "not a checkpoint": (lambda path: path.write_bytes(b"not a checkpoint at all"), ["not a PyTorch weights file"]),
    "empty": (lambda path: path.write_bytes(b""), ["cannot read weights"]),
}


@pytest.mark.parametrize("case", PICKLES)
def test_weights_that_need_pickle_are_refused_without_suggesting_to_run_them(case, tmp_path):
    write, words = PICKLES[case]
    path = tmp_path / "model.pt"
    write(path)
    with pytest.raises(UserError) as refusal:
        load_state_dict_checkpoint(path, "resnet18", ["cat", "dog"], 32)
    message = str(refusal.value)
    assert_names(message, str(path), *words)
    assert "weights_only" not in message and "\n" not in message


def test_exporting_a_pickled_model_says_how_to_save_its_weights(image_folder, tmp_path):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "model.pt")
    line = refused(tmp_path, "export", tmp_path / "model.pt", "--student", "timm:resnet18", "--data", image_folder)
    assert_names(
        line, "model.pt", "pickled", "could run code", "refused", "torch.save(model.state_dict()", "safetensors"
    )
    assert "weights_only" not in line


# --- domain presets whose sizes cannot work at --image-size -----------------------------------------------

SIZES = {  # preset transforms, and the transform the refusal names
    "crop above the image": ("RandomCrop: {height: 40, width: 40}", "RandomCrop fails on the 32x32 images"),
    "rarely fired centre crop": ("CenterCrop: {height: 48, width: 48, p: 0.05}", "CenterCrop fails"),
    "fixed crop box": ("Crop: {x_max: 40, y_max: 40}", "Crop fails"),
    "padded crop to another size": (
        "RandomCrop: {height: 40, width: 40, pad_if_needed: true}", "RandomCrop makes the views 40x40x3 uint8"
    ),
    "resize to another size": ("Resize: {height: 16, width: 16}", "Resize makes the views 16x16x3"),
    "needs boxes": ("RandomSizedBBoxSafeCrop: {height: image_size, width: image_size}", "RandomSizedBBoxSafeCrop"),
}  # fmt: skip


def write_preset(folder: Path, transform: str) -> Path:
    path = folder / "my.yaml"
    path.write_text(f"transforms:\n  - HorizontalFlip: {{p: 0.5}}\n  - {transform}\n")
    return path


@pytest.mark.parametrize("case", SIZES)
def test_a_preset_that_cannot_work_at_the_image_size_is_refused_when_built(case, tmp_path):
    transform, named = SIZES[case]
    preset = write_preset(tmp_path, transform)
    with pytest.raises(UserError) as refusal:
        build_train_transform(str(preset), 32)
    assert_names(str(refusal.value), f"{preset}: ", named, "image_size")


def test_a_crop_followed_by_a_resize_to_the_image_size_is_fine(tmp_path):
    preset = write_preset(
        tmp_path, "RandomCrop: {height: 24, width: 24}\n  - Resize: {height: image_size, width: image_size}"
    )
    view = build_train_transform(str(preset), 32)(image=np.zeros((32, 32, 3), np.uint8))["image"]
    assert view.shape == (32, 32, 3)


def test_training_with_an_oversized_crop_stops_before_the_run_starts(image_folder, tmp_path):
    preset = write_preset(tmp_path, "RandomCrop: {height: 48, width: 48}")
    args = ["--domain", preset, "--data", image_folder, "--image-size", "32", "--out", tmp_path / "run"]
    assert_names(refused(tmp_path, "train", *args), "my.yaml", "RandomCrop", "--image-size")


# --- preview --out, and a run's files given to report -----------------------------------------------------


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "--force"])
def test_preview_into_an_existing_folder_writes_nothing(force, tmp_path):
    (tmp_path / "grids").mkdir()
    (tmp_path / "grids" / "mine.png").write_bytes(b"mine")
    line = refused(tmp_path, "augment", "preview", "--out", tmp_path / "grids", *force)
    assert_names(line, "grids is a folder", "file path", "preview.png")


BROKEN_METRICS = {
    "not JSON": (b'{"teacher": {"clean_acc": 0.9', "is not JSON"),
    "binary": (b"\x89PNG\r\n\x1a\n\xff\xfe", "is not JSON"),
    "a list": (b"[1, 2]", "is not the metrics of an edgedistill run"),
    "null": (b"null", "is not the metrics of an edgedistill run"),
    "missing entries": (b'{"config": {"domain": "phone"}}', "no entry 'data'"),
}


@pytest.mark.parametrize("case", BROKEN_METRICS)
def test_report_of_a_run_with_broken_metrics_is_one_line(case, tmp_path):
    content, problem = BROKEN_METRICS[case]
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.json").write_bytes(content)
    (run / "report.md").write_text("the report as it was")  # an earlier result, to be left alone
    line = refused(tmp_path, "report", run)
    assert_names(line, str(run / "metrics.json"), problem, f"edgedistill train --resume --out {run}")


RESULT = {
    "schema_version": 1,
    "device": {"name": "pixel", "os": "android", "cpu": "arm64", "cores": 8, "threads": 2, "driver": "adb-1"},
    "runtime": {"format": "tflite", "delegate": None, "versions": {}},
    "model": {"file": "model.tflite", "sha256": "0" * 64, "size_bytes": 2_000_000, "precision": "fp32"},
    "load_ms": 12,
    "latency_ms": {"p50": 1.5, "p90": 2.0},
    "peak_memory_mb": 30,
    "agreement": {"field_acc": 0.8, "top1_agreement_student": 1.0, "top1_agreement_teacher": None},
    "created": "2025-01-01T00:00:00",
}


def broken(path: tuple, value: object) -> bytes:
    """RESULT with the entry at ``path`` replaced by ``value``."""
    result = json.loads(json.dumps(RESULT))
    *parents, key = path
    target = result
    for parent in parents:
        target = target[parent]
    target[key] = value
    return json.dumps(result).encode()


BROKEN_RESULTS = {
    "not JSON": b'{"schema_version": 1',
    "binary": b"\xff\xfe\x00garbage",
    "a list": b"[]",
    "latency a string": broken(("latency_ms", "p50"), "fast"),
    "accuracy a bool": broken(("agreement", "field_acc"), True),
    "created a number": broken(("created",), 20250101),
    "sha256 a list": broken(("model", "sha256"), ["0"]),
}


def test_bench_files_that_are_not_results_are_listed_not_measured(tmp_path):
    bench = tmp_path / "export" / "android-fp32" / "bench"
    bench.mkdir(parents=True)
    (bench / "good.json").write_text(json.dumps(RESULT))
    for name, content in BROKEN_RESULTS.items():
        (bench / f"{name}.json").write_bytes(content)
    measurements, unreadable = gather_measurements(tmp_path)
    assert [m.file for m in measurements] == ["model.tflite"] and measurements[0].peak_mb == 30
    assert sorted(path.stem for path in unreadable) == sorted(BROKEN_RESULTS)


def test_report_of_a_run_holding_only_broken_bench_files_names_them(tmp_path):
    bench = tmp_path / "run" / "export" / "android-fp32" / "bench"
    bench.mkdir(parents=True)
    (bench / "host.json").write_bytes(BROKEN_RESULTS["latency a string"])
    line = refused(tmp_path, "report", tmp_path / "run")
    assert_names(line, "neither metrics.json nor bench results", "export/android-fp32/bench/host.json")


def test_report_with_a_damaged_golden_set_is_one_line(tmp_path):
    bundle = tmp_path / "run" / "export" / "android-fp32"
    (bundle / "bench").mkdir(parents=True)
    (bundle / "bench" / "host.json").write_text(json.dumps(RESULT))
    (bundle / "golden.npz").write_bytes(b"PK\x03\x04 cut short")
    line = refused(tmp_path, "report", tmp_path / "run")
    assert_names(line, str(bundle / "golden.npz"), "is damaged", "--force")


class TouchOnLoad:
    """What a hostile file can hold: unpickling it calls Path.touch, standing in for any code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_program_file_that_would_run_code_when_loaded_is_refused_and_runs_nothing(tmp_path):
    """torch.export.load retries what its weights-only unpickler refuses with the unrestricted one: a .pt2 given as a
    teacher, or beside a student module's checkpoint, must never get that far."""
    import io
    import zipfile

    from edgedistill.models import load_program

    program = torch.export.export(torch.nn.Linear(3, 2).eval(), (torch.zeros(1, 3),))
    torch.export.save(program, str(tmp_path / "good.pt2"))
    marker = tmp_path / "code-ran"
    hostile = io.BytesIO()
    torch.save({"inputs": TouchOnLoad(marker)}, hostile)
    with zipfile.ZipFile(tmp_path / "good.pt2") as good, zipfile.ZipFile(tmp_path / "bad.pt2", "w") as bad:
        for item in good.infolist():
            pickled = item.filename.endswith("sample_inputs/model.pt")
            bad.writestr(item, hostile.getvalue() if pickled else good.read(item))
    assert load_program(tmp_path / "good.pt2").module()(torch.zeros(1, 3)).shape == (1, 2)
    with pytest.raises(UserError) as refusal:
        load_program(tmp_path / "bad.pt2")
    assert_names(str(refusal.value), "bad.pt2", "pickled Python objects", "could run code", "refused")
    assert not marker.exists()
    assert torch.load.__name__ == "load"  # torch's own loader is back in place
