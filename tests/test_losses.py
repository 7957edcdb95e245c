import math

import pytest
import torch
import torch.nn.functional as F

from edgedistill.losses import (
    LOSSES,
    UNLABELED,
    CorrelationLoss,
    DecoupledLoss,
    DistillationLoss,
    decoupled_kl,
)


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
    assert kl_only["loss"].item() == pytest.approx(kl_only["distill"].item(), rel=1e-6)


def test_temperature_squared_factor(logits):
    student, teacher, labels = logits
    for temperature in (1.0, 2.0, 8.0):
        raw_kl = F.kl_div(
            F.log_softmax(student / temperature, 1), F.softmax(teacher / temperature, 1), reduction="batchmean"
        )
        kd = DistillationLoss(temperature, 1.0)(student, teacher, labels)["distill"]
        assert kd.item() == pytest.approx(raw_kl.item() * temperature**2, rel=1e-6)


def test_identical_logits_have_zero_kl(logits):
    student, _, labels = logits
    same = DistillationLoss(4.0, 1.0)(student, student.clone(), labels)["distill"]
    assert same.item() == pytest.approx(0.0, abs=1e-6)


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
    assert parts["distill"].item() == pytest.approx(loss(student, teacher, labels)["distill"].item(), rel=1e-6)
    assert parts["ce"].item() == pytest.approx(F.cross_entropy(student[:3], labels[:3]).item(), rel=1e-6)
    none_labeled = loss(student.clone().requires_grad_(True), teacher, torch.full_like(labels, UNLABELED))
    assert none_labeled["ce"].item() == 0.0
    assert none_labeled["loss"].item() == pytest.approx(0.7 * parts["distill"].item(), rel=1e-6)


def test_rejects_invalid_settings():
    with pytest.raises(ValueError, match="temperature"):
        DistillationLoss(0.0, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        DistillationLoss(2.0, 1.5)


def probability_logits(*rows: list[float]) -> torch.Tensor:
    """Logits whose softmax at T = 1 is each row: hand-computed cases stay in plain fractions."""
    return torch.tensor(rows).log()


def test_dkd_by_hand():
    """Teacher (1/2, 1/4, 1/4), student (1/4, 1/2, 1/4), target class 0, T = 1:
    TCKD = KL((1/2, 1/2) || (1/4, 3/4)) = ln(4/3) / 2; NCKD = KL((1/2, 1/2) || (2/3, 1/3)) = ln(9/8) / 2."""
    teacher, student = probability_logits([0.5, 0.25, 0.25]), probability_logits([0.25, 0.5, 0.25])
    parts = DecoupledLoss(1.0, 1.0)(student, teacher, torch.tensor([0]))
    assert parts["tckd"].item() == pytest.approx(math.log(4 / 3) / 2, rel=1e-5)
    assert parts["nckd"].item() == pytest.approx(math.log(9 / 8) / 2, rel=1e-5)
    assert parts["distill"].item() == pytest.approx(math.log(4 / 3) / 2 + 8 * math.log(9 / 8) / 2, rel=1e-5)
    assert parts["loss"].item() == pytest.approx(parts["distill"].item(), rel=1e-6)  # alpha 1: no CE


def test_dist_by_hand():
    """Two images, three classes, T = 1. Per image (inter-class) the student's probabilities correlate with the
    teacher's at -1/2 both times: 1 - (-1/2) = 3/2. Per class across the batch (intra-class) the correlations
    are -1, 0 and 0 (the teacher is constant on class 1, the student on class 2): 1 - (-1/3) = 4/3."""
    teacher = probability_logits([0.5, 0.25, 0.25], [0.25, 0.25, 0.5])
    student = probability_logits([0.25, 0.5, 0.25], [0.5, 0.25, 0.25])
    parts = CorrelationLoss(1.0, 1.0)(student, teacher, torch.tensor([0, 2]))
    assert parts["inter"].item() == pytest.approx(1.5, rel=1e-5)
    assert parts["intra"].item() == pytest.approx(4 / 3, rel=1e-5)
    assert parts["distill"].item() == pytest.approx(1.5 + 4 / 3, rel=1e-5)


def test_kd_by_hand():
    """KL((1/2, 1/4, 1/4) || (1/4, 1/2, 1/4)) = ln(2) / 4 at T = 1."""
    teacher, student = probability_logits([0.5, 0.25, 0.25]), probability_logits([0.25, 0.5, 0.25])
    assert DistillationLoss(1.0, 1.0)(student, teacher, torch.tensor([0]))["distill"].item() == pytest.approx(
        math.log(2) / 4, rel=1e-5
    )


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kd_is_tckd_plus_nckd_weighted_by_the_teachers_doubt(logits, temperature):
    """The decomposition DKD starts from (Zhao et al., eq. 7): KL = TCKD + (1 - p_target) * NCKD, per sample."""
    student, teacher, labels = logits
    tckd, nckd = decoupled_kl(student, teacher, labels, temperature)
    kl = (F.softmax(teacher / temperature, 1) * (F.log_softmax(teacher / temperature, 1) - F.log_softmax(
        student / temperature, 1))).sum(1)  # fmt: skip
    doubt = 1 - F.softmax(teacher / temperature, 1).gather(1, labels[:, None])[:, 0]
    torch.testing.assert_close(tckd + doubt * nckd, kl, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_is_zero_on_the_teachers_own_logits_and_trains_the_student_only(logits, name):
    student, teacher, labels = logits
    loss = LOSSES[name](4.0, 1.0)
    assert loss(teacher.clone(), teacher, labels)["distill"].item() == pytest.approx(0.0, abs=1e-4)
    student, teacher = student.clone().requires_grad_(True), teacher.clone().requires_grad_(True)
    loss(student, teacher, labels)["loss"].backward()
    assert student.grad.abs().sum() > 0 and teacher.grad is None


def test_dkd_stays_finite_when_the_teacher_masks_a_class(logits):
    student, teacher, labels = logits
    masked = teacher.clone()
    masked[:, 1] = float("-inf")  # a class the teacher rules out
    parts = DecoupledLoss(4.0, 0.9)(student, masked, labels)
    assert torch.isfinite(parts["loss"]) and torch.isfinite(parts["nckd"])


def test_dkd_takes_the_teachers_answer_as_the_target_of_an_unlabeled_image(logits):
    student, teacher, labels = logits
    unlabeled = torch.full_like(labels, UNLABELED)
    loss = DecoupledLoss(4.0, 1.0)
    as_labeled = loss(student, teacher, teacher.argmax(1))
    assert loss(student, teacher, unlabeled)["distill"].item() == pytest.approx(as_labeled["distill"].item())
