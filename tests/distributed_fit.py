"""Distil a small BatchNorm-free student with ``trainer.fit``, as one process or under torchrun, and
save its weights and history (rank 0); test_distributed.py compares the two. Without BatchNorm, the
slices of a global batch on N ranks add up to exactly the gradient of the whole batch."""

import sys
from pathlib import Path

import torch
from torch import nn

from edgedistill import demo_data, distributed
from edgedistill.augment import build_train_transform
from edgedistill.data import AugmentedViews
from edgedistill.losses import DistillationLoss
from edgedistill.models import ModelInfo
from edgedistill.trainer import StageSettings, Teacher, fit

SIZE = 16
INFO = ModelInfo("tiny", list(demo_data.CLASSES), SIZE, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))


def tiny_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, len(demo_data.CLASSES)),
    )  # fmt: skip


def main(out: Path) -> None:
    distributed.init_from_env()
    torch.set_num_threads(1)
    split = demo_data.generate_split(per_class=4, image_size=SIZE, seed=0)
    views = AugmentedViews(split.images, split.labels, build_train_transform("phone", SIZE), seed=0)
    teacher = Teacher(tiny_model(1).eval(), INFO, DistillationLoss(4.0, 0.9))
    student = tiny_model(0)
    settings = StageSettings(epochs=2, batch_size=8, lr=3e-3, weight_decay=0.05, seed=0, workers=0, optimizer="adamw")
    history = fit("student", student, INFO, views, settings, out / "checkpoint.pt", teacher)
    if distributed.is_main():
        torch.save({"state": student.state_dict(), "history": history}, out / "result.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
