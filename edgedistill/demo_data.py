"""The embedded demo data set: procedurally drawn shapes, generated on first use and cached.

Why synthetic: the default run must work offline, in minutes, on two CPU cores, and still be
a task where a small student trained alone measurably trails the teacher. The ten classes are
five shapes times two fills (solid or striped), drawn at random size, place, rotation and
colour on cluttered gradient backgrounds. Colour tells nothing about the class; telling the
shape needs its outline, and telling the fill needs fine texture -- exactly what camera noise,
blur and JPEG destroy, so the phone domain matters on it.

Besides the labeled splits the generator draws an unlabeled pool, several times the labeled training set,
whose labels are thrown away: distillation's usual setting, where images are cheap and labels are not. The
teacher and the student alone learn from the labeled images only; the distilled students also learn the
teacher's answers on the pool.
"""

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from edgedistill.fileio import write_atomic

SHAPES = ("disk", "square", "triangle", "cross", "star")
FILLS = ("solid", "striped")
CLASSES = tuple(f"{shape}-{fill}" for shape in SHAPES for fill in FILLS)
SPLIT_SIZES_PER_CLASS = {"train": 200, "val": 50, "test": 100, "unlabeled": 800}
SUPERSAMPLE = 4  # draw at 4x and downsample, so edges are anti-aliased like a real photo
GENERATOR_VERSION = 4


@dataclass(frozen=True)
class DemoSplit:
    images: np.ndarray  # (N, H, W, 3) uint8
    labels: np.ndarray  # (N,) int64


def cache_dir() -> Path:
    return Path(os.environ.get("EDGEDISTILL_CACHE", Path.home() / ".cache" / "edgedistill"))


def load_demo(image_size: int = 32, seed: int = 0) -> dict[str, DemoSplit]:
    """Return the train/val/test splits, generating and caching them on first use."""
    key = hashlib.sha256(f"{GENERATOR_VERSION}-{image_size}-{seed}-{SPLIT_SIZES_PER_CLASS}".encode()).hexdigest()[:12]
    path = cache_dir() / f"demo-{key}.npz"
    if not path.exists():
        splits = {
            name: generate_split(per_class, image_size, seed=seed * 1000 + index)
            for index, (name, per_class) in enumerate(SPLIT_SIZES_PER_CLASS.items())
        }
        arrays = {
            f"{name}_{part}": getattr(split, part) for name, split in splits.items() for part in ("images", "labels")
        }
        write_atomic(path, lambda tmp: np.savez(tmp.open("wb"), **arrays))
    with np.load(path) as arrays:
        return {name: DemoSplit(arrays[f"{name}_images"], arrays[f"{name}_labels"]) for name in SPLIT_SIZES_PER_CLASS}


def generate_split(per_class: int, image_size: int, seed: int) -> DemoSplit:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    rng.shuffle(labels)
    images = np.stack([draw_image(int(label), image_size, rng) for label in labels])
    return DemoSplit(images, labels.astype(np.int64))


def draw_image(label: int, image_size: int, rng: np.random.Generator) -> np.ndarray:
    shape, fill = CLASSES[label].split("-")
    size = image_size * SUPERSAMPLE
    canvas = _background(size, rng)
    mask = _shape_mask(shape, size, rng)
    colour = _contrasting_colour(canvas[mask].mean(axis=0), rng)
    if fill == "striped":
        other = _contrasting_colour(colour, rng)
        canvas[mask] = np.where(_stripes(size, rng)[mask, None], colour, other)
    else:
        canvas[mask] = colour
    image = Image.fromarray(canvas.clip(0, 255).astype(np.uint8))
    return np.asarray(image.resize((image_size, image_size), Image.Resampling.BOX))


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A colour gradient with a few random strokes, so the object never sits on a flat field."""
    start, end = rng.uniform(0, 255, (2, 3))
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size] / size
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)[..., None]
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    canvas = start + (end - start) * ramp
    image = Image.fromarray(canvas.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(0, 3)):
        points = [tuple(p) for p in rng.uniform(0, size, (3, 2))]
        draw.line(points, fill=tuple(int(c) for c in rng.uniform(0, 255, 3)), width=int(rng.integers(2, 5)))
    return np.asarray(image).astype(np.float32)


def _shape_mask(shape: str, size: int, rng: np.random.Generator) -> np.ndarray:
    radius = rng.uniform(0.28, 0.45) * size
    cx, cy = rng.uniform(radius, size - radius, 2)
    rotation = rng.uniform(-0.4, 0.4)
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "disk":
        squash = rng.uniform(0.8, 1.0)
        draw.ellipse([cx - radius, cy - radius * squash, cx + radius, cy + radius * squash], fill=255)
    else:
        draw.polygon(_polygon(shape, cx, cy, radius, rotation), fill=255)
    return np.asarray(mask) > 127


def _polygon(shape: str, cx: float, cy: float, radius: float, rotation: float) -> list[tuple[float, float]]:
    if shape == "square":
        polar = [(radius, rotation + math.pi / 4 + k * math.pi / 2) for k in range(4)]
    elif shape == "triangle":
        polar = [(radius, rotation + k * 2 * math.pi / 3) for k in range(3)]
    elif shape == "star":
        polar = [(radius if k % 2 == 0 else radius * 0.45, rotation + k * math.pi / 5) for k in range(10)]
    else:  # cross: twelve corners of a plus sign with arms a third as wide as the whole
        arm = radius / 3
        corners = [(arm, radius), (arm, arm), (radius, arm), (radius, -arm), (arm, -arm), (arm, -radius)]
        corners += [(-x, -y) for x, y in corners]
        polar = [(math.hypot(x, y), rotation + math.atan2(y, x)) for x, y in corners]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for r, a in polar]


def _stripes(size: int, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(3.5, 6.0) * SUPERSAMPLE
    angle = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:size, 0:size]
    return np.sin((np.cos(angle) * xx + np.sin(angle) * yy) * 2 * math.pi / period) > 0


def _contrasting_colour(reference: np.ndarray, rng: np.random.Generator, min_distance: float = 120.0) -> np.ndarray:
    """A random colour at least ``min_distance`` away from ``reference`` (RGB, 0-255)."""
    while True:
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - reference) >= min_distance:
            return colour
