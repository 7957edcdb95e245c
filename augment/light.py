"""Colour science the camera transforms share: the sRGB transfer curve and black-body white points.

Sensor noise, exposure, white balance and vignetting happen to light, so they are applied in
linear light and not to sRGB code values; doing them on code values puts too much noise in
the highlights and too little in the shadows, and gives white balance the wrong hue.
Everything is a lookup table so that a transform costs one pass over the pixels.
"""

from functools import cache

import cv2
import numpy as np

ENCODE_STEPS = 4096  # linear -> sRGB table size; one step is < 1 code value even in the shadows


def srgb_to_linear(code: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 decoding of sRGB values in [0, 1]."""
    return np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(light: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding of linear values in [0, 1]."""
    light = np.clip(light, 0.0, 1.0)
    return np.where(light <= 0.0031308, light * 12.92, 1.055 * light ** (1 / 2.4) - 0.055)


DECODE_LUT = srgb_to_linear(np.arange(256) / 255.0).astype(np.float32)
ENCODE_LUT = np.round(linear_to_srgb(np.arange(ENCODE_STEPS) / (ENCODE_STEPS - 1)) * 255).astype(np.uint8)


def to_linear(image: np.ndarray) -> np.ndarray:
    """uint8 sRGB image -> float32 linear light."""
    return DECODE_LUT[image]


def to_srgb_uint8(light: np.ndarray) -> np.ndarray:
    """float linear light -> uint8 sRGB, clipping what the sensor could not hold."""
    index = np.clip(light * (ENCODE_STEPS - 1) + 0.5, 0, ENCODE_STEPS - 1).astype(np.int32)
    return ENCODE_LUT[index]


def apply_linear_gain_lut(image: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Multiply linear light by one gain per channel, through a 256-entry table per channel."""
    tables = to_srgb_uint8(DECODE_LUT[:, None] * np.asarray(gains, dtype=np.float32)[None, :])
    return apply_lut(image, tables)


def apply_lut(image: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """Look every pixel up in a (256,) table or a (256, channels) table, one per channel."""
    if tables.ndim == 1:
        return cv2.LUT(image, tables)
    return cv2.LUT(image, np.ascontiguousarray(tables).reshape(256, 1, -1))


def _lobe(wavelength: np.ndarray, mean: float, sigma_below: float, sigma_above: float) -> np.ndarray:
    sigma = np.where(wavelength < mean, sigma_below, sigma_above)
    return np.exp(-0.5 * ((wavelength - mean) / sigma) ** 2)


def _cie1931_cmf(wavelength: np.ndarray) -> np.ndarray:
    """CIE 1931 2-degree colour matching functions, the multi-lobe fit of Wyman, Sloan & Shirley 2013
    ("Simple Analytic Approximations to the CIE XYZ Color Matching Functions", JCGT 2(2))."""
    x = 1.056 * _lobe(wavelength, 599.8, 37.9, 31.0) + 0.362 * _lobe(wavelength, 442.0, 16.0, 26.7)
    x -= 0.065 * _lobe(wavelength, 501.1, 20.4, 26.2)
    y = 0.821 * _lobe(wavelength, 568.8, 46.9, 40.5) + 0.286 * _lobe(wavelength, 530.9, 16.3, 31.1)
    z = 1.217 * _lobe(wavelength, 437.0, 11.8, 36.0) + 0.681 * _lobe(wavelength, 459.0, 26.0, 13.8)
    return np.stack([x, y, z], axis=-1)


XYZ_TO_LINEAR_SRGB = np.array(
    [[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560], [0.0556434, -0.2040259, 1.0572252]]
)


@cache
def blackbody_xyz(kelvin: float) -> np.ndarray:
    """XYZ of a black body at ``kelvin``, normalised to Y = 1 (Planck's law through the CMFs)."""
    wavelength = np.arange(380.0, 781.0, 5.0)
    metres = wavelength * 1e-9
    c2 = 1.4387769e-2  # second radiation constant hc/k, m*K
    radiance = 1.0 / (metres**5 * np.expm1(c2 / (metres * kelvin)))
    xyz = radiance @ _cie1931_cmf(wavelength)
    return xyz / xyz[1]


def white_balance_gains(scene_kelvin: float, camera_kelvin: float) -> np.ndarray:
    """Per-channel linear gains that a camera balanced for ``camera_kelvin`` leaves on a scene lit at
    ``scene_kelvin``: a tungsten scene under daylight balance comes out orange. Green is kept at 1."""
    scene = XYZ_TO_LINEAR_SRGB @ blackbody_xyz(float(round(scene_kelvin)))
    camera = XYZ_TO_LINEAR_SRGB @ blackbody_xyz(float(round(camera_kelvin)))
    gains = scene / camera
    return gains / gains[1]
