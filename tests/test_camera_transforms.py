"""The kit's camera transforms: reproducible, shape- and dtype-keeping, and moving the statistic
each one is meant to move, in the intended direction."""

import numpy as np
import pytest

from edgedistill.augment.light import blackbody_xyz, to_linear, to_srgb_uint8, white_balance_gains
from edgedistill.augment.pipeline import CAMERA_TRANSFORMS, build_pipeline, build_train_transform, reseed
from edgedistill.augment.stats import image_statistics
from edgedistill.demo_data import generate_split
from edgedistill.errors import UserError


@pytest.fixture(scope="module")
def photos():
    """Demo images at 64 px: smooth backgrounds with sharp shapes, like simple photos."""
    return generate_split(per_class=2, image_size=64, seed=3).images


def degrade(photos: np.ndarray, name: str, seed: int = 0, **args) -> np.ndarray:
    pipeline = build_pipeline([{name: {**args, "p": 1.0}}], photos.shape[1], "test")
    views = []
    for index, image in enumerate(photos):
        reseed(pipeline, seed * 1000 + index)
        views.append(pipeline(image=image)["image"])
    return np.stack(views)


def median(photos: np.ndarray, statistic: str) -> float:
    return float(np.median(image_statistics(photos)[statistic]))


@pytest.mark.parametrize("name", sorted(CAMERA_TRANSFORMS))
def test_transform_is_seeded_and_keeps_shape_and_dtype(name):
    image = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)  # non-square
    pipeline = build_pipeline([{name: {"p": 1.0}}], 64, "test")
    reseed(pipeline, 5)
    first = pipeline(image=image)["image"]
    reseed(pipeline, 6)
    other = pipeline(image=image)["image"]
    reseed(pipeline, 5)
    assert first.shape == image.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, pipeline(image=image)["image"])
    assert not np.array_equal(first, other), "a different seed should draw a different view"
    changed = []
    for seed in range(5):  # a draw can land near the identity (white balance near the reference), not all five
        reseed(pipeline, seed)
        changed.append(not np.array_equal(pipeline(image=image)["image"], image))
    assert any(changed), "at p=1 the transform should change the image"


def test_more_sensor_noise_raises_estimated_sigma(photos):
    sigmas = [median(degrade(photos, "SensorNoise", shot_range=[s, s]), "noise") for s in (1e-4, 1e-3, 1e-2, 1e-1)]
    assert sigmas == sorted(sigmas) and sigmas[-1] > 4 * sigmas[0], sigmas


def test_sensor_noise_is_signal_dependent_in_linear_light():
    """Shot noise grows with light: in linear light the noise std of a bright patch over a dark one is
    sqrt((shot*x_bright + read) / (shot*x_dark + read)), about 1.95 here; constant noise added to sRGB
    code values would give about 2.6 and noise constant in linear light 1.0. (The dark patch is bright
    enough that clipping at black does not shrink its noise.)"""
    image = np.concatenate([np.full((64, 64, 3), 100, np.uint8), np.full((64, 64, 3), 200, np.uint8)], axis=1)
    noisy = to_linear(degrade(image[None], "SensorNoise", shot_range=[0.02, 0.02], read_std=0.0)[0])
    clean = to_linear(image)
    ratio = (noisy - clean)[:, 64:].std() / (noisy - clean)[:, :64].std()
    read = np.exp(2.18 * np.log(0.02) + 1.20)
    expected = np.sqrt((0.02 * clean[0, 100, 0] + read) / (0.02 * clean[0, 0, 0] + read))
    assert ratio == pytest.approx(expected, rel=0.08), (ratio, expected)


@pytest.mark.parametrize("name,argument", [("DefocusBlur", "radius_range"), ("HandShakeBlur", "length_range")])
def test_more_blur_lowers_laplacian_variance(photos, name, argument):
    sharpness = [median(degrade(photos, name, **{argument: [f, f]}), "sharpness") for f in (0.0, 0.01, 0.03, 0.08)]
    assert sharpness == sorted(sharpness, reverse=True) and sharpness[0] - sharpness[-1] > 0.5, sharpness


def test_exposure_works_in_stops_of_linear_light():
    grey = np.full((8, 8, 3), 128, np.uint8)
    darker = degrade(grey[None], "Exposure", ev_range=[-1, -1])[0]
    expected = to_srgb_uint8(to_linear(grey) / 2)
    np.testing.assert_array_equal(darker, expected)
    assert darker.mean() < 128 < degrade(grey[None], "Exposure", ev_range=[1, 1])[0].mean()


def test_white_balance_moves_the_cast_along_the_black_body_locus(photos):
    neutral = median(photos, "cast_blue_red")
    warm = median(degrade(photos, "WhiteBalance", temperature_range=[3000, 3000]), "cast_blue_red")
    cool = median(degrade(photos, "WhiteBalance", temperature_range=[12000, 12000]), "cast_blue_red")
    assert warm < neutral - 0.3 and cool > neutral + 0.1
    np.testing.assert_allclose(white_balance_gains(6500, 6500), [1, 1, 1])


