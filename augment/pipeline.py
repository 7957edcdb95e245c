"""Build albumentations pipelines from preset YAML files, strictly.

albumentations 2.0.8 only warns on a misspelt argument and then silently uses the default,
so every pipeline is built with ``strict=True`` and every error is re-raised with the preset
file and the offending key, which is what the user has to edit.
"""

import difflib
import inspect
import random
import warnings
import zlib
from importlib import resources
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import yaml

from edgedistill.augment import optics, sensor
from edgedistill.errors import UserError, setting

IMAGE_SIZE_PLACEHOLDER = "image_size"
CAMERA_TRANSFORMS: dict[str, type[A.BasicTransform]] = {
    cls.__name__: cls
    for cls in (
        sensor.SensorNoise,
        sensor.Exposure,
        sensor.WhiteBalance,
        sensor.ToneCurve,
        optics.DefocusBlur,
        optics.HandShakeBlur,
        optics.Vignetting,
        optics.RollingShutter,
        optics.Oversharpen,
    )
}


def list_presets() -> list[str]:
    files = resources.files("edgedistill.augment.presets").iterdir()
    return sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml"))


def preset_path(domain: str) -> Path | Any:
    """A preset name that ships with the kit, or the path of a user's YAML file."""
    if domain in list_presets():
        return resources.files("edgedistill.augment.presets") / f"{domain}.yaml"
    path = Path(domain)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"domain file {path} does not exist; give an existing YAML file or one of {list_presets()}")
        return path
    raise UserError(f"unknown domain '{domain}'; choose one of {list_presets()} or give the path of a preset YAML file")


def load_preset(domain: str) -> dict[str, Any]:
    path = preset_path(domain)
    try:
        preset = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {_one_line(error)}") from None
    if not isinstance(preset, dict) or not isinstance(preset.get("transforms"), list):
        raise UserError(f"{path} must be a mapping with a 'transforms' list, as in the shipped phone.yaml")
    return {"path": str(path), **preset}


def build_train_transform(domain: str, image_size: int) -> A.Compose:
    """The training views of a domain; ``reseed`` it with a ``view_seed`` to make one view reproducible."""
    preset = load_preset(domain)
    return build_pipeline(preset["transforms"], image_size, preset["path"])


def build_pipeline(entries: list[Any], image_size: int, source: str) -> A.Compose:
    """A pipeline from preset entries (``{Name: {arg: value}}``); ``source`` names them in errors."""
    transforms = [_build_transform(entry, image_size, source) for entry in entries]
    _check_sizes(transforms, image_size, source)
    return A.Compose(transforms, strict=True, seed=0)  # the seed re-states every transform's random streams


def _check_sizes(transforms: list[A.BasicTransform], image_size: int, source: str) -> None:
    """Run every transform once, forced to fire, on an ``image_size`` square, and require views of that size.

    A crop larger than the image (or a transform that needs a target the pipeline lacks) would otherwise
    fail at the first training batch, and views of another size would break the teacher cache, export
    calibration and evaluation, which all work at ``image_size``.
    """
    image = np.random.default_rng(0).integers(0, 256, (image_size, image_size, 3), dtype=np.uint8)
    shaped_by = "the input"
    for transform in transforms:
        name, before = type(transform).__name__, image
        try:
            image = transform(image=image, force_apply=True)["image"]
        except Exception as error:  # albumentations raises many types here; every one is the preset's
            raise UserError(
                f"{source}: {name} fails on the {before.shape[1]}x{before.shape[0]} images it gets at "
                f"{setting('image_size', image_size)} ({type(error).__name__}: {_one_line(error)}); keep its sizes "
                f"within that (the word image_size in the preset follows {setting('image_size')}), train at a larger "
                f"{setting('image_size')}, or remove it"
            ) from None
        if image.shape != before.shape or image.dtype != before.dtype:
            shaped_by = name
    if image.shape != (image_size, image_size, 3) or image.dtype != np.uint8:
        raise UserError(
            f"{source}: {shaped_by} makes the views {'x'.join(map(str, image.shape))} {image.dtype}, but training "
            f"needs {image_size}x{image_size}x3 uint8 ({setting('image_size')}); end the geometry with a crop or "
            "resize to image_size, as the shipped presets' RandomResizedCrop does, and leave normalising to edgedistill"
        )


def build_eval_transform(image_size: int) -> A.Compose:
    """Test-time view: the image at the model's resolution, nothing random."""
    return A.Compose([A.Resize(height=image_size, width=image_size, p=1.0)], strict=True, seed=0)


