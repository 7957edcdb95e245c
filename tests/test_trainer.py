import dataclasses

import numpy as np
import pytest
import timm
import torch

from edgedistill import demo_data, trainer
from edgedistill.augment import build_train_transform
from edgedistill.data import AugmentedViews
from edgedistill.errors import UserError
from edgedistill.losses import UNLABELED, DistillationLoss
from edgedistill.models import ModelInfo
from edgedistill.trainer import StageSettings, Teacher, fit

SETTINGS = StageSettings(epochs=3, batch_size=10, lr=0.05, weight_decay=5e-4, seed=0, workers=0)


@pytest.fixture(scope="module")
def views():
    split = demo_data.generate_split(per_class=3, image_size=24, seed=0)
    return AugmentedViews(split.images, split.labels, build_train_transform("phone", 24), seed=0)


def fresh_student(drop_rate: float = 0.0):
    torch.manual_seed(0)
    model = timm.create_model("lcnet_050", num_classes=len(demo_data.CLASSES), drop_rate=drop_rate)
    info = ModelInfo("lcnet_050", list(demo_data.CLASSES), 24, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return model, info


@pytest.mark.parametrize("workers,optimizer", [(0, "sgd"), (2, "sgd"), (0, "adamw")])
def test_resume_after_interrupt_gives_the_uninterrupted_weights(views, tmp_path, monkeypatch, workers, optimizer):
    """Bit-exact, with dropout (which draws from torch's global generator), with the persistent DataLoader
    workers, whose start must not draw from it, and with either optimiser's state (momentum, moments)."""
    settings = dataclasses.replace(SETTINGS, workers=workers, optimizer=optimizer)
    straight, info = fresh_student(drop_rate=0.5)
    fit("s", straight, info, views, settings, tmp_path / "straight.pt")

    interrupted, _ = fresh_student(drop_rate=0.5)
    real_epoch = trainer.train_one_epoch

    def stop_in_second_epoch(name, epoch, *args):
        if epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(name, epoch, *args)

    monkeypatch.setattr(trainer, "train_one_epoch", stop_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        fit("s", interrupted, info, views, settings, tmp_path / "resumed.pt")
    monkeypatch.setattr(trainer, "train_one_epoch", real_epoch)

    torch.manual_seed(123)  # a resumed process starts with whatever RNG state it has
    resumed, _ = fresh_student(drop_rate=0.5)
    history = fit("s", resumed, info, views, settings, tmp_path / "resumed.pt")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for (key, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=key)


def test_teacher_stays_frozen_during_distillation(views, tmp_path):
    teacher_model, info = fresh_student()
    before = {k: v.clone() for k, v in teacher_model.state_dict().items()}
    student, _ = fresh_student()
    teacher = Teacher(teacher_model, info, DistillationLoss(4.0, 0.9))
    fit("kd", student, info, views, StageSettings(1, 10, 3e-3, 0.05, 0, 0), tmp_path / "kd.pt", teacher)
    assert not teacher_model.training
    assert all(not p.requires_grad for p in teacher_model.parameters())
    for key, value in teacher_model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("stage,rate", [("student_kd", "lr"), ("teacher", "teacher_lr")])
def test_diverging_loss_stops_with_one_clear_line(views, tmp_path, stage, rate):
    model, info = fresh_student()
    exploding = StageSettings(3, 10, 1e30, 0.0, 0, 0)
    with pytest.raises(UserError, match=rf"loss became nan .* lower {rate} "):
        fit(stage, model, info, views, exploding, tmp_path / "nan.pt")


def test_nan_in_a_resumed_epoch_leaves_the_last_checkpoint_intact(views, tmp_path, monkeypatch):
    model, info = fresh_student()
    path = tmp_path / "run.pt"
    fit("s", model, info, views, StageSettings(1, 10, 3e-3, 0.05, 0, 0), path)
    saved = path.read_bytes()
    monkeypatch.setattr(trainer, "cross_entropy_labeled", lambda logits, labels: logits.sum() * float("nan"))
    with pytest.raises(UserError, match=r"loss became nan at epoch 2, step 1"):
        fit("s", model, info, views, StageSettings(2, 10, 3e-3, 0.05, 0, 0), path)
    assert path.read_bytes() == saved


def test_too_few_images_for_a_batch_is_refused(views, tmp_path):
    model, info = fresh_student()
    with pytest.raises(UserError, match="fewer than one batch"):
        fit("s", model, info, views, StageSettings(1, 1000, 1e-3, 0.0, 0, 0), tmp_path / "x.pt")


def test_damaged_training_checkpoint_is_refused(views, tmp_path):
    model, info = fresh_student()
    path = tmp_path / "bad.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(UserError, match="cannot resume from"):
        fit("s", model, info, views, SETTINGS, path)


def test_epoch_order_mixes_unlabeled_images_at_the_ratio():
    labels = np.array([0, 1, 2, 3] * 5 + [UNLABELED] * 30)  # 20 labeled, 30 unlabeled
    order = trainer.epoch_order(labels, seed=0, epoch=0, unlabeled_ratio=0.5)
    assert len(order) == 30 and len(set(order)) == 30
    assert set(range(20)) <= set(order)  # every labeled image, every epoch
    assert sum(labels[order] == UNLABELED) == 10
    again, later = trainer.epoch_order(labels, 0, 0, 0.5), trainer.epoch_order(labels, 0, 1, 0.5)
    assert again == order and set(later) - set(range(20)) != set(order) - set(range(20))
    assert len(trainer.epoch_order(labels, 0, 0, 5.0)) == 50  # no more unlabeled images than there are
    labeled_only = np.arange(12) % 3
    assert trainer.epoch_order(labeled_only, 3, 2) == np.random.default_rng([3, 2]).permutation(12).tolist()


def test_clipping_bounds_the_step_and_off_leaves_it_alone(views, tmp_path):
    one_step = StageSettings(epochs=1, batch_size=30, lr=1.0, weight_decay=0.0, seed=0, workers=0)
    moved = {}
    for clip in (0.0, 0.01):
        model, info = fresh_student()
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        fit("s", model, info, views, dataclasses.replace(one_step, clip_grad=clip), tmp_path / f"{clip}.pt")
        moved[clip] = float((torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm())
    assert moved[0.01] <= 1.9 * 0.01 * 1.001  # Nesterov's first step: lr x (1 + momentum) x the clipped gradient
    assert moved[0.0] > 10 * moved[0.01]
