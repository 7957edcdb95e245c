"""The distillation loss (Hinton et al. 2015), returning its parts so they can be logged.

    loss = alpha * KL(softmax(t/T) || softmax(s/T)) * T^2 + (1 - alpha) * CE(s, y)

The T^2 factor keeps the soft-target gradients on the same scale whatever T is. Samples with
label -1 (an unlabeled corpus) contribute the KL term only; the CE term averages over the
labeled samples of the batch.
"""

import torch
import torch.nn.functional as F
from torch import nn

UNLABELED = -1


class DistillationLoss(nn.Module):
    def __init__(self, temperature: float = 4.0, alpha: float = 0.9):
        super().__init__()
        if temperature <= 0 or not 0 <= alpha <= 1:
            raise ValueError(f"need temperature > 0 and 0 <= alpha <= 1, got T={temperature}, alpha={alpha}")
        self.temperature, self.alpha = temperature, alpha

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        t = self.temperature
        teacher_probs = F.softmax(teacher_logits.detach() / t, dim=1)
        student_log_probs = F.log_softmax(student_logits / t, dim=1)
        kd = F.kl_div(student_log_probs, teacher_probs, reduction="batchmean") * t * t
        ce = cross_entropy_labeled(student_logits, labels)
        return {"loss": self.alpha * kd + (1 - self.alpha) * ce, "kd": kd, "ce": ce}


def cross_entropy_labeled(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean CE over the samples that have a label; zero (with a gradient path) when none do."""
    labeled = labels != UNLABELED
    if not labeled.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[labeled], labels[labeled])
