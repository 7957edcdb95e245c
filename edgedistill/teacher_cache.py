"""The teacher's answers cached per training view, keyed by augmentation rather than by image.

A view is (image index, view number k), and its pixels are a pure function of (seed, index, k),
so training can replay the view and read the teacher's logits for it instead of running the
teacher. A cache keyed by image index alone pairs yesterday's teacher output with today's
augmentation (the bug that made torchdistill drop its cache); here every view also carries a
64-bit digest of its pixels, and training checks each replayed view against it.

A cache folder holds:

    meta.json          fingerprint (teacher weights, preset, data, image size, seed, views, top-k) and shapes
    logits.f16         (N, K, C) float16                      -- full logits
    topk_values.f16    (N, K, k) float16, topk_index.i32 (N, K, k), rest.f16 (N, K)   -- with --topk k
    digests.u64        (N, K) digest of each view's pixels
    done/CHUNK         an empty marker per finished chunk of images: building resumes where it stopped

With top-k, the classes outside the top k share the rest of the teacher's probability mass
evenly: ``rest`` is the log of that mass divided by C - k, the logit each of them gets back.
Chunks are assigned round-robin to ranks, so under torchrun every process builds its own share
of the same files.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from edgedistill.errors import UserError
from edgedistill.fileio import write_json_atomic
from edgedistill.image_store import ImageArray, update_digest
from edgedistill.models import ModelInfo

CHUNK = 256  # images per resumable unit of work
CACHE_FILES = {"meta.json", "done", "digests.u64", "logits.f16", "topk_values.f16", "topk_index.i32", "rest.f16"}


def digest_views(images: torch.Tensor) -> np.ndarray:
    """64-bit digest of each uint8 (3, H, W) view of a batch, as the DataLoader delivers it."""
    batch = images.contiguous().numpy()
    return np.array(
        [int.from_bytes(hashlib.blake2b(view.tobytes(), digest_size=8).digest(), "little") for view in batch],
        dtype=np.uint64,
    )


def weights_digest(model: torch.nn.Module) -> str:
    """sha256 over the model's parameters and buffers, in name order: the same teacher, the same digest."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def fingerprint(
    teacher: torch.nn.Module,
    info: ModelInfo,
    preset_transforms: list,
    images: ImageArray,
    labels: np.ndarray,
    image_size: int,
    seed: int,
    views: int,
    topk: int | None,
) -> dict:
    """Everything a cached answer depends on; a cache is only ever reused when all of it matches. The weights
    alone do not say how the teacher runs: a stride-1 stem takes the same weights, and so does another
    normalisation of its inputs."""
    data = hashlib.sha256()
    update_digest(data, images)
    data.update(labels.astype(np.int64).tobytes())
    preset = yaml.safe_dump(preset_transforms, sort_keys=True).encode()
    return {
        "teacher_sha256": weights_digest(teacher),
        "teacher_input": {"stem": info.stem, "mean": list(info.mean), "std": list(info.std)},
        "preset_sha256": hashlib.sha256(preset).hexdigest(),
        "data_sha256": data.hexdigest(),
        "images": int(len(images)),
        "image_size": image_size,
        "seed": seed,
        "views": views,
        "topk": topk,
    }


