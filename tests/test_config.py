"""The optimiser settings: their defaults, and runs saved before they existed."""

import pytest
import yaml

from edgedistill.config import TrainConfig, merge_settings
from edgedistill.errors import UserError


def test_each_optimizer_brings_its_own_learning_rate_and_weight_decay():
    default = TrainConfig(out="run")
    assert (default.optimizer, default.lr, default.weight_decay) == ("sgd", 0.2, 5e-4)
    assert (default.teacher_optimizer, default.teacher_lr, default.teacher_weight_decay) == ("adamw", 3e-3, 0.05)
    swapped = TrainConfig(out="run", optimizer="adamw", teacher_optimizer="sgd")
    assert (swapped.lr, swapped.weight_decay, swapped.teacher_lr, swapped.teacher_weight_decay) == (
        3e-3,
        0.05,
        0.2,
        5e-4,
    )
    given = TrainConfig(out="run", optimizer="adamw", lr=1e-3, weight_decay=0.0, teacher_lr=0.1)
    assert (given.lr, given.weight_decay, given.teacher_lr) == (1e-3, 0.0, 0.1)


@pytest.mark.parametrize("name", ["optimizer", "teacher_optimizer"])
def test_an_unknown_optimizer_is_named_with_the_choices(name):
    with pytest.raises(UserError, match=rf"^{name} must be one of \['sgd', 'adamw'\], got 'adam'"):
        TrainConfig(out="run", **{name: "adam"})


def test_a_run_saved_before_the_optimizer_settings_resumes_as_it_trained(tmp_path):
    """Such a run trained the teacher and the students with AdamW, the teacher at --lr unless --teacher-lr was
    given, and its checkpoints hold AdamW's state: SGD must not take it over."""
    TrainConfig(out=str(tmp_path), optimizer="adamw", lr=1e-3, weight_decay=0.02).save(tmp_path)
    settings = yaml.safe_load((tmp_path / "config.yaml").read_text())
    for name in ("optimizer", "teacher_optimizer", "teacher_lr", "teacher_weight_decay"):
        del settings[name]
    settings["teacher_lr"] = None
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    loaded = TrainConfig.load(tmp_path)
    assert (loaded.optimizer, loaded.lr, loaded.weight_decay) == ("adamw", 1e-3, 0.02)
    assert (loaded.teacher_optimizer, loaded.teacher_lr, loaded.teacher_weight_decay) == ("adamw", 1e-3, 0.02)


def test_an_optimizer_given_over_a_config_file_brings_its_own_rates():
    """A saved config holds SGD's rates; --optimizer adamw over it must not train AdamW at SGD's 0.2."""
    flags = {"optimizer": "adamw", "lr": None, "weight_decay": None, "teacher_optimizer": "adamw", "teacher_lr": None}
    saved = {"optimizer": "sgd", "lr": 0.2, "weight_decay": 5e-4, "teacher_optimizer": "adamw", "teacher_lr": 3e-3}
    merged = merge_settings(flags, saved, given={"optimizer"})
    assert (merged["optimizer"], merged["lr"], merged["weight_decay"]) == ("adamw", None, None)
    assert merged["teacher_lr"] == 3e-3  # the teacher's optimiser did not change
    kept = merge_settings({**flags, "lr": 1e-3}, saved, given={"optimizer", "lr"})
    assert (kept["lr"], kept["weight_decay"]) == (1e-3, None)
    same = merge_settings({**flags, "optimizer": "sgd"}, saved, given={"optimizer"})
    assert (same["lr"], same["weight_decay"]) == (0.2, 5e-4)


def test_the_default_learning_rates_follow_the_batch_size():
    """Measured at a batch of 128; SGD's 0.2 at a batch of 16 diverged on some teachers."""
    small = TrainConfig(out="run", batch_size=16, teacher_optimizer="adamw")
    assert (small.lr, small.teacher_lr) == (0.025, pytest.approx(3e-3 / 8**0.5, rel=1e-5))
    assert TrainConfig(out="run", batch_size=512).lr == 0.8
    assert TrainConfig(out="run", batch_size=16, lr=0.3).lr == 0.3  # a rate given is used as given
    assert TrainConfig(out="run", batch_size=16, weight_decay=None).weight_decay == 5e-4  # decay is not scaled


def test_a_batch_size_given_over_a_config_file_brings_its_own_default_learning_rates():
    flags = {"batch_size": 16, "lr": None, "weight_decay": None, "optimizer": "sgd", "teacher_optimizer": "adamw"}
    saved = {"batch_size": 128, "lr": 0.2, "weight_decay": 5e-4, "teacher_lr": 3e-3, "optimizer": "sgd"}
    merged = merge_settings({**flags, "teacher_lr": None}, saved, given={"batch_size"})
    assert (merged["lr"], merged["teacher_lr"], merged["weight_decay"]) == (None, None, 5e-4)
    assert TrainConfig(out="run", **merged).lr == 0.025
    kept = merge_settings({**flags, "lr": 0.1, "teacher_lr": None}, saved, given={"batch_size", "lr"})
    assert kept["lr"] == 0.1
    same = merge_settings({**flags, "batch_size": 128, "teacher_lr": None}, saved, given={"batch_size"})
    assert same["lr"] == 0.2


def test_a_bad_batch_size_is_named_before_any_rate_is_derived_from_it():
    with pytest.raises(UserError, match=r"^batch_size must be"):
        TrainConfig(out="run", batch_size=0)


def test_a_run_saved_before_gradient_clipping_resumes_unclipped(tmp_path):
    TrainConfig(out=str(tmp_path)).save(tmp_path)
    assert TrainConfig.load(tmp_path).clip_grad == 5.0  # the students' default
    settings = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del settings["clip_grad"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(settings))
    assert TrainConfig.load(tmp_path).clip_grad == 0.0
    with pytest.raises(UserError, match=r"^clip_grad must be at least 0.0, got -1"):
        TrainConfig(out="run", clip_grad=-1)
