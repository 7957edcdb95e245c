"""The models a run trains, as data: each named once, for the run, its report, export and the benchmarks.

The students share their initialisation and differ only in what they learn from (the labels or the
teacher) and on which views (the run's domain or clean ones), so each row of a report answers one question.
"""

from dataclasses import dataclass

from edgedistill.config import TrainConfig


@dataclass(frozen=True)
class Stage:
    name: str  # its weights file, RUN/NAME.safetensors, and its key in metrics.json
    label: str  # its row in tables
    clean_views: bool  # trained on the clean preset's views instead of the run's domain
    distilled: bool  # learns from the teacher's answers as well as the labels
    unlabeled: bool = False  # distils on the unlabeled images too

    def domain(self, cfg: TrainConfig) -> str:
        return "clean" if self.clean_views else cfg.domain


TEACHER = Stage("teacher", "teacher", clean_views=False, distilled=False)
ALONE = Stage("student_scratch", "student alone", clean_views=False, distilled=False)
ALONE_CLEAN = Stage("student_scratch_clean", "alone, clean views", clean_views=True, distilled=False)
DISTILLED = Stage("student_kd", "KD, domain views", clean_views=False, distilled=True, unlabeled=True)
DISTILLED_CLEAN = Stage("student_kd_clean", "KD, clean views", clean_views=True, distilled=True, unlabeled=True)
DISTILLED_LABELED_ONLY = Stage("student_kd_labeled_only", "KD, labeled only", clean_views=False, distilled=True)
TABLE_ORDER = (TEACHER, ALONE, ALONE_CLEAN, DISTILLED_CLEAN, DISTILLED_LABELED_ONLY, DISTILLED)


def plan(cfg: TrainConfig, unlabeled: bool = False) -> list[Stage]:
    """The students ``cfg`` trains, in training order, after the teacher (trained in the run or given).

    Always the student alone and distilled on the domain's views (the gap between them is what distillation
    recovers); for a domain other than clean, also distilled on clean views (what the domain's views add) and,
    with ``alone_on_clean``, alone on clean views (the full views x teacher 2x2); when the distillation set holds
    ``unlabeled`` images, also distilled on the labeled ones only (what the unlabeled ones add)."""
    stages = [ALONE, DISTILLED]
    if cfg.domain != "clean" and cfg.alone_on_clean:
        stages.append(ALONE_CLEAN)
    if cfg.domain != "clean":
        stages.append(DISTILLED_CLEAN)
    if unlabeled:
        stages.append(DISTILLED_LABELED_ONLY)
    return stages