@dataclass
class TeacherCache:
    folder: Path
    meta: dict

    @property
    def views(self) -> int:
        return self.meta["fingerprint"]["views"]

    @property
    def topk(self) -> int | None:
        return self.meta["fingerprint"]["topk"]

    @property
    def chunks(self) -> int:
        return -(-self.meta["fingerprint"]["images"] // self.meta["chunk"])

    @classmethod
    def create_or_open(cls, folder: Path, key: dict, classes: int) -> "TeacherCache":
        """Open the cache for ``key`` in ``folder`` for building, creating it if new; refuse a folder that
        holds a cache of anything else."""
        meta_path = folder / "meta.json"
        if meta_path.exists():
            cache = cls(folder, json.loads(meta_path.read_text()))
            cache.check(key)
            return cache
        if folder.exists() and any(path.name not in CACHE_FILES for path in folder.iterdir()):  # a rank may be here
            raise UserError(f"{folder} exists and is not a teacher cache; choose an empty or new folder")
        (folder / "done").mkdir(parents=True, exist_ok=True)
        cache = cls(folder, {"fingerprint": key, "classes": classes, "chunk": CHUNK})
        for name, shape, dtype in cache.arrays():
            _allocate(folder / name, int(np.prod(shape)) * np.dtype(dtype).itemsize)
        write_json_atomic(meta_path, cache.meta)  # last: a folder with meta.json has its files
        return cache

    @classmethod
    def open_complete(cls, folder: Path, key: dict) -> "TeacherCache":
        """Open a finished cache for training; refuse one that is incomplete or was built for other inputs."""
        if not (folder / "meta.json").is_file():
            raise UserError(f"{folder} is not a teacher cache; build one with `edgedistill cache-teacher`")
        cache = cls(folder, json.loads((folder / "meta.json").read_text()))
        cache.check(key)
        missing = len(cache.pending_chunks(0, 1))
        if missing:
            raise UserError(
                f"teacher cache {folder} is incomplete ({missing} of {cache.chunks} chunks missing); run the same "
                "`edgedistill cache-teacher` command again to finish it"
            )
        return cache

    def check(self, key: dict) -> None:
        stored = self.meta["fingerprint"]
        differ = [name for name in key if stored.get(name) != key[name]]
        if differ:
            details = "; ".join(f"{name}: cache {stored.get(name)!r}, now {key[name]!r}" for name in differ)
            raise UserError(
                f"teacher cache {self.folder} was built for other inputs ({details}); it is never reused for "
                "different ones: delete it or give another cache folder"
            )

    def arrays(self) -> list[tuple[str, tuple[int, ...], str]]:
        n, k, c = self.meta["fingerprint"]["images"], self.views, self.meta["classes"]
        stored = [("digests.u64", (n, k), "<u8")]
        if self.topk is None:
            return stored + [("logits.f16", (n, k, c), "<f2")]
        top = self.topk
        return stored + [
            ("topk_values.f16", (n, k, top), "<f2"),
            ("topk_index.i32", (n, k, top), "<i4"),
            ("rest.f16", (n, k), "<f2"),
        ]

    def _map(self, mode: str) -> dict[str, np.memmap]:
        return {
            name: np.memmap(self.folder / name, dtype=dtype, mode=mode, shape=shape)
            for name, shape, dtype in self.arrays()
        }

    def pending_chunks(self, rank: int, world: int) -> list[int]:
        return [c for c in range(rank, self.chunks, world) if not (self.folder / "done" / str(c)).exists()]

    def chunk_indices(self, chunk: int) -> range:
        size = self.meta["chunk"]
        return range(chunk * size, min((chunk + 1) * size, self.meta["fingerprint"]["images"]))

    def write_chunk(self, chunk: int, logits: np.ndarray, digests: np.ndarray) -> None:
        """Store (images in chunk, K, C) float32 logits and their views' digests, then mark the chunk done."""
        rows = self.chunk_indices(chunk)
        arrays = self._map("r+")
        arrays["digests.u64"][rows.start : rows.stop] = digests
        if self.topk is None:
            arrays["logits.f16"][rows.start : rows.stop] = logits
        else:
            values, index, rest = compress_topk(logits, self.topk)
            arrays["topk_values.f16"][rows.start : rows.stop] = values
            arrays["topk_index.i32"][rows.start : rows.stop] = index
            arrays["rest.f16"][rows.start : rows.stop] = rest
        for array in arrays.values():
            array.flush()
        (self.folder / "done" / str(chunk)).touch()

    def reader(self) -> "CacheReader":
        return CacheReader(self, self._map("r"))


def compress_topk(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k logits, their classes, and the logit that spreads the remaining mass evenly over the rest."""
    index = np.argsort(-logits, axis=-1)[..., :k]
    values = np.take_along_axis(logits, index, axis=-1)
    peak = logits.max(axis=-1, keepdims=True)
    total = np.exp(logits - peak).sum(axis=-1)
    top = np.exp(values - peak).sum(axis=-1)
    others = logits.shape[-1] - k
    rest_mass = np.maximum(total - top, np.finfo(np.float32).tiny)
    rest = peak[..., 0] + np.log(rest_mass / max(others, 1))
    return values, index, rest


@dataclass
class CacheReader:
    cache: TeacherCache
    arrays: dict[str, np.memmap]

    def view_for_epoch(self, epoch: int) -> int:
        """Epochs beyond the cached views cycle through them."""
        return epoch % self.cache.views

    def logits(self, indices: torch.Tensor, view: int, images: torch.Tensor) -> torch.Tensor:
        """The teacher's float32 logits for views ``view`` of ``indices``, after checking that ``images``
        are the views the teacher saw."""
        rows = indices.numpy()
        seen = self.arrays["digests.u64"][rows, view]
        replayed = digest_views(images)
        if not np.array_equal(seen, replayed):
            bad = int(rows[np.argmax(seen != replayed)])
            raise UserError(
                f"teacher cache {self.cache.folder}: the replayed view {view} of image {bad} is not the view the "
                "teacher saw (augmentation code or library changed); delete the cache and build it again"
            )
        if self.cache.topk is None:
            return torch.from_numpy(self.arrays["logits.f16"][rows, view].astype(np.float32))
        values = self.arrays["topk_values.f16"][rows, view].astype(np.float32)
        index = self.arrays["topk_index.i32"][rows, view]
        full = np.repeat(
            self.arrays["rest.f16"][rows, view].astype(np.float32)[:, None], self.cache.meta["classes"], axis=1
        )
        np.put_along_axis(full, index, values, axis=1)
        return torch.from_numpy(full)


def _allocate(path: Path, size: int) -> None:
    """Create ``path`` at ``size`` bytes, or leave it as it is: safe when several ranks race to do it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(descriptor).st_size != size:
            os.ftruncate(descriptor, size)
    finally:
        os.close(descriptor)
