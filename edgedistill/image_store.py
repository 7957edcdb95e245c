"""Image sets larger than memory: uint8 images at the training resolution in a file, read as batches need them.

Ten thousand photos at 224 px are 1.5 GB as one array, and the field split holds nine corrupted copies of the
test set. A folder is therefore decoded once into a raw file of (N, S, S, 3) uint8 pixels (no header: the count
follows from the size) and read back with positional reads. Those pages land in the operating system's file
cache, which the kernel evicts under pressure, not in the process's memory, so a run's resident memory stays
flat however many images there are. On two cores, decoding JPEGs every epoch would cost more than the student's
forward pass; reading raw pixels costs next to nothing.

Every class here reads like a NumPy array where the kit uses one (``len``, ``shape``, an int, a slice or an
index array), so in-memory splits (the demo, CIFAR-10 at 32 px) stay plain arrays and code serves both.
"""

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edgedistill.fileio import write_atomic

ImageArray = np.ndarray  # or a LazyImages: anything indexed like an (N, S, S, 3) uint8 array
DIGEST_BATCH = 256  # images hashed at once, so a digest reads a store in bounded memory


class LazyImages:
    """An (N, S, S, 3) uint8 array whose rows are fetched on demand by ``rows``."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, count: int, size: int):
        self.count, self.size = count, size

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.count, self.size, self.size, 3)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            if not -self.count <= key < self.count:
                raise IndexError(f"image {key} out of range for {self.count} images")
            return self.rows(np.array([key % self.count]))[0]
        if isinstance(key, slice):
            return self.rows(np.arange(*key.indices(self.count)))
        indices = np.asarray(key)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        if indices.size and not (-self.count <= indices.min() and indices.max() < self.count):
            raise IndexError(f"image indices out of range for {self.count} images")
        return self.rows(indices.astype(np.int64) % max(self.count, 1))

    def rows(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class DiskImages(LazyImages):
    """A raw uint8 file of (N, S, S, 3) images. Picklable for DataLoader workers: each process opens the file
    itself, so forked workers never share one file offset (positional reads have none anyway)."""

    def __init__(self, path: Path, size: int):
        self._fd: int | None = None
        self._pid = -1
        self.path = Path(path)
        image_bytes = size * size * 3
        total = self.path.stat().st_size
        if total % image_bytes:
            raise ValueError(f"{self.path} holds {total} bytes, not a whole number of {size}x{size} RGB images")
        super().__init__(total // image_bytes, size)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def __del__(self):
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)

    def rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), self.size, self.size, 3), np.uint8)
        if not len(indices):
            return out
        # one read per run of consecutive indices: a batch of a slice is a single read
        breaks = np.flatnonzero(np.diff(indices) != 1) + 1
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, len(indices)], strict=True):
            self._read_into(out[start:stop], int(indices[start]))
        return out

    def _read_into(self, out: np.ndarray, first: int) -> None:
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        view, offset = memoryview(out).cast("B"), first * out[0].nbytes
        while len(view):
            read = os.preadv(self._fd, [view], offset)
            if read == 0:
                raise OSError(f"{self.path} ended early: it was truncated after it was written; delete it")
            view, offset = view[read:], offset + read


class SelectedImages(LazyImages):
    """Some rows of another image array, in the given order (a split of a split)."""

    def __init__(self, images: ImageArray, indices: np.ndarray):
        super().__init__(len(indices), images.shape[1])
        self.images, self.indices = images, np.asarray(indices, dtype=np.int64)

    def rows(self, indices: np.ndarray) -> np.ndarray:
        return self.images[self.indices[indices]]


class JoinedImages(LazyImages):
    """Image arrays one after the other (labeled images, then unlabeled ones)."""

    def __init__(self, parts: list[ImageArray]):
        super().__init__(sum(len(part) for part in parts), parts[0].shape[1])
        self.parts = parts
        self.starts = np.cumsum([0] + [len(part) for part in parts])

    def rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), self.size, self.size, 3), np.uint8)
        part_of = np.searchsorted(self.starts, indices, side="right") - 1
        for p, part in enumerate(self.parts):
            chosen = part_of == p
            if chosen.any():
                out[chosen] = part[indices[chosen] - self.starts[p]]
        return out


def select(images: ImageArray, indices: np.ndarray) -> ImageArray:
    """``images[indices]`` without reading the images: a copy for an in-memory array, a view of rows otherwise."""
    return images[indices] if isinstance(images, np.ndarray) else SelectedImages(images, indices)


def join(parts: list[ImageArray]) -> ImageArray:
    """The parts one after the other, concatenated in memory only when they all are already."""
    if all(isinstance(part, np.ndarray) for part in parts):
        return np.concatenate(parts)
    return JoinedImages(parts)


def update_digest(digest: "hashlib._Hash", images: ImageArray) -> None:
    """Feed the pixels to ``digest`` a batch at a time, so a store larger than memory hashes in bounded memory."""
    for start in range(0, len(images), DIGEST_BATCH):
        digest.update(np.ascontiguousarray(images[start : start + DIGEST_BATCH]).tobytes())


def write_store(path: Path, size: int, batches: Iterable[np.ndarray]) -> DiskImages:
    """Write (n, S, S, 3) uint8 batches one after another into a store at ``path`` (atomically: a killed
    conversion leaves no store behind, so the next run converts again) and open it."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as file:
            for batch in batches:
                if batch.shape[1:] != (size, size, 3) or batch.dtype != np.uint8:
                    raise ValueError(f"expected uint8 images of {size}x{size}x3, got {batch.dtype} {batch.shape}")
                file.write(np.ascontiguousarray(batch).data)

    write_atomic(path, write)
    return DiskImages(path, size)
