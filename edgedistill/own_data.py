"""Labeled images that live in Python (a torch Dataset, or arrays) as a data folder the whole kit reads.

A run records its data by path: a resume, export's golden set and a re-run from config.yaml read it again. So a
user's images are converted once, at the training size, into a folder under the cache (one store per split, the
labels and class names beside them), named after their content: the same images give the same folder, and
``--data FOLDER`` takes it like any other.
"""

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from edgedistill.data import DECODE_BATCH, DataBundle, ImageSet, fit_to_size, to_rgb
from edgedistill.demo_data import cache_dir
from edgedistill.errors import UserError
from edgedistill.image_store import DiskImages, write_store

MANIFEST = "edgedistill-data.json"
SPLITS = ("train", "val", "test")
Split = Dataset | tuple[np.ndarray, np.ndarray]


@dataclass
class Images:
    """A user's labeled images. Each split is a torch Dataset of (image, label) pairs, or a pair of arrays
    (images, labels). An image is a PIL image, an (H, W, 3) uint8 array, or a (3, H, W) tensor (uint8, or float
    in 0..1, as torchvision's ToTensor gives); a label is an index into ``classes``. ``val``, when given, is what
    ``temperature="auto"`` and ``alpha="auto"`` are chosen on."""

    train: Split
    test: Split
    classes: list[str]
    val: Split | None = None


def save_images(images: Images, image_size: int) -> Path:
    """The data folder of ``images`` at ``image_size`` px, written unless an earlier call wrote the same."""
    if len(images.classes) < 2:
        raise UserError(f"classes must name at least two classes, got {images.classes}")
    root = cache_dir() / "datasets"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".partial-", dir=root))
    try:
        digest = hashlib.sha256(json.dumps([images.classes, image_size]).encode())
        counts = {}
        for name in SPLITS:
            split = getattr(images, name)
            if split is None:
                continue
            labels: list[int] = []
            write_store(work / f"{name}.u8", image_size, _batches(split, name, image_size, labels, digest))
            labels = np.asarray(labels, dtype=np.int64)
            if labels.size and (labels.min() < 0 or labels.max() >= len(images.classes)):
                raise UserError(f"{name} has labels outside 0..{len(images.classes) - 1}, the indices of classes")
            if not labels.size:
                raise UserError(f"{name} holds no images")
            np.save(work / f"{name}-labels.npy", labels)
            digest.update(labels.tobytes())
            counts[name] = int(labels.size)
        manifest = {"classes": images.classes, "image_size": image_size, "images": counts}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")  # last: it marks the folder whole
        final = root / digest.hexdigest()[:20]
        try:
            work.rename(final)
        except OSError:  # written already, by an earlier call or by another process just now
            if not is_saved(final):
                raise
            shutil.rmtree(work)
        return final
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def is_saved(folder: Path) -> bool:
    return (folder / MANIFEST).is_file()


def load_saved(folder: Path, image_size: int) -> DataBundle:
    """A data folder written by ``save_images``, at the size it was saved at."""
    manifest = json.loads((folder / MANIFEST).read_text())
    if manifest["image_size"] != image_size:
        raise UserError(
            f"data folder {folder} holds images of {manifest['image_size']} px, not {image_size}; train at "
            f"{manifest['image_size']} px or convert the images again at {image_size}"
        )

    def split(name: str) -> ImageSet | None:
        if name not in manifest["images"]:
            return None
        return ImageSet(DiskImages(folder / f"{name}.u8", image_size), np.load(folder / f"{name}-labels.npy"))

    return DataBundle(manifest["classes"], split("train"), split("test"), split("val"), str(folder))


def _batches(split: Split, name: str, size: int, labels: list[int], digest) -> Iterator[np.ndarray]:
    """The split's images fitted to ``size``, a batch at a time; collects the labels and hashes the pixels."""
    if isinstance(split, tuple):
        pixels, targets = split
        if len(pixels) != len(targets):
            raise UserError(f"{name} has {len(pixels)} images but {len(targets)} labels")
        items = ((pixels[i], targets[i]) for i in range(len(pixels)))
    else:
        items = (split[i] for i in range(len(split)))
    batch = []
    for index, item in enumerate(items):
        if not (isinstance(item, tuple | list) and len(item) >= 2):
            raise UserError(f"{name}[{index}] is {type(item).__name__}; a split must give (image, label) pairs")
        batch.append(_to_pixels(item[0], name, index, size))
        labels.append(int(item[1]))
        if len(batch) == DECODE_BATCH:
            yield _hashed(batch, digest)
            batch = []
    if batch:
        yield _hashed(batch, digest)


def _hashed(batch: list[np.ndarray], digest) -> np.ndarray:
    """The batch as one array, its pixels fed to ``digest`` (stacked once for both)."""
    pixels = np.stack(batch)
    digest.update(pixels.tobytes())
    return pixels


def _to_pixels(image, name: str, index: int, size: int) -> np.ndarray:
    """One image as (size, size, 3) uint8, resized and centre-cropped the way ImageFolder photos are."""
    if isinstance(image, torch.Tensor):
        if image.ndim != 3 or image.shape[0] not in (1, 3):
            raise UserError(f"{name}[{index}] is a tensor of shape {tuple(image.shape)}; give (3, H, W) images")
        if image.is_floating_point():
            image = (image.clamp(0, 1) * 255).round()
        image = image.to(torch.uint8).expand(3, -1, -1).permute(1, 2, 0).numpy()
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise UserError(
                f"{name}[{index}] is a {image.dtype} array of shape {image.shape}; give (H, W, 3) uint8 images"
            )
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise UserError(f"{name}[{index}] is {type(image).__name__}; give PIL images, uint8 arrays or tensors")
    return fit_to_size(to_rgb(image), size)
