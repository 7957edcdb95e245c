"""The field test split: the clean test split through an independent corruption suite.

The corruptions come from ``imagecorruptions`` (the ImageNet-C reference implementation,
Hendrycks & Dietterich 2019), never from this project's own presets: a test set built with
the training preset would grade the preset by itself.
"""

import hashlib
import multiprocessing
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np
from imagecorruptions import corrupt

from edgedistill import interrupt
from edgedistill.config import FIELD_GRIDS
from edgedistill.data import ImageSet, worker_count
from edgedistill.demo_data import cache_dir
from edgedistill.errors import UserError
from edgedistill.fileio import write_atomic
from edgedistill.image_store import DiskImages, ImageArray, update_digest, write_store

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
WRITE_BATCH = 64  # corrupted images held at once before they go to the store
PARALLEL_FROM_PIXELS = 50_000_000  # (~1,000 images at 224 px) below this, starting processes costs more than it saves


@dataclass
class FieldSplit:
    """Corrupted copies of test images (on disk, read in batches); ``corruption[i]`` indexes ``names``."""

    images: ImageArray
    labels: np.ndarray
    corruption: np.ndarray
    severity: np.ndarray
    names: tuple[str, ...]


def build_field_split(
    test: ImageSet,
    corruptions: tuple[str, ...] = CAMERA_CORRUPTIONS,
    grid: str = "balanced",
    workers: int | None = None,
) -> FieldSplit:
    """Corrupt every test image with every corruption, at one severity or at all five.

    ``balanced`` gives image i under corruption c the severity ((i + c) mod 5) + 1, so each
    (corruption, severity) cell holds a fifth of the test set and the split is 9x, not 45x,
    the test set. ``full`` uses all five severities, as the ImageNet-C protocol does.
    The split is written once to the cache folder, a batch at a time, and read from there: it depends
    only on the pixels, the labels and the arguments. ``workers``: processes that corrupt a large split
    (0: this one; None: one per core), as ``--workers``.
    """
    if grid not in FIELD_GRIDS:
        raise ValueError(f"grid must be one of {FIELD_GRIDS}, got {grid!r}")
    digest = hashlib.sha256()
    update_digest(digest, test.images)
    digest.update(test.labels.astype(np.int64).tobytes())
    digest.update(repr((corruptions, grid)).encode())
    name = f"field-{digest.hexdigest()[:16]}"
    pixels, table = cache_dir() / f"{name}.u8", cache_dir() / f"{name}.npz"
    size = test.images.shape[1]
    if not (pixels.exists() and table.exists()):
        image, kind, severity = _plan(len(test.labels), len(corruptions), grid)
        write_store(pixels, size, _corrupted(test.images, image, kind, severity, corruptions, worker_count(workers)))
        arrays = {"labels": test.labels[image], "corruption": kind, "severity": severity}
        write_atomic(table, lambda tmp: np.savez(tmp.open("wb"), **arrays))  # written last: it marks the split whole
    with np.load(table) as arrays:
        return FieldSplit(
            DiskImages(pixels, size), arrays["labels"], arrays["corruption"], arrays["severity"], tuple(corruptions)
        )


def _plan(images: int, corruptions: int, grid: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test image, corruption, severity) of every field image, corruption by corruption."""
    rows = [
        (i, c, severity)
        for c in range(corruptions)
        for i in range(images)
        for severity in (SEVERITIES if grid == "full" else (SEVERITIES[(i + c) % len(SEVERITIES)],))
    ]
    return tuple(np.asarray(column, dtype=np.int64) for column in zip(*rows, strict=True))


def _corrupted(
    test: ImageArray, image: np.ndarray, kind: np.ndarray, severity: np.ndarray, names: tuple[str, ...], workers: int
) -> Iterator[np.ndarray]:
    """The corrupted images in plan order, a batch at a time. ImageNet-C's corruptions cost ~160 ms an image at
    224 px (zoom blur most), so large splits are corrupted by ``workers`` processes, a few batches in flight."""
    spans = [(start, min(start + WRITE_BATCH, len(image))) for start in range(0, len(image), WRITE_BATCH)]
    jobs = ((test[image[a:b]], image[a:b], kind[a:b], severity[a:b], names) for a, b in spans)
    if workers <= 1 or len(image) * test.shape[1] ** 2 < PARALLEL_FROM_PIXELS:
        for job in jobs:
            interrupt.check()
            yield corrupt_batch(*job)
        return
    # spawn, not fork: a forked copy of a process running torch's thread pools can deadlock. Workers leave
    # Ctrl-C to this process, which stops them.
    context = multiprocessing.get_context("spawn")
    ignore_ctrl_c = (signal.SIGINT, signal.SIG_IGN)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=signal.signal, initargs=ignore_ctrl_c) as pool:
        try:
            pending = deque()
            for job in jobs:
                pending.append(pool.submit(corrupt_batch, *job))
                if len(pending) > 2 * workers:
                    interrupt.check()
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool:
            raise UserError(
                "a process that corrupts the field split stopped while it started; when a script of yours calls "
                'edgedistill, put the call under `if __name__ == "__main__":` (worker processes import the script '
                "again), or pass workers=0"
            ) from None
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def corrupt_batch(
    originals: np.ndarray, image: np.ndarray, kind: np.ndarray, severity: np.ndarray, names: tuple[str, ...]
) -> np.ndarray:
    """Field images of one batch of the plan: ``originals[k]`` (test image ``image[k]``) under corruption
    ``kind[k]`` at ``severity[k]``."""
    batch = []
    for original, i, c, level in zip(originals, image.tolist(), kind.tolist(), severity.tolist(), strict=True):
        # imagecorruptions draws from NumPy's global generator: seed it per image so the split is the same on
        # every machine, in every process, and every run.
        np.random.seed((c * 1_000_003 + i * 7 + level) % 2**32)
        batch.append(np.asarray(corrupt(original, corruption_name=names[c], severity=level), dtype=np.uint8))
    return np.stack(batch)
