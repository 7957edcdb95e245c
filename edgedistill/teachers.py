"""Teachers trained elsewhere, loaded for what a teacher does here: run forward on the training views.

A ``--teacher`` path is one of: a checkpoint of ``edgedistill train`` (.safetensors with its metadata), a
Hugging Face image classifier saved to a folder (``save_pretrained``: config.json beside the weights, and the
image processor's preprocessor_config.json), a ``torch.export`` program (.pt2), an ONNX model (.onnx, run by
onnxruntime), or a TorchScript file (``torch.jit.save``, which torch now deprecates in favour of torch.export).
Each brings or is given its preprocessing (mean and std on 0..1 pixels) and answers with logits over the data's
classes, checked first.
"""

import json
from pathlib import Path

import torch
from torch import nn

from edgedistill.config import TORCHVISION_TEACHER
from edgedistill.errors import UserError, setting
from edgedistill.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ExportedModule,
    ModelInfo,
    given_info,
    load_checkpoint,
    load_program,
    load_weights,
)


class LogitsOf(nn.Module):
    """A Hugging Face classifier as a module of images to logits (it returns an output object)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=images).logits


def load_teacher_path(
    path: Path, classes: list[str], image_size: int, mean: list[float] | None, std: list[float] | None
) -> tuple[nn.Module, ModelInfo]:
    """The teacher at ``path`` and its ModelInfo; ``mean`` and ``std`` override what the teacher brings."""
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(
                f"teacher folder {path} has no config.json; give a Hugging Face classifier saved with "
                "save_pretrained(), a TorchScript file or an edgedistill checkpoint"
            )
        return _hugging_face(path, classes, image_size, mean, std)
    if path.suffix == ".safetensors":
        return load_checkpoint(path)
    if path.suffix == ".pt2":
        return _exported_program(path, classes, image_size, mean, std)
    if path.suffix == ".onnx":
        return _onnx(path, classes, image_size, mean, std)
    try:
        model = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError) as error:
        raise UserError(
            f"teacher {path} is not a TorchScript model ({str(error).splitlines()[0][:120]}); for plain weights of a "
            f"timm architecture set {setting('teacher', 'timm:NAME')} with {setting('teacher_weights', 'FILE')}"
        ) from None
    name = getattr(model, "original_name", type(model).__name__)
    return model, given_info(name, classes, image_size, mean, std)


def parse_torchvision_spec(spec: str) -> str:
    """``torchvision:NAME`` -> NAME, refused with the list's place when torchvision has no such model."""
    import torchvision

    name = spec.removeprefix(TORCHVISION_TEACHER)
    if name not in torchvision.models.list_models(torchvision.models):
        raise UserError(f"'{spec}' is not a torchvision classification model; see torchvision.models.list_models()")
    return name


def load_torchvision_teacher(
    spec: str, weights: Path, classes: list[str], image_size: int, mean: list[float] | None, std: list[float] | None
) -> tuple[nn.Module, ModelInfo]:
    """A torchvision architecture with the user's weights for ``classes`` (its head fine-tuned elsewhere)."""
    import torchvision

    name = parse_torchvision_spec(spec)
    model = torchvision.models.get_model(name, weights=None, num_classes=len(classes))
    try:
        model.load_state_dict(load_weights(weights))
    except RuntimeError as error:
        raise UserError(
            f"{weights}: weights do not fit {spec} with {len(classes)} classes ({str(error).splitlines()[0]}); "
            "check the architecture and the data's classes"
        ) from None
    info = given_info(spec, classes, image_size, mean, std)
    return model, info


def _exported_program(
    path: Path, classes: list[str], image_size: int, mean: list[float] | None, std: list[float] | None
) -> tuple[nn.Module, ModelInfo]:
    """A ``torch.export.save`` file (torch's successor to TorchScript). Exported in eval mode, with a dynamic
    batch dimension: the run feeds batches of every size."""
    program = load_program(path)
    info = given_info(path.stem, classes, image_size, mean, std)
    return ExportedModule(program.module()), info


def _onnx(
    path: Path, classes: list[str], image_size: int, mean: list[float] | None, std: list[float] | None
) -> tuple[nn.Module, ModelInfo]:
    """An ONNX file carries no normalisation or class names: they come from the settings and the data."""
    try:
        from edgedistill.onnx_model import OnnxModule
    except ImportError:
        raise UserError("an ONNX teacher needs onnxruntime: pip install 'edgedistill[onnx]'") from None
    info = given_info(path.stem, classes, image_size, mean, std)
    return OnnxModule(path, image_size), info


def _hugging_face(
    folder: Path, classes: list[str], image_size: int, mean: list[float] | None, std: list[float] | None
) -> tuple[nn.Module, ModelInfo]:
    """A transformers image classifier: its labels must be the data's classes, in the same order."""
    try:
        from transformers import AutoModelForImageClassification
    except ImportError:
        raise UserError(
            "a Hugging Face teacher needs transformers: pip install transformers (it comes with [tflite])"
        ) from None
    try:
        model = AutoModelForImageClassification.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise UserError(f"cannot load the Hugging Face classifier in {folder} ({str(error).splitlines()[0]})") from None
    labels = [model.config.id2label[i] for i in range(len(model.config.id2label))]
    if labels != classes:
        raise UserError(
            f"teacher {folder} predicts {labels[:5]}... ({len(labels)} labels in config.json) but the data's classes "
            f"are {classes[:5]}... ({len(classes)}); the labels must be the class folder names, in the same order"
        )
    processor = folder / "preprocessor_config.json"
    brought = json.loads(processor.read_text()) if processor.is_file() else {}
    mean = mean or brought.get("image_mean", IMAGENET_MEAN)
    std = std or brought.get("image_std", IMAGENET_STD)
    arch = model.config.architectures[0] if model.config.architectures else type(model).__name__
    return LogitsOf(model.eval()), ModelInfo(arch, classes, image_size, tuple(mean), tuple(std))
