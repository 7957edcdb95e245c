"""The loss/temperature/alpha sweep's pieces: its settings, its grid, its validation views and its choice."""

import numpy as np
import pytest

from edgedistill import demo_data
from edgedistill.augment import build_train_transform
from edgedistill.data import AugmentedViews, DataBundle, ImageSet
from edgedistill.errors import UserError
from edgedistill.tuning import VALIDATION_VIEW, candidates, choose, parse_setting, sweep_data


def test_settings_and_grid():
    assert parse_setting("auto", "temperature") == "auto"
    assert parse_setting("2.5", "temperature") == 2.5
    with pytest.raises(UserError, match="temperature must be a number or 'auto', got 'hot'"):
        parse_setting("hot", "temperature")
    assert candidates("auto", 0.9) == [("kd", 1.0, 0.9), ("kd", 2.0, 0.9), ("kd", 4.0, 0.9), ("kd", 8.0, 0.9)]
    assert candidates(4.0, "auto", "dkd") == [("dkd", 4.0, 0.5), ("dkd", 4.0, 0.7), ("dkd", 4.0, 0.9)]
    assert candidates(4.0, 0.9, "auto") == [("kd", 4.0, 0.9), ("dkd", 4.0, 0.9), ("dist", 4.0, 0.9)]


def test_ties_go_to_the_earlier_candidate():
    rows = [{"temperature": t, "val_field_acc": acc} for t, acc in ((1, 0.4), (2, 0.6), (4, 0.6), (8, 0.5))]
    assert choose(rows)["temperature"] == 2


def make_data(with_val: bool) -> DataBundle:
    split = demo_data.generate_split(per_class=3, image_size=16, seed=0)
    images = ImageSet(split.images, split.labels)
    return DataBundle(list(demo_data.CLASSES), images, images, images if with_val else None, "demo")


def test_without_a_val_split_a_tenth_of_train_is_held_out_and_shown_as_field_views():
    data = make_data(with_val=False)
    views = AugmentedViews(data.train.images, data.train.labels, build_train_transform("phone", 16), seed=0)
    sweep = sweep_data(data, views, seed=0)
    assert len(sweep.validation.labels) == 3 and len(sweep.train.labels) == 27 and not sweep.train_is_full
    held = {image.tobytes() for image in data.train.images} - {image.tobytes() for image in sweep.train.images}
    assert len(held) == 3  # disjoint from what the sweep trains on
    again = sweep_data(data, views, seed=0)
    assert np.array_equal(sweep.validation.images, again.validation.images)  # the same views every time
    originals = [image for image in data.train.images if image.tobytes() in held]
    assert not any(np.array_equal(view, original) for view in sweep.validation.images for original in originals)
    first = views.render(0, 0).permute(1, 2, 0).numpy()
    assert not np.array_equal(views.render(0, VALIDATION_VIEW).permute(1, 2, 0).numpy(), first)


def test_with_a_val_split_the_sweep_trains_on_all_of_train():
    data = make_data(with_val=True)
    views = AugmentedViews(data.train.images, data.train.labels, build_train_transform("phone", 16), seed=0)
    sweep = sweep_data(data, views, seed=0)
    assert sweep.train is data.train and sweep.train_is_full and sweep.source == "the val split"
    assert np.array_equal(sweep.validation.labels, data.val.labels)
