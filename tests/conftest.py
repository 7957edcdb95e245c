import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgedistill.errors import name_settings_as_flags


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Demo and field splits go to a per-session cache, so tests never read a user's cache."""
    os.environ["EDGEDISTILL_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(autouse=True)
def settings_named_as_parameters():
    """Each test starts as a Python caller: a command line run in-process (typer's CliRunner) switches the library's
    messages to flag names for the rest of the process."""
    name_settings_as_flags(False)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the real console entry point in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "edgedistill", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=os.environ.copy(),
    )


def train_tiny_run(data: Path, out: Path) -> Path:
    """A finished `edgedistill train` run of one epoch per model on ``data``, in ``out``: the input of the
    benchmarks that read a run."""
    trained = run_cli(
        "train", "--data", str(data), "--epochs", "1", "--teacher-epochs", "1", "--batch-size", "8",
        "--workers", "0", "--out", str(out),
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    return out


def make_image_folder(root: Path) -> Path:
    """A small ImageFolder (3 classes x 12 train / 4 test images) of distinguishable colours, in root/data."""
    rng = np.random.default_rng(0)
    colours = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}
    for split, count in (("train", 12), ("test", 4)):
        for name, colour in colours.items():
            folder = root / "data" / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(np.array(colour) + rng.normal(0, 20, (40, 48, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root / "data"


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return make_image_folder(tmp_path)