def draw_views(entries: list[Any], images: np.ndarray, seed: int, source: str = "preset") -> np.ndarray:
    """One view of every image (image i seeded with ``view_seed(seed, i, 0)``), at the images' own size."""
    pipeline = build_pipeline(entries, images.shape[1], source)
    views = []
    for index, image in enumerate(images):
        reseed(pipeline, view_seed(seed, index, 0))
        views.append(pipeline(image=image)["image"])
    return np.stack(views)


def reseed(transform: A.Compose, seed: int) -> None:
    """Start one view's random streams: one per transform, keyed by (seed, transform name, occurrence).

    ``Compose.set_random_seed`` gives every transform the *same* seed, so every transform's first
    draw (does it fire?) is the same number and transforms with equal ``p`` fire together. Keys
    by name rather than position also keep a transform's draws the same when another transform
    is added to the preset, which ``augment fit`` relies on to compare two presets fairly.
    The generators are made once and re-stated per view: building 15 of them per image would
    halve the throughput at 32 px.
    """
    seen: dict[str, int] = {}
    for child in transform.transforms:
        name = type(child).__name__
        seen[name] = seen.get(name, -1) + 1
        key = _splitmix64(_splitmix64(_splitmix64(seed) ^ zlib.crc32(name.encode())) ^ seen[name])
        rng = getattr(child, "_view_rng", None)
        if rng is None or child.random_generator is not rng:
            rng = child._view_rng = np.random.Generator(np.random.PCG64())
            child.set_random_state(rng, random.Random())
        state = {"state": (key << 64) | _splitmix64(key), "inc": (_splitmix64(key ^ _GOLDEN) << 1) | 1}
        rng.bit_generator.state = {"bit_generator": "PCG64", "state": state, "has_uint32": 0, "uinteger": 0}
        child.py_random.seed(key)


_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _splitmix64(value: int) -> int:
    """SplitMix64's finaliser (Steele, Lea & Flood 2014): a cheap, well-mixed hash of a 64-bit key."""
    value = (value + _GOLDEN) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def view_seed(base_seed: int, image_index: int, view: int) -> int:
    """Seed of one training view: a pure function of (run seed, image, view number).

    Seeding each view separately makes a view replayable (resume, teacher cache) and keeps
    DataLoader workers from repeating each other's random streams.
    """
    return int(np.random.SeedSequence([base_seed, image_index, view]).generate_state(1)[0])


def _build_transform(entry: Any, image_size: int, path: str) -> A.BasicTransform:
    if not isinstance(entry, dict) or len(entry) != 1:
        raise UserError(
            f"{path}: each transform must be a one-key mapping like '- GaussNoise: {{p: 0.5}}', got {entry!r}"
        )
    ((name, args),) = entry.items()
    cls = CAMERA_TRANSFORMS.get(name) or getattr(A, name, None)
    if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
        close = difflib.get_close_matches(name, _transform_names(), n=3)
        hint = f"did you mean {close}?" if close else "see albumentations' list of transforms"
        raise UserError(f"{path}: unknown transform '{name}'; {hint}")
    args = _substitute_image_size(args or {}, image_size)
    if not isinstance(args, dict):
        raise UserError(f"{path}: the arguments of {name} must be a mapping like {{p: 0.5}}, got {args!r}")
    valid = sorted(set(inspect.signature(cls.__init__).parameters) - {"self", "strict", "args", "kwargs"})
    unknown = sorted(set(args) - set(valid))
    if unknown:
        close = {key: difflib.get_close_matches(key, valid, n=1) for key in unknown}
        hints = ", ".join(f"'{key}'" + (f" (did you mean '{c[0]}'?)" if c else "") for key, c in close.items())
        raise UserError(f"{path}: {name} has no argument {hints}; its arguments are {valid}")
    try:
        with warnings.catch_warnings():  # strict mode turns the library's warning into the error below
            warnings.simplefilter("ignore", UserWarning)
            return A.Compose([cls(**args)], strict=True).transforms[0]
    except (TypeError, ValueError) as error:
        raise UserError(f"{path}: bad arguments for {name}: {_one_line(error)}") from None


def _one_line(error: Exception) -> str:
    """pydantic spreads one validation error over several lines; the CLI prints one."""
    return " ".join(
        line.strip() for line in str(error).splitlines() if line.strip() and "errors.pydantic.dev" not in line
    )


def _transform_names() -> list[str]:
    library = [n for n in dir(A) if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), A.BasicTransform)]
    return [*CAMERA_TRANSFORMS, *library]


def _substitute_image_size(value: Any, image_size: int) -> Any:
    if value == IMAGE_SIZE_PLACEHOLDER:
        return image_size
    if isinstance(value, dict):
        return {k: _substitute_image_size(v, image_size) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_image_size(v, image_size) for v in value]
    return value
