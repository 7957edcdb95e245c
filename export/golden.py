"""The golden set every artifact is checked on, here and on the device: field test images with
the answers of the teacher and of the fp32 student; and the field-domain training views that int8
is calibrated and fine-tuned on."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgedistill.augment import build_train_transform
from edgedistill.data import AugmentedViews, load_data, to_model_input
from edgedistill.export.source import ExportSource
from edgedistill.field import build_field_split
from edgedistill.fileio import write_atomic


@dataclass
class Golden:
    inputs: np.ndarray  # (N, 3, H, W) float32, normalised: exactly what the model takes
    labels: np.ndarray
    corruption: np.ndarray  # index into corruption_names
    severity: np.ndarray
    corruption_names: tuple[str, ...]
    student_logits: np.ndarray  # the fp32 PyTorch student, the reference of every artifact
    teacher_logits: np.ndarray | None


def build_golden(source: ExportSource, count: int, seed: int = 0) -> Golden:
    """``count`` images of the field test split (the run's data through imagecorruptions), drawn at
    random but the same for every artifact and every export of the run."""
    data = load_data(source.data, source.info.image_size)
    field = build_field_split(data.test)
    picks = np.sort(
        np.random.default_rng(seed).choice(len(field.labels), size=min(count, len(field.labels)), replace=False)
    )
    images = torch.from_numpy(field.images[picks]).permute(0, 3, 1, 2)
    inputs = to_model_input(images, source.info.mean, source.info.std).contiguous()  # NCHW in memory too
    with torch.no_grad():
        student = source.student(inputs).numpy()
        teacher = None
        if source.teacher is not None:
            teacher = source.teacher(to_model_input(images, source.teacher_info.mean, source.teacher_info.std)).numpy()
    return Golden(
        inputs.numpy(),
        field.labels[picks],
        field.corruption[picks],
        field.severity[picks],
        field.names,
        student,
        teacher,
    )


def calibration_batches(source: ExportSource, count: int, seed: int = 0) -> list[torch.Tensor]:
    """``count`` training images through the run's domain preset: int8 ranges set on the kind of
    pictures the model will be given, noise and exposure errors included."""
    views = domain_views(source, seed)
    return [_model_input(views.render(int(index), 0)[None], source) for index in _draw(views, count, seed)]


def fine_tuning_batches(
    source: ExportSource, count: int, batch_size: int, seed: int = 0
) -> Callable[[int], Iterator[torch.Tensor]]:
    """Batches of field-domain training views for quantization-aware fine-tuning: epoch e gives view e + 1
    (view 0 calibrated) of the same ``count`` training images, in an order of its own."""
    views = domain_views(source, seed)
    picks = _draw(views, count, seed)
    size = min(batch_size, len(picks))  # a small training split still gets a batch per epoch

    def epoch_batches(epoch: int) -> Iterator[torch.Tensor]:
        order = np.random.default_rng([seed, epoch]).permutation(picks)
        for start in range(0, len(order) - size + 1, size):
            images = torch.stack([views.render(int(index), epoch + 1) for index in order[start : start + size]])
            yield _model_input(images, source)

    return epoch_batches


def domain_views(source: ExportSource, seed: int) -> AugmentedViews:
    data = load_data(source.data, source.info.image_size)
    transform = build_train_transform(source.domain, source.info.image_size)
    return AugmentedViews(data.train.images, data.train.labels, transform, seed)


def _draw(views: AugmentedViews, count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(len(views), size=min(count, len(views)), replace=False)


def _model_input(images: torch.Tensor, source: ExportSource) -> torch.Tensor:
    return to_model_input(images, source.info.mean, source.info.std).contiguous()


def save_golden(path: Path, golden: Golden) -> None:
    arrays = {
        "inputs": golden.inputs,
        "labels": golden.labels,
        "corruption": golden.corruption,
        "severity": golden.severity,
        "corruption_names": np.array(golden.corruption_names),
        "student_logits": golden.student_logits,
    }
    if golden.teacher_logits is not None:
        arrays["teacher_logits"] = golden.teacher_logits
    write_atomic(path, lambda tmp: np.savez_compressed(tmp.open("wb"), **arrays))
