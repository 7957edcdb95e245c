"""Data sources (demo, ImageFolder, CIFAR-10) and the augmented-view dataset.

Images are decoded once and brought to the training resolution. Folders (and CIFAR-10 above its own 32 px) go to
an on-disk store read as batches need it (``image_store``), so memory does not grow with the data set; the demo
and CIFAR-10 at 32 px are small and stay in memory.
"""

import hashlib
import os
import re
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import Dataset

from edgedistill import demo_data
from edgedistill.augment import build_eval_transform, reseed, view_seed
from edgedistill.errors import UserError, setting
from edgedistill.image_store import DiskImages, ImageArray, write_store

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
BACKGROUND = (255, 255, 255)  # transparent pixels become white, as image viewers and web pages show them
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # "I": Pillow's mode for 16-bit PGM greyscale
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_HEADER_LOCK = threading.Lock()
DECODE_VERSION = 1  # part of every store's key: raise it when decoding or resizing changes pixels
DECODE_BATCH = 256  # images decoded at once (in threads) before they are written to the store
UNLABELED_LIMIT = 200_000  # unlabeled images read from one folder (a seeded sample beyond that)
MAX_DEFAULT_WORKERS = 16  # enough to feed a GPU at ~3,000 images/s of 224 px phone views


@dataclass
class ImageSet:
    """One split: ``images`` (N, H, W, 3) uint8 at the training resolution (an array or an on-disk store),
    ``labels`` (N,) int64."""

    images: ImageArray
    labels: np.ndarray


@dataclass
class DataBundle:
    classes: list[str]
    train: ImageSet
    test: ImageSet
    val: ImageSet | None
    source: str
    unlabeled: ImageArray | None = None  # images without labels that distillation learns from (KL term only)


def load_data(spec: str, image_size: int) -> DataBundle:
    """``demo``, ``cifar10`` (torchvision's loader, downloads once), an ImageFolder root, or a folder of
    images converted from Python (``own_data``)."""
    if spec == "demo":
        splits = demo_data.load_demo(image_size)
        return DataBundle(
            classes=list(demo_data.CLASSES),
            train=ImageSet(splits["train"].images, splits["train"].labels),
            val=ImageSet(splits["val"].images, splits["val"].labels),
            test=ImageSet(splits["test"].images, splits["test"].labels),
            source="demo",
            unlabeled=splits["unlabeled"].images,  # the generator's labels for these are never read
        )
    if spec == "cifar10":
        return _load_cifar10(image_size)
    from edgedistill import own_data  # it builds on this module

    if own_data.is_saved(Path(spec)):
        return own_data.load_saved(Path(spec), image_size)
    return load_image_folder(Path(spec), image_size)


def load_image_folder(root: Path, image_size: int) -> DataBundle:
    """An ImageFolder root with ``train/`` and ``test/`` (and optional ``val/``), one folder per class, and
    optionally ``unlabeled/``: images without labels, at any depth.

    Every split is listed and checked before any image is decoded, so a bad layout fails in a second,
    not after minutes of decoding. Each split is decoded once into a store that later runs reuse."""
    require_data_folder(root)
    missing = [split for split in ("train", "test") if not (root / split).is_dir()]
    if missing:
        raise UserError(
            f"data folder {root} has no {' or '.join(missing)}/ subfolder; lay it out as "
            "ROOT/train/CLASS/*.jpg and ROOT/test/CLASS/*.jpg"
        )
    classes = _class_names(root / "train")
    listed = {name: _list_split(root / name, classes) for name in ("train", "val", "test") if (root / name).is_dir()}
    _require_two_classes(root / "train", classes, listed["train"][1])
    splits = {
        name: ImageSet(read_images(paths, image_size), np.asarray(labels, dtype=np.int64))
        for name, (paths, labels) in listed.items()
    }
    unlabeled = root / "unlabeled"
    pool = load_unlabeled_folder(unlabeled, image_size, UNLABELED_LIMIT, seed=0, required=False)
    return DataBundle(
        classes=classes,
        train=splits["train"],
        test=splits["test"],
        val=splits.get("val"),
        source=str(root),
        unlabeled=pool,
    )


