"""What happens to light at the sensor and in the phone's image processor: noise, exposure,
white balance and the tone curve.

albumentations' ShotNoise draws a Poisson sample per pixel (about 120 images/s at 224 px on
one core); these transforms cost one or two table look-ups and, for noise, one Gaussian draw
per pixel, and work in linear light (see ``edgedistill.augment.light``).
"""

import math
from typing import Any

import albumentations as A
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema
from pydantic import Field

from edgedistill.augment.light import apply_linear_gain_lut, apply_lut, to_linear, to_srgb_uint8, white_balance_gains
from edgedistill.augment.schema import value_range


class SensorNoise(A.ImageOnlyTransform):
    """Photon shot noise plus read noise, added in linear light (Brooks et al. 2019,
    "Unprocessing Images for Learned Raw Denoising").

    A pixel of linear value x gets Gaussian noise of variance ``shot * x + read``. ``shot`` is
    log-uniform in ``shot_range``; ``read`` follows the log-linear fit to real phone and DSLR
    sensors: log read = read_slope * log shot + read_intercept + N(0, read_std). Dark pixels
    therefore get relatively more noise, as on a real sensor.
    """

    class InitSchema(BaseTransformInitSchema):
        shot_range: value_range(gt=0)
        read_slope: float
        read_intercept: float
        read_std: float = Field(ge=0)

    def __init__(
        self,
        shot_range: tuple[float, float] = (1e-4, 0.012),
        read_slope: float = 2.18,
        read_intercept: float = 1.20,
        read_std: float = 0.26,
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.shot_range, self.read_slope, self.read_intercept, self.read_std = (
            shot_range,
            read_slope,
            read_intercept,
            read_std,
        )

    def get_params(self) -> dict[str, Any]:
        log_shot = self.random_generator.uniform(math.log(self.shot_range[0]), math.log(self.shot_range[1]))
        log_read = self.read_slope * log_shot + self.read_intercept + self.random_generator.normal(0.0, self.read_std)
        return {"shot": math.exp(log_shot), "read": math.exp(log_read)}

    def apply(self, img: np.ndarray, shot: float, read: float, **params: Any) -> np.ndarray:
        light = to_linear(img)
        noise = self.random_generator.standard_normal(img.shape, dtype=np.float32)
        noise *= np.sqrt(light * np.float32(shot) + np.float32(read))
        return to_srgb_uint8(light + noise)


class Exposure(A.ImageOnlyTransform):
    """Exposure error in stops (EV): linear light times 2**ev, highlights clipped as the sensor clips them.
    Two in a row (dark, then bright after noise) model a dim scene brightened by sensor gain."""

    class InitSchema(BaseTransformInitSchema):
        ev_range: value_range(ge=-10, le=10)

    def __init__(self, ev_range: tuple[float, float] = (-1.0, 1.0), p: float = 0.5):
        super().__init__(p=p)
        self.ev_range = ev_range

    def get_params(self) -> dict[str, Any]:
        return {"ev": self.random_generator.uniform(*self.ev_range)}

    def apply(self, img: np.ndarray, ev: float, **params: Any) -> np.ndarray:
        return apply_linear_gain_lut(img, np.full(img.shape[-1], 2.0**ev))


class WhiteBalance(A.ImageOnlyTransform):
    """A colour cast from white balance that missed: the scene lit by a black body at a temperature
    drawn uniformly in mired from ``temperature_range``, the camera balanced for ``reference_kelvin``."""

    class InitSchema(BaseTransformInitSchema):
        temperature_range: value_range(ge=2000, le=40000)
        reference_kelvin: float = Field(ge=2000, le=40000)

    def __init__(
        self, temperature_range: tuple[float, float] = (4000, 9000), reference_kelvin: float = 6500, p: float = 0.5
    ):
        super().__init__(p=p)
        self.temperature_range, self.reference_kelvin = temperature_range, reference_kelvin

    def get_params(self) -> dict[str, Any]:
        low_mired, high_mired = 1e6 / self.temperature_range[1], 1e6 / self.temperature_range[0]
        return {"kelvin": 1e6 / self.random_generator.uniform(low_mired, high_mired)}

    def apply(self, img: np.ndarray, kelvin: float, **params: Any) -> np.ndarray:
        return apply_linear_gain_lut(img, white_balance_gains(kelvin, self.reference_kelvin))


class ToneCurve(A.ImageOnlyTransform):
    """The processor's tone curve on display values: a gamma, then an S-curve of strength ``contrast``
    (positive: punchier, as phones render; negative: flat, as hazy or backlit shots look)."""

    class InitSchema(BaseTransformInitSchema):
        gamma_range: value_range(gt=0)
        contrast_range: value_range(ge=-1, le=1)

    def __init__(
        self,
        gamma_range: tuple[float, float] = (0.8, 1.25),
        contrast_range: tuple[float, float] = (-0.3, 0.5),
        p: float = 0.5,
    ):
        super().__init__(p=p)
        self.gamma_range, self.contrast_range = gamma_range, contrast_range

    def get_params(self) -> dict[str, Any]:
        log_gamma = self.random_generator.uniform(*np.log(self.gamma_range))
        return {"gamma": math.exp(log_gamma), "contrast": self.random_generator.uniform(*self.contrast_range)}

    def apply(self, img: np.ndarray, gamma: float, contrast: float, **params: Any) -> np.ndarray:
        code = (np.arange(256) / 255.0) ** gamma
        smooth = code * code * (3 - 2 * code)
        table = np.clip(code + contrast * (smooth - code), 0, 1)
        return apply_lut(img, np.round(table * 255).astype(np.uint8))
