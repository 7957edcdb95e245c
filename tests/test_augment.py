import numpy as np
import pytest

from edgedistill.augment import build_eval_transform, build_train_transform, list_presets, view_seed
from edgedistill.errors import UserError


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def apply(transform, image, seed):
    transform.set_random_seed(seed)
    return transform(image=image)["image"]


def test_shipped_presets_build_strictly():
    assert {"phone", "clean"} <= set(list_presets())
    for name in list_presets():
        assert len(build_train_transform(name, 32).transforms) >= 2


@pytest.mark.parametrize("domain", ["phone", "clean"])
def test_views_keep_shape_dtype_and_replay_under_a_seed(domain, image):
    transform = build_train_transform(domain, 24)
    first = apply(transform, image, view_seed(0, 5, 1))
    assert first.shape == (24, 24, 3) and first.dtype == np.uint8
    apply(transform, image, 123)  # an unrelated view in between must not change the replay
    np.testing.assert_array_equal(first, apply(transform, image, view_seed(0, 5, 1)))


def test_phone_views_differ_between_view_numbers(image):
    transform = build_train_transform("phone", 32)
    views = [apply(transform, image, view_seed(0, 0, v)) for v in range(4)]
    assert all(not np.array_equal(views[0], other) for other in views[1:])


def test_view_seed_depends_on_every_part():
    seeds = {view_seed(0, 0, 0), view_seed(1, 0, 0), view_seed(0, 1, 0), view_seed(0, 0, 1)}
    assert len(seeds) == 4
    assert view_seed(3, 7, 2) == view_seed(3, 7, 2)


def test_eval_transform_resizes_only(image):
    out = build_eval_transform(16)(image=image)["image"]
    assert out.shape == (16, 16, 3)
    np.testing.assert_array_equal(build_eval_transform(32)(image=image)["image"], image)


def test_misspelt_argument_names_file_and_transform(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("transforms:\n  - GaussNoise: {std_rang: [0.1, 0.2]}\n")
    with pytest.raises(UserError, match=r"mine\.yaml.*GaussNoise.*'std_rang' \(did you mean 'std_range'\?\)"):
        build_train_transform(str(preset), 32)


def test_unknown_transform_suggests_the_valid_name(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("transforms:\n  - GausNoise: {p: 0.5}\n")
    with pytest.raises(UserError, match=r"unknown transform 'GausNoise'.*GaussNoise"):
        build_train_transform(str(preset), 32)


def test_unknown_domain_lists_presets():
    with pytest.raises(UserError, match=r"unknown domain 'fone'.*phone"):
        build_train_transform("fone", 32)


def test_preset_without_transforms_list_is_refused(tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("description: nothing here\n")
    with pytest.raises(UserError, match="transforms"):
        build_train_transform(str(preset), 32)