def require_data_folder(root: Path) -> None:
    """The one refusal of a --data folder that is not there, for the early check and the loader alike."""
    if not root.is_dir():
        raise UserError(
            f"data folder {root} does not exist; set {setting('data', 'demo')}, {setting('data', 'cifar10')} or an "
            "ImageFolder root"
        )


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def read_image(path: Path, image_size: int) -> np.ndarray:
    """Decode to 8-bit RGB as the picture is meant to look, resize the shorter side to ``image_size`` and
    centre-crop a square.

    Pillow's plain ``convert("RGB")`` gets several files wrong for training, silently: it clips 16-bit
    greyscale to white, drops alpha (showing whatever colour hides under transparent pixels) and keeps
    phone photos in the orientation the sensor stored them. See ``to_rgb`` for what is done instead.
    """
    try:
        with _open_header(path) as image:
            image = to_rgb(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as error:  # over twice the limit (or a GIF frame): Pillow refuses first
        count = re.search(r"\((\d+) pixels\)", str(error))
        raise _too_large(path, f"{int(count[1]):,} pixels" if count else "over twice that many pixels") from None
    except (OSError, ValueError, SyntaxError) as error:  # Pillow raises SyntaxError for some damaged files
        raise UserError(f"cannot read image {path} ({error}); delete it or re-save it as JPEG or PNG") from None
    return fit_to_size(image, image_size)


def fit_to_size(image: Image.Image, image_size: int) -> np.ndarray:
    """Resize the shorter side of an RGB image to ``image_size`` and centre-crop a square: (S, S, 3) uint8."""
    scale = image_size / min(image.size)
    if scale != 1:
        new_size = (max(image_size, round(image.width * scale)), max(image_size, round(image.height * scale)))
        image = image.resize(new_size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    left, top = (image.width - image_size) // 2, (image.height - image_size) // 2
    return np.asarray(image.crop((left, top, left + image_size, top + image_size)))


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB of any Pillow mode, by fixed rules so that every image of a data set is treated alike
    (never scaled by its own range):

    - 16-bit greyscale (``I;16*``, and ``I``, read as 0..65535): v -> v >> 8, so 65535 -> 255, 257 k -> k;
    - float (``F``), read as 0..1 like the float TIFFs of image editors: v -> round(255 v), clipped;
    - alpha (RGBA, LA, PA) and palette or greyscale transparency: composited over ``BACKGROUND`` (white);
    - CMYK by Pillow's formula (an embedded ICC profile is not applied), "1", P, L, YCbCr by Pillow.
    """
    if image.mode in SIXTEEN_BIT_MODES:
        grey = (np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode == "F":
        grey = np.rint(np.clip(np.nan_to_num(np.asarray(image)), 0, 1) * 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def _open_header(path: Path) -> Image.Image:
    """Open ``path`` (Pillow reads the header only) and refuse it, naming it, when it has more pixels than
    ``Image.MAX_IMAGE_PIXELS``, before a few kilobytes of PNG decode into gigabytes.

    Pillow itself only warns up to twice that limit (then decodes; above it, it raises an error that names no
    file). The warning filter is process-wide, so header reads (fast) hold a lock; decoding is outside it.
    """
    with _HEADER_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(path)
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.width * image.height > limit:
        image.close()
        raise _too_large(path, f"{image.width}x{image.height} = {image.width * image.height:,} pixels")
    return image


def _too_large(path: Path, size: str) -> UserError:
    return UserError(
        f"image {path} is {size}, above the limit of {Image.MAX_IMAGE_PIXELS:,} that guards against decompression "
        "bombs (PIL.Image.MAX_IMAGE_PIXELS); shrink it to a few thousand pixels a side, or delete it"
    )


def _class_names(train_dir: Path) -> list[str]:
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir())
    if not classes:
        raise UserError(f"{train_dir} has no class folders; put each class's images in {train_dir}/CLASS_NAME/")
    return classes


def _require_two_classes(train_dir: Path, classes: list[str], labels: list[int]) -> None:
    """A model trained on one class predicts it always and scores 100% on a test split of that class."""
    present = sorted({classes[label] for label in labels})
    if len(present) < 2:
        raise UserError(
            f"{train_dir} holds images of one class only ({present[0]}); a classifier needs at least two: "
            f"put each class's images in its own folder, {train_dir}/CLASS_NAME/"
        )


def _list_split(split_dir: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    """The image paths of a split and their labels (indices into ``classes``)."""
    unknown = sorted({d.name for d in split_dir.iterdir() if d.is_dir()} - set(classes))
    if unknown:
        raise UserError(f"{split_dir} has classes {unknown} that train/ lacks; give every split the same class folders")
    paths, labels = [], []
    for label, name in enumerate(classes):
        class_paths = list_images(split_dir / name) if (split_dir / name).is_dir() else []
        paths += class_paths
        labels += [label] * len(class_paths)
    if not paths:
        raise UserError(
            f"{split_dir} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); add images or point "
            f"{setting('data')} elsewhere"
        )
    return paths, labels


def read_images(paths: list[Path], image_size: int) -> DiskImages:
    """The images decoded into a store under the cache folder, or the store an earlier run made of the same
    files. The key is each file's absolute path, size and modification time (as ``make`` judges staleness)
    with the size and the decoder's version: an edited or replaced photo makes a new store."""
    key = hashlib.sha256(f"{DECODE_VERSION}-{image_size}".encode())
    for path in paths:
        stat = path.stat()
        key.update(f"\0{path.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    store = store_path(f"folder-{key.hexdigest()[:24]}", image_size)
    if store.exists():
        return DiskImages(store, image_size)

    def decoded():
        with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            for start in range(0, len(paths), DECODE_BATCH):
                yield np.stack(list(pool.map(lambda p: read_image(p, image_size), paths[start : start + DECODE_BATCH])))

    return write_store(store, image_size, decoded())


def store_path(name: str, image_size: int) -> Path:
    """Where the store ``name`` of ``image_size`` px images lives; delete the folder to reclaim the space."""
    return demo_data.cache_dir() / "images" / f"{name}-{image_size}px.u8"


def load_unlabeled_folder(
    folder: Path, image_size: int, limit: int, seed: int, required: bool = True
) -> DiskImages | None:
    """Up to ``limit`` images from anywhere under ``folder`` (a seeded random sample if there are more); None for
    a folder that is missing or holds no images when it is not ``required`` (a data folder's own unlabeled/)."""
    paths = list_images(folder) if folder.is_dir() else []
    if not paths and not required:
        return None
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; give a folder of images (searched recursively)")
    if not paths:
        raise UserError(
            f"{folder} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); add images or give another folder"
        )
    if len(paths) > limit:
        chosen = np.random.default_rng(seed).choice(len(paths), size=limit, replace=False)
        paths = [paths[i] for i in sorted(chosen)]
    return read_images(paths, image_size)


def _load_cifar10(image_size: int) -> DataBundle:
    from torchvision.datasets import CIFAR10

    root = demo_data.cache_dir() / "cifar10"
    try:
        train, test = (CIFAR10(str(root), train=flag, download=True) for flag in (True, False))
    except Exception as error:  # torchvision raises URLError, RuntimeError or OSError when offline
        raise UserError(
            f"could not load CIFAR-10 into {root} ({error}); on an offline machine unpack a copy and pass "
            f"{setting('data', 'PATH_TO_IMAGEFOLDER')}"
        ) from None
    return DataBundle(
        classes=list(train.classes),
        train=ImageSet(_resized(train.data, "cifar10-train", image_size), np.asarray(train.targets, dtype=np.int64)),
        test=ImageSet(_resized(test.data, "cifar10-test", image_size), np.asarray(test.targets, dtype=np.int64)),
        val=None,
        source="cifar10",
    )


def _resized(images: np.ndarray, name: str, image_size: int) -> ImageArray:
    """The images at the training resolution: as they are when they already fit, else resized once into a
    store (50,000 images at 224 px are 7.5 GB)."""
    if images.shape[1:3] == (image_size, image_size):
        return images
    store = store_path(f"{name}-v{DECODE_VERSION}", image_size)
    if store.exists():
        return DiskImages(store, image_size)
    transform = build_eval_transform(image_size)
    batches = (
        np.stack([transform(image=image)["image"] for image in images[start : start + DECODE_BATCH]])
        for start in range(0, len(images), DECODE_BATCH)
    )
    return write_store(store, image_size, batches)


class AugmentedViews(Dataset):
    """Training views: item ``(i, v)`` is view v of image i, a pure function of (seed, i, v).

    Samplers hand out (image, view) pairs, so the trainer's one DataLoader and its persistent workers serve
    every epoch (view v is epoch v's), a teacher cache asks for any pair, and a resumed run replays exactly
    the views an uninterrupted run would have seen, whichever worker draws them.
    """

    def __init__(self, images: ImageArray, labels: np.ndarray, transform: A.Compose, seed: int):
        self.images, self.labels, self.transform, self.seed = images, labels, transform, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item: tuple[int, int]) -> tuple[torch.Tensor, int, int, int]:
        """(uint8 CHW view, label, index, view): index and view let a cached teacher find its answer."""
        index, view = item
        return self.render(index, view), int(self.labels[index]), index, view

    def render(self, index: int, view: int) -> torch.Tensor:
        """View ``view`` of image ``index`` as a uint8 (3, H, W) tensor."""
        reseed(self.transform, view_seed(self.seed, index, view))
        image = self.transform(image=self.images[index])["image"]
        return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


def worker_count(workers: int | None) -> int:
    """``workers`` as given, or by default one per CPU core this process may run on, shared among the
    processes torchrun started on this machine (augmentation is what keeps a GPU waiting), at most
    ``MAX_DEFAULT_WORKERS``: each worker is a process of its own, and a 128-core host would start 128."""
    if workers is not None:
        return workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_WORKERS, cores // int(os.environ.get("LOCAL_WORLD_SIZE", 1))))


def to_model_input(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> normalised float32, the layout every model and exported artifact takes."""
    mean_t = torch.tensor(mean, dtype=torch.float32, device=images.device).view(1, -1, 1, 1) * 255
    std_t = torch.tensor(std, dtype=torch.float32, device=images.device).view(1, -1, 1, 1) * 255
    return (images.float() - mean_t) / std_t
