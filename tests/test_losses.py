import math

import pytest
import torch
import torch.nn.functional as F

from edgedistill.losses import UNLABELED, DistillationLoss


def direct_kd(student, teacher, labels, temperature, alpha):
    """The loss written out by hand, sample by sample, for labeled data."""
    total = 0.0
    for s, t, y in zip(student.tolist(), teacher.tolist(), labels.tolist(), strict=True):
        p = [math.exp(v / temperature) for v in t]
        p = [v / sum(p) for v in p]
        log_q = [v / temperature - math.log(sum(math.exp(w / temperature) for w in s)) for v in s]
        kl = sum(pi * (math.log(pi) - lq) for pi, lq in zip(p, log_q, strict=True))
        ce = -(s[y] - math.log(sum(math.exp(w) for w in s)))
        total += alpha * kl * temperature**2 + (1 - alpha) * ce
    return total / len(labels)


@pytest.fixture
def logits():
    torch.manual_seed(0)
    return torch.randn(6, 5) * 3, torch.randn(6, 5) * 3, torch.tensor([0, 1, 2, 3, 4, 0])


@pytest.mark.parametrize("temperature,alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 0.3)])
def test_matches_direct_computation(logits, temperature, alpha):
    student, teacher, labels = logits
    parts = DistillationLoss(temperature, alpha)(student, teacher, labels)
    assert parts["loss"].item() == pytest.approx(direct_kd(student, teacher, labels, temperature, alpha), rel=1e-5)


def test_alpha_limits(logits):
    student, teacher, labels = logits
    assert DistillationLoss(4.0, 0.0)(student, teacher, labels)["loss"].item() == pytest.approx(
        F.cross_entropy(student, labels).item(), rel=1e-6
    )
    kl_only = DistillationLoss(4.0, 1.0)(student, teacher, labels)
    assert kl_only["loss"].item() == pytest.approx(kl_only["kd"].item(), rel=1e-6)


def test_temperature_squared_factor(logits):
    student, teacher, labels = logits
    for temperature in (1.0, 2.0, 8.0):
        raw_kl = F.kl_div(
            F.log_softmax(student / temperature, 1), F.softmax(teacher / temperature, 1), reduction="batchmean"
        )
        kd = DistillationLoss(temperature, 1.0)(student, teacher, labels)["kd"]
        assert kd.item() == pytest.approx(raw_kl.item() * temperature**2, rel=1e-6)


def test_identical_logits_have_zero_kl(logits):
    student, _, labels = logits
    assert DistillationLoss(4.0, 1.0)(student, student.clone(), labels)["kd"].item() == pytest.approx(0.0, abs=1e-6)


def test_no_gradient_reaches_the_teacher(logits):
    student, teacher, labels = logits
    student = student.clone().requires_grad_(True)
    teacher = teacher.clone().requires_grad_(True)
    DistillationLoss(4.0, 0.9)(student, teacher, labels)["loss"].backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_unlabeled_samples_get_kl_only(logits):
    student, teacher, labels = logits
    loss = DistillationLoss(4.0, 0.7)
    mixed = labels.clone()
    mixed[3:] = UNLABELED
    parts = loss(student, teacher, mixed)
    assert parts["kd"].item() == pytest.approx(loss(student, teacher, labels)["kd"].item(), rel=1e-6)
    assert parts["ce"].item() == pytest.approx(F.cross_entropy(student[:3], labels[:3]).item(), rel=1e-6)
    none_labeled = loss(student.clone().requires_grad_(True), teacher, torch.full_like(labels, UNLABELED))
    assert none_labeled["ce"].item() == 0.0
    assert none_labeled["loss"].item() == pytest.approx(0.7 * parts["kd"].item(), rel=1e-6)


def test_rejects_invalid_settings():
    with pytest.raises(ValueError, match="temperature"):
        DistillationLoss(0.0, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        DistillationLoss(2.0, 1.5)