def test_white_balance_refuses_temperatures_whose_gains_go_negative(tmp_path):
    """Below about 2000 K the sRGB gains of a black body leave the gamut (a negative blue gain)."""
    preset = tmp_path / "mine.yaml"
    preset.write_text("transforms:\n  - WhiteBalance: {temperature_range: [1000, 3000]}\n")
    with pytest.raises(UserError, match="WhiteBalance"):
        build_train_transform(str(preset), 32)
    assert (white_balance_gains(2000, 10000) > 0).all() and (white_balance_gains(40000, 2000) > 0).all()


def test_defocus_smaller_than_half_a_pixel_leaves_the_image_alone(photos):
    np.testing.assert_array_equal(degrade(photos[:2], "DefocusBlur", radius_range=[0.005, 0.005]), photos[:2])


def test_black_body_chromaticity_matches_cie_illuminant_a():
    """CIE illuminant A is a 2856 K black body at x, y = 0.4476, 0.4074 (CIE 15:2004)."""
    xyz = blackbody_xyz(2856.0)
    np.testing.assert_allclose(xyz[:2] / xyz.sum(), [0.4476, 0.4074], atol=0.003)


def test_tone_curve_contrast_moves_luma_spread(photos):
    flat = median(degrade(photos, "ToneCurve", gamma_range=[1, 1], contrast_range=[-0.8, -0.8]), "contrast")
    punchy = median(degrade(photos, "ToneCurve", gamma_range=[1, 1], contrast_range=[0.8, 0.8]), "contrast")
    assert flat < median(photos, "contrast") < punchy


def test_vignetting_darkens_corners_and_keeps_the_centre():
    grey = np.full((33, 33, 3), 180, np.uint8)
    out = degrade(grey[None], "Vignetting", strength_range=[0.5, 0.5])[0]
    assert out[16, 16, 0] == 180 and out[0, 0, 0] < 150


def test_rolling_shutter_shears_rows_by_the_skew():
    image = np.zeros((41, 41, 3), np.uint8)
    image[:, 20] = 255  # a vertical line
    out = degrade(image[None], "RollingShutter", skew_range=[0.2, 0.2])[0]
    top, bottom = out[0, :, 0].argmax(), out[-1, :, 0].argmax()
    assert bottom - top == pytest.approx(0.2 * 41, abs=1.5)


def test_oversharpening_overshoots_at_edges(photos):
    assert median(degrade(photos, "Oversharpen"), "sharpness") > median(photos, "sharpness") + 0.2
    step = np.zeros((16, 16, 3), np.uint8)
    step[:, 8:] = 160
    out = degrade(step[None], "Oversharpen", amount_range=[1.5, 1.5], sigma_range=[1, 1])[0]
    assert out.max() > 160, "an over-sharpened edge has a bright halo above the brighter side"


def test_jpeg_raises_blockiness(photos):
    compressed = degrade(photos, "ImageCompression", quality_range=[20, 20])
    assert median(compressed, "blockiness") > median(photos, "blockiness") + 0.2


def test_immerkaer_estimate_recovers_a_known_sigma():
    rng = np.random.default_rng(0)
    flat = np.clip(128 + rng.normal(0, 6.0, (20, 64, 64, 1)), 0, 255).repeat(3, axis=3).astype(np.uint8)
    assert float(np.median(image_statistics(flat)["noise"])) == pytest.approx(6.0, rel=0.1)


def test_transforms_of_equal_probability_fire_independently():
    """One shared stream per view: albumentations' own set_random_seed gives every transform the
    same seed, so two transforms with p = 0.5 would always fire together."""
    pipeline = build_pipeline([{"Exposure": {"p": 0.5}}, {"ToneCurve": {"p": 0.5}}], 16, "test")
    pipeline.save_applied_params = True
    image = np.full((16, 16, 3), 100, np.uint8)
    both = 0
    for seed in range(400):
        reseed(pipeline, seed)
        both += len(pipeline(image=image)["applied_transforms"]) == 2
    assert 0.18 < both / 400 < 0.32


def test_camera_transform_arguments_are_checked_strictly(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("transforms:\n  - SensorNoise: {shot_rang: [0.001, 0.01]}\n")
    with pytest.raises(UserError, match=r"mine\.yaml.*SensorNoise.*shot_rang"):
        build_train_transform(str(preset), 32)
    preset.write_text("transforms:\n  - DefocusBlur: {radius_range: [0.05, 0.01]}\n")
    with pytest.raises(UserError, match=r"mine\.yaml.*DefocusBlur"):
        build_train_transform(str(preset), 32)
