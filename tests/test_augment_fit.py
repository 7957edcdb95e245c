"""``augment fit`` finds the degradations that made a set of images, and ``check`` scores a preset."""

import numpy as np
import pytest
import yaml

from edgedistill.augment.fit import GEOMETRY, KNOBS, fit_preset, preset_entries, preset_yaml
from edgedistill.augment.pipeline import build_train_transform, draw_views, load_preset
from edgedistill.augment.stats import compare, image_statistics, mean_distance
from edgedistill.demo_data import generate_split

TRUTH = [
    {"Exposure": {"ev_range": [-1.0, -1.0], "p": 1.0}},
    {"SensorNoise": {"shot_range": [0.01, 0.01], "p": 1.0}},
    {"ImageCompression": {"quality_range": [30, 30], "p": 1.0}},
]


@pytest.fixture(scope="module")
def fitted():
    """Field images: demo test images degraded with known parameters; source: other demo images."""
    field = draw_views(GEOMETRY + TRUTH, generate_split(per_class=16, image_size=32, seed=2).images, seed=7)
    source = generate_split(per_class=16, image_size=32, seed=1).images
    settings, distance = fit_preset(field, source, rounds=2)
    return field, source, settings, distance


def ranged(settings, transform):
    knob = next(k for k in KNOBS if k.transform == transform)
    setting = settings[transform]
    return setting.p, knob.grid[setting.low], knob.grid[setting.high]


def test_fit_recovers_the_parameters_that_degraded_the_field(fitted):
    _, _, settings, _ = fitted
    p, low, high = ranged(settings, "SensorNoise")
    assert p >= 0.75 and 0.003 <= np.sqrt(low * high) <= 0.03, (p, low, high)
    p, low, high = ranged(settings, "ImageCompression")
    assert p >= 0.75 and 20 <= (low + high) / 2 <= 45, (p, low, high)
    p, low, high = ranged(settings, "Exposure")
    assert p >= 0.5 and -1.5 <= (low + high) / 2 <= -0.5, (p, low, high)
    for untouched in ("DefocusBlur", "WhiteBalance"):  # not applied: at most a rare, sampling-noise guess
        assert ranged(settings, untouched)[0] <= 0.25, f"{untouched} was not applied, so it should not be fitted"


def test_fitted_preset_is_closer_to_the_field_than_phone(fitted):
    field, source, settings, distance = fitted
    field_stats = image_statistics(field)
    phone = mean_distance(
        compare(field_stats, image_statistics(draw_views(load_preset("phone")["transforms"], source, 0)))
    )
    clean = mean_distance(compare(field_stats, image_statistics(source)))
    assert distance < phone / 2 and distance < clean / 2, (distance, phone, clean)


def test_fitted_preset_is_a_preset_file_that_trains(fitted, tmp_path):
    _, _, settings, _ = fitted
    path = tmp_path / "fitted.yaml"
    path.write_text(preset_yaml(settings, ["fitted in a test"], "test field"))
    assert path.read_text().startswith("# fitted in a test\n")
    assert yaml.safe_load(path.read_text())["transforms"] == preset_entries(settings)
    transform = build_train_transform(str(path), 32)
    image = np.zeros((40, 40, 3), np.uint8)
    assert transform(image=image)["image"].shape == (32, 32, 3)
