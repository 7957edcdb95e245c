"""What the lens, the shaking hand and the read-out do to an image: defocus, hand-shake blur,
vignetting, rolling-shutter skew and the halos of in-camera sharpening.

Blur sizes are fractions of the image's shorter side, not pixels: a photo keeps the same blur
relative to its content whatever size it is resized to, so one preset serves 32 px and 224 px
models. albumentations' Defocus (about 500 images/s at 224 px on one core) is replaced by a
kernel built once per draw and one ``cv2.filter2D`` call.
"""

from functools import cache, lru_cache
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema

from edgedistill.augment.light import to_linear, to_srgb_uint8
from edgedistill.augment.schema import value_range

SUBSAMPLES = 8  # samples per pixel and axis when measuring the disk's area in each pixel


def splat_kernel(points: np.ndarray) -> np.ndarray:
    """Spread (x, y) points around 0 bilinearly onto a pixel grid: a blur kernel of any size, down to a
    fraction of a pixel, where a kernel rasterised by rounding would leave the image untouched."""
    half = int(np.floor(np.abs(points).max())) + 1
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    xy = points + half
    base = np.floor(xy).astype(int)
    frac = xy - base
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        weight = np.abs(1 - dx - frac[:, 0]) * np.abs(1 - dy - frac[:, 1])
        np.add.at(kernel, (base[:, 1] + dy, base[:, 0] + dx), weight)
    return kernel / kernel.sum()


@lru_cache(maxsize=2048)
def disk_kernel(radius: float) -> np.ndarray:
    """A uniform disk, the point spread of a defocused lens: each pixel weighs the share of the disk's
    area that falls in it, so a disk well inside one pixel (radius < 0.5) leaves the image as it is."""
    half = int(np.ceil(radius + 0.5))
    offsets = (np.arange((2 * half + 1) * SUBSAMPLES) + 0.5) / SUBSAMPLES - half - 0.5
    inside = offsets[:, None] ** 2 + offsets[None, :] ** 2 <= radius**2
    kernel = inside.reshape(2 * half + 1, SUBSAMPLES, 2 * half + 1, SUBSAMPLES).sum(axis=(1, 3)).astype(np.float32)
    if kernel.sum() == 0:  # smaller than one sample: all of it lands in the centre pixel
        kernel[half, half] = 1
    margin = int(np.flatnonzero(kernel.any(axis=1))[0])  # drop empty border rows and columns
    kernel = kernel[margin : kernel.shape[0] - margin, margin : kernel.shape[1] - margin]
    return kernel / kernel.sum()


def shake_kernel(length: float, rng: np.random.Generator, steps: int = 48) -> np.ndarray:
    """The path of a shaking hand while the shutter is open, drawn as a blur kernel.

    A random walk with momentum (the camera's inertia), in the spirit of the trajectory model
    of Boracchi & Foi 2012, scaled so its longest extent is ``length`` pixels.
    """
    velocity = np.cumsum(rng.standard_normal((steps, 2)), axis=0) + rng.standard_normal(2) * steps**0.5
    path = np.cumsum(velocity, axis=0)
    path -= path.mean(axis=0)
    extent = np.ptp(path, axis=0).max()
    return splat_kernel(path * (length / extent if extent > 0 else 0.0))


def _convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


class DefocusBlur(A.ImageOnlyTransform):
    """Out-of-focus blur: a disk of radius drawn from ``radius_range`` (fraction of the shorter side)."""

    class InitSchema(BaseTransformInitSchema):
        radius_range: value_range(ge=0, le=0.5)

    def __init__(self, radius_range: tuple[float, float] = (0.005, 0.03), p: float = 0.5):
        super().__init__(p=p)
        self.radius_range = radius_range

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        side = min(params["shape"][:2])
        return {"radius": side * self.random_generator.uniform(*self.radius_range)}

    def apply(self, img: np.ndarray, radius: float, **params: Any) -> np.ndarray:
        return _convolve(img, disk_kernel(round(radius, 2)))


