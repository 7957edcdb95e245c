import numpy as np

from edgedistill.data import ImageSet
from edgedistill.field import CAMERA_CORRUPTIONS, build_field_split


def small_test_set():
    rng = np.random.default_rng(0)
    return ImageSet(rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), np.arange(10) % 3)


def test_balanced_grid_covers_every_corruption_and_severity():
    field = build_field_split(small_test_set(), CAMERA_CORRUPTIONS, "balanced")
    assert field.images.shape == (10 * len(CAMERA_CORRUPTIONS), 32, 32, 3) and field.images.dtype == np.uint8
    assert field.names == CAMERA_CORRUPTIONS
    for c in range(len(CAMERA_CORRUPTIONS)):
        assert sorted(np.bincount(field.severity[field.corruption == c])[1:].tolist()) == [2] * 5
    np.testing.assert_array_equal(field.labels[:10], np.arange(10) % 3)


def test_full_grid_has_five_severities_per_image():
    field = build_field_split(small_test_set(), ("gaussian_noise", "contrast"), "full")
    assert len(field.labels) == 10 * 2 * 5


def test_split_is_deterministic_and_actually_corrupted():
    test = small_test_set()
    first = build_field_split(test, ("gaussian_noise", "defocus_blur"), "full")
    recomputed = build_field_split(test, ("gaussian_noise", "defocus_blur"), "full")
    np.testing.assert_array_equal(first.images, recomputed.images)
    originals = np.repeat(test.images, 5, axis=0)
    noise = first.images[first.corruption == 0].astype(float)
    change = np.abs(noise - originals).reshape(10, 5, -1).mean(axis=(0, 2))
    assert np.all(np.diff(change) > 0), f"noise must grow with severity, got {change}"
