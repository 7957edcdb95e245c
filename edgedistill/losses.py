"""Distillation losses on logits, each returning its parts so they can be logged.

Every loss blends a term that matches the teacher with cross-entropy on the true label:

    loss = alpha * distillation(student, teacher; T) + (1 - alpha) * CE(student, y)

- ``kd``: Hinton et al. 2015, KL(softmax(t/T) || softmax(s/T)) * T^2. The T^2 factor keeps the soft-target
  gradients on the same scale whatever T is.
- ``dkd``: decoupled KD (Zhao et al., CVPR 2022). KL splits into a target part (TCKD: the binary
  target-vs-rest probabilities) and a non-target part (NCKD: the distribution among the other classes), and
  KL = TCKD + (1 - p_target) * NCKD: plain KD weights the non-target knowledge by the teacher's own doubt, so
  the more confident the teacher, the less of it reaches the student. DKD weights the two parts apart,
  TCKD + 8 * NCKD (the paper's weights), each * T^2.
- ``dist``: DIST (Huang et al., NeurIPS 2022). Matching probabilities exactly is hard when the teacher is much
  stronger; DIST asks only that they be correlated, per image across classes (inter-class) and per class
  across the batch (intra-class): (1 - mean Pearson) for each, each * T^2, weights 1 and 1.

Samples with label -1 (an unlabeled corpus) contribute the distillation term only; the CE term averages over
the labeled samples of the batch. DKD needs a target class for each sample: on unlabeled ones it is the
teacher's own answer.
"""

import torch
import torch.nn.functional as F
from torch import nn

UNLABELED = -1
DKD_TARGET_WEIGHT, DKD_NON_TARGET_WEIGHT = 1.0, 8.0  # Zhao et al.'s weights (mdistiller's CIFAR-100 setting)
DIST_INTER_WEIGHT, DIST_INTRA_WEIGHT = 1.0, 1.0  # Huang et al.'s defaults


class DistillationLoss(nn.Module):
    """Hinton's KD; the base of the others, which replace ``match``."""

    name = "kd"

    def __init__(self, temperature: float = 4.0, alpha: float = 0.9):
        super().__init__()
        if temperature <= 0 or not 0 <= alpha <= 1:
            raise ValueError(f"need temperature > 0 and 0 <= alpha <= 1, got T={temperature}, alpha={alpha}")
        self.temperature, self.alpha = temperature, alpha

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        parts = self.match(student_logits, teacher_logits.detach(), labels)
        ce = cross_entropy_labeled(student_logits, labels)
        return {"loss": self.alpha * parts["distill"] + (1 - self.alpha) * ce, **parts, "ce": ce}

    def match(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        t = self.temperature
        kd = F.kl_div(F.log_softmax(student / t, dim=1), F.softmax(teacher / t, dim=1), reduction="batchmean")
        return {"distill": kd * t * t}


class DecoupledLoss(DistillationLoss):
    name = "dkd"

    def match(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        target = torch.where(labels == UNLABELED, teacher.argmax(dim=1), labels)
        tckd, nckd = decoupled_kl(student, teacher, target, self.temperature)
        t2 = self.temperature**2
        tckd, nckd = tckd.mean() * t2, nckd.mean() * t2
        return {"distill": DKD_TARGET_WEIGHT * tckd + DKD_NON_TARGET_WEIGHT * nckd, "tckd": tckd, "nckd": nckd}


class CorrelationLoss(DistillationLoss):
    name = "dist"

    def match(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        t = self.temperature
        p_student, p_teacher = F.softmax(student / t, dim=1), F.softmax(teacher / t, dim=1)
        inter = (1 - pearson(p_student, p_teacher).mean()) * t * t
        intra = (1 - pearson(p_student.T, p_teacher.T).mean()) * t * t
        return {"distill": DIST_INTER_WEIGHT * inter + DIST_INTRA_WEIGHT * intra, "inter": inter, "intra": intra}


LOSSES = {loss.name: loss for loss in (DistillationLoss, DecoupledLoss, CorrelationLoss)}


def decoupled_kl(
    student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: TCKD, the KL of the binary (target, rest) probabilities, and NCKD, the KL of the
    distributions over the non-target classes, both at ``temperature`` (without the T^2 factor)."""
    teacher = teacher.clamp_min(torch.finfo(teacher.dtype).min)  # a -inf logit (a masked class) would give 0 * inf
    is_target = F.one_hot(target, student.shape[1]).bool()
    log_s, log_t = F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1)
    binary_s, binary_t = _target_and_rest(log_s, is_target), _target_and_rest(log_t, is_target)
    tckd = (binary_t.exp() * (binary_t - binary_s)).sum(dim=1)
    hidden = torch.finfo(student.dtype).min  # the target class removed: softmax over the others
    others_s = F.log_softmax((student / temperature).masked_fill(is_target, hidden), dim=1)
    others_t = F.log_softmax((teacher / temperature).masked_fill(is_target, hidden), dim=1)
    nckd = (others_t.exp() * (others_t - others_s)).masked_fill(is_target, 0).sum(dim=1)
    return tckd, nckd


def _target_and_rest(log_probs: torch.Tensor, is_target: torch.Tensor) -> torch.Tensor:
    """(N, 2) log-probabilities of the target class and of all the others together."""
    target = log_probs.masked_fill(~is_target, float("-inf")).logsumexp(dim=1)
    rest = log_probs.masked_fill(is_target, float("-inf")).logsumexp(dim=1)
    return torch.stack([target, rest], dim=1)


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b``."""
    a, b = a - a.mean(dim=1, keepdim=True), b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def make_loss(name: str, temperature: float, alpha: float) -> DistillationLoss:
    return LOSSES[name](temperature, alpha)


def cross_entropy_labeled(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean CE over the samples that have a label; zero (with a gradient path) when none do."""
    labeled = labels != UNLABELED
    if not labeled.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[labeled], labels[labeled])