class HandShakeBlur(A.ImageOnlyTransform):
    """Camera shake during the exposure: a random smooth path of extent drawn from ``length_range``
    (fraction of the shorter side), unlike MotionBlur's straight line."""

    class InitSchema(BaseTransformInitSchema):
        length_range: value_range(ge=0, le=0.5)

    def __init__(self, length_range: tuple[float, float] = (0.005, 0.03), p: float = 0.5):
        super().__init__(p=p)
        self.length_range = length_range

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        length = min(params["shape"][:2]) * self.random_generator.uniform(*self.length_range)
        return {"kernel": shake_kernel(length, self.random_generator)}

    def apply(self, img: np.ndarray, kernel: np.ndarray, **params: Any) -> np.ndarray:
        return _convolve(img, kernel)


@cache
def _radius_squared(height: int, width: int) -> np.ndarray:
    """Squared distance from the centre, 1 at the corners."""
    y = (np.arange(height) - (height - 1) / 2) / max(height - 1, 1) * 2
    x = (np.arange(width) - (width - 1) / 2) / max(width - 1, 1) * 2
    return ((y[:, None] ** 2 + x[None, :] ** 2) / 2).astype(np.float32)[..., None]


class Vignetting(A.ImageOnlyTransform):
    """Light falloff towards the corners, in linear light: gain 1 - strength * r**2 with r = 1 at the
    corners, so ``strength`` 0.5 is one stop darker in the corners."""

    class InitSchema(BaseTransformInitSchema):
        strength_range: value_range(ge=0, le=1)

    def __init__(self, strength_range: tuple[float, float] = (0.1, 0.5), p: float = 0.5):
        super().__init__(p=p)
        self.strength_range = strength_range

    def get_params(self) -> dict[str, Any]:
        return {"strength": self.random_generator.uniform(*self.strength_range)}

    def apply(self, img: np.ndarray, strength: float, **params: Any) -> np.ndarray:
        gain = 1 - np.float32(strength) * _radius_squared(*img.shape[:2])
        return to_srgb_uint8(to_linear(img) * gain)


class RollingShutter(A.ImageOnlyTransform):
    """Skew from a rolling shutter: rows are read out one after another while the camera pans, so the
    bottom row is shifted sideways by ``skew`` (fraction of the width, signed) relative to the top."""

    class InitSchema(BaseTransformInitSchema):
        skew_range: value_range(ge=-0.5, le=0.5)

    def __init__(self, skew_range: tuple[float, float] = (-0.05, 0.05), p: float = 0.5):
        super().__init__(p=p)
        self.skew_range = skew_range

    def get_params(self) -> dict[str, Any]:
        return {"skew": self.random_generator.uniform(*self.skew_range)}

    def apply(self, img: np.ndarray, skew: float, **params: Any) -> np.ndarray:
        height, width = img.shape[:2]
        shear = skew * width / max(height - 1, 1)
        matrix = np.float32([[1, shear, -shear * (height - 1) / 2], [0, 1, 0]])
        return cv2.warpAffine(img, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


class Oversharpen(A.ImageOnlyTransform):
    """In-camera sharpening pushed too far: an unsharp mask whose overshoot leaves bright and dark
    halos along edges. ``sigma_range`` is in pixels, since sharpening runs at the output size."""

    class InitSchema(BaseTransformInitSchema):
        amount_range: value_range(ge=0)
        sigma_range: value_range(gt=0)

    def __init__(
        self,
        amount_range: tuple[float, float] = (0.5, 2.0),
        sigma_range: tuple[float, float] = (0.6, 1.5),
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.amount_range, self.sigma_range = amount_range, sigma_range

    def get_params(self) -> dict[str, Any]:
        return {
            "amount": self.random_generator.uniform(*self.amount_range),
            "sigma": self.random_generator.uniform(*self.sigma_range),
        }

    def apply(self, img: np.ndarray, amount: float, sigma: float, **params: Any) -> np.ndarray:
        blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
        return cv2.addWeighted(img, 1 + amount, blurred, -amount, 0)
