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


def test_diverged_candidates_are_never_chosen_and_all_diverged_is_one_clear_error():
    rows = [
        {"loss": "kd", "temperature": 4, "val_field_acc": 0.3},
        {"loss": "dkd", "temperature": 4, "val_field_acc": None, "diverged": "sweep/dkd: loss became nan"},
    ]
    assert choose(rows)["loss"] == "kd"
    with pytest.raises(
        UserError, match="every candidate of the distillation sweep diverged, the first with: sweep/dkd"
    ):
        choose(rows[1:])


def test_a_candidate_that_diverges_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """One loss too hot for the data (its loss made nan here) must not end a run whose other candidates train."""
    import torch
    from torch import nn

    import edgedistill
    from edgedistill.losses import CorrelationLoss

    monkeypatch.setattr(CorrelationLoss, "match", lambda self, s, t, labels: {"distill": s.sum() * float("nan")})
    rng = np.random.default_rng(0)
    images = edgedistill.Images(
        (rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), np.arange(40) % 2),
        (rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), np.arange(8) % 2),
        ["a", "b"],
    )
    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
    result = edgedistill.distill(
        teacher, images, "timm:lcnet_050", out=tmp_path / "run", loss="auto", epochs=1, sweep_epochs=1,
        batch_size=8, workers=0, image_size=32,
    )  # fmt: skip
    sweep = result.metrics["distillation"]["sweep"]
    diverged = {row["loss"]: row.get("diverged") for row in sweep["rows"]}
    assert diverged["kd"] is None and diverged["dkd"] is None
    assert "sweep/dist-T4-alpha0.9: loss became nan" in diverged["dist"]
    assert sweep["chosen"]["loss"] in ("kd", "dkd") and result.metrics["distillation"]["loss"] != "dist"
    assert "| dist | 4 | 0.9 | diverged |" in (tmp_path / "run" / "report.md").read_text()
    marker = tmp_path / "run" / "sweep" / "dist-T4-alpha0.9.diverged"
    assert marker.read_text() == diverged["dist"] and "lower" not in marker.read_text()  # the fact, not the advice

    monkeypatch.undo()  # the loss is sound again, yet a resumed run keeps the recorded verdict
    resumed = edgedistill.distill(teacher, images, "timm:lcnet_050", out=tmp_path / "run", resume=True)
    assert resumed.metrics["distillation"]["sweep"] == sweep
