"""Accuracy and agreement of models on in-memory image splits."""

import numpy as np
import torch
from torch import nn

from edgedistill.data import to_model_input
from edgedistill.models import model_device


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, mean: tuple, std: tuple, batch_size: int = 256
) -> torch.Tensor:
    """fp32 logits on the CPU for (N, H, W, 3) uint8 images, in eval mode, computed on the model's device."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2).to(device)
        outputs.append(model(to_model_input(batch, mean, std)).float().cpu())
    model.train(was_training)
    return torch.cat(outputs)


def accuracy(logits: torch.Tensor, labels: np.ndarray) -> float:
    return float((logits.argmax(1).numpy() == labels).mean())


def agreement(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Share of inputs on which two models give the same top-1 class."""
    return float((logits_a.argmax(1) == logits_b.argmax(1)).float().mean())


def accuracy_by_group(
    logits: torch.Tensor, labels: np.ndarray, groups: np.ndarray, names: list[str]
) -> dict[str, float]:
    correct = logits.argmax(1).numpy() == labels
    return {name: float(correct[groups == g].mean()) for g, name in enumerate(names) if (groups == g).any()}
