"""Check an exported artifact against the PyTorch student it came from, on the golden set, with
the runtime that will run it on the phone; the tolerances are the contract of a good bundle."""

from dataclasses import asdict, dataclass, field

import numpy as np

# fp32's logit bound is max_abs_logit_diff + max_rel_logit_diff x the student's largest |logit| on the golden set:
# fp32 keeps about seven digits, so a student whose logits reach 1e5 (a barely trained one, its BatchNorm statistics
# unsettled) differs by about 0.1 in a faithful export, where a trained one differs by 1e-5
TOLERANCES = {
    "fp32": {"min_top1_agreement": 1.0, "max_abs_logit_diff": 1e-3, "max_rel_logit_diff": 1e-5},
    "fp16": {"min_top1_agreement": 0.99, "max_field_acc_drop": 0.005},
    "int8": {"min_top1_agreement": 0.98, "max_field_acc_drop": 0.01},
}


@dataclass
class Verdict:
    format: str
    precision: str
    file: str
    checked_with: str  # the runtime, or "spec" where the format cannot run on this machine
    size_bytes: int = 0
    export_seconds: float | None = None  # conversion, quantization and fine-tuning included
    top1_agreement_student: float | None = None
    top1_agreement_teacher: float | None = None
    max_abs_logit_diff: float | None = None
    field_acc: float | None = None
    student_field_acc: float | None = None
    # the fp32 student's top-1 minus top-2 logit, median over the inputs whose top-1 the artifact changed
    # and over all golden inputs: flips only on near-ties mean a low-confidence student, not a broken layer
    flipped_margin_median: float | None = None
    golden_margin_median: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def score_outputs(verdict: Verdict, logits: np.ndarray, golden) -> Verdict:
    """Fill in the agreement figures of ``logits`` (the artifact's outputs on the golden inputs) and
    record every tolerance of the precision that they break."""
    reference = golden.student_logits
    answers, reference_answers = logits.argmax(1), reference.argmax(1)
    flipped = answers != reference_answers
    verdict.top1_agreement_student = float(1 - flipped.mean())
    ranked = np.sort(reference, axis=1)
    margins = ranked[:, -1] - ranked[:, -2]
    verdict.golden_margin_median = float(np.median(margins))
    if flipped.any():
        verdict.flipped_margin_median = float(np.median(margins[flipped]))
    if golden.teacher_logits is not None:
        verdict.top1_agreement_teacher = float((answers == golden.teacher_logits.argmax(1)).mean())
    verdict.max_abs_logit_diff = float(np.abs(logits - reference).max())
    verdict.field_acc = float((answers == golden.labels).mean())
    verdict.student_field_acc = float((reference_answers == golden.labels).mean())
    limits = TOLERANCES[verdict.precision]
    if verdict.top1_agreement_student < limits["min_top1_agreement"]:
        verdict.problems.append(
            f"top-1 agrees with the fp32 student on {verdict.top1_agreement_student:.1%} of golden inputs, "
            f"needs {limits['min_top1_agreement']:.0%} (fp32 top-2 margin of the changed inputs "
            f"{verdict.flipped_margin_median:.3g} logits, of all golden inputs {verdict.golden_margin_median:.3g}: "
            f"median)"
        )
    if "max_abs_logit_diff" in limits:
        scale = float(np.abs(reference).max())
        bound = limits["max_abs_logit_diff"] + limits["max_rel_logit_diff"] * scale
        if verdict.max_abs_logit_diff > bound:
            verdict.problems.append(
                f"max |logit difference| {verdict.max_abs_logit_diff:.2e} > {bound:.2e} "
                f"({limits['max_abs_logit_diff']:.0e} + {limits['max_rel_logit_diff']:.0e} x the student's largest "
                f"|logit|, {scale:.3g})"
            )
    drop = verdict.student_field_acc - verdict.field_acc
    if "max_field_acc_drop" in limits and drop > limits["max_field_acc_drop"]:
        verdict.problems.append(f"field accuracy drops {drop:.1%}, at most {limits['max_field_acc_drop']:.1%} allowed")
    return verdict
