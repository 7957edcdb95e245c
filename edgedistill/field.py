"""The field test split: the clean test split through an independent corruption suite.

The corruptions come from ``imagecorruptions`` (the ImageNet-C reference implementation,
Hendrycks & Dietterich 2019), never from this project's own presets: a test set built with
the training preset would grade the preset by itself.
"""

import hashlib
from dataclasses import dataclass

import numpy as np
from imagecorruptions import corrupt

from edgedistill.config import FIELD_GRIDS
from edgedistill.data import ImageSet
from edgedistill.demo_data import cache_dir
from edgedistill.fileio import write_atomic

CAMERA_CORRUPTIONS = (
    "gaussian_noise",
    "shot_noise",
    "defocus_blur",
    "motion_blur",
    "zoom_blur",
    "jpeg_compression",
    "pixelate",
    "brightness",
    "contrast",
)
HELD_OUT_CORRUPTIONS = ("speckle_noise", "gaussian_blur", "saturate")
SEVERITIES = (1, 2, 3, 4, 5)


@dataclass
class FieldSplit:
    """Corrupted copies of test images; ``corruption[i]`` indexes ``names``."""

    images: np.ndarray
    labels: np.ndarray
    corruption: np.ndarray
    severity: np.ndarray
    names: tuple[str, ...]


def build_field_split(
    test: ImageSet, corruptions: tuple[str, ...] = CAMERA_CORRUPTIONS, grid: str = "balanced"
) -> FieldSplit:
    """Corrupt every test image with every corruption, at one severity or at all five.

    ``balanced`` gives image i under corruption c the severity ((i + c) mod 5) + 1, so each
    (corruption, severity) cell holds a fifth of the test set and the split is 9x, not 45x,
    the test set. ``full`` uses all five severities, as the ImageNet-C protocol does.
    Results are cached: the split depends only on the pixels and the arguments.
    """
    if grid not in FIELD_GRIDS:
        raise ValueError(f"grid must be one of {FIELD_GRIDS}, got {grid!r}")
    digest = hashlib.sha256(test.images.tobytes())
    digest.update(repr((corruptions, grid)).encode())
    path = cache_dir() / f"field-{digest.hexdigest()[:16]}.npz"
    if not path.exists():
        split = _corrupt_all(test, corruptions, grid)
        arrays = {
            "images": split.images,
            "labels": split.labels,
            "corruption": split.corruption,
            "severity": split.severity,
        }
        write_atomic(path, lambda tmp: np.savez(tmp.open("wb"), **arrays))
    with np.load(path) as arrays:
        return FieldSplit(
            arrays["images"], arrays["labels"], arrays["corruption"], arrays["severity"], tuple(corruptions)
        )


def _corrupt_all(test: ImageSet, corruptions: tuple[str, ...], grid: str) -> FieldSplit:
    images, labels, kinds, severities = [], [], [], []
    for c, name in enumerate(corruptions):
        for i, image in enumerate(test.images):
            levels = SEVERITIES if grid == "full" else (SEVERITIES[(i + c) % len(SEVERITIES)],)
            for severity in levels:
                # imagecorruptions draws from NumPy's global generator: seed it per image so the
                # split is the same on every machine and every run.
                np.random.seed((c * 1_000_003 + i * 7 + severity) % 2**32)
                images.append(np.asarray(corrupt(image, corruption_name=name, severity=severity), dtype=np.uint8))
                labels.append(test.labels[i])
                kinds.append(c)
                severities.append(severity)
    return FieldSplit(np.stack(images), np.asarray(labels), np.asarray(kinds), np.asarray(severities), corruptions)
