"""What is exported: the distilled student of a run (with its teacher, data and domain), or a
checkpoint trained elsewhere."""

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from edgedistill.config import TrainConfig, check_setting
from edgedistill.devices.harness import sha256_of
from edgedistill.errors import UserError, setting
from edgedistill.models import ModelInfo, load_checkpoint, load_state_dict_checkpoint, parse_timm_spec
from edgedistill.stages import DISTILLED, TEACHER

RUN_STUDENT = f"{DISTILLED.name}.safetensors"
RUN_TEACHER = f"{TEACHER.name}.safetensors"


@dataclass
class ExportSource:
    student: nn.Module
    info: ModelInfo
    teacher: nn.Module | None
    teacher_info: ModelInfo | None
    data: str  # where the golden field images and the calibration views come from
    domain: str  # preset of the calibration views
    origin: dict  # run directory or checkpoint, and the student file's sha256, for the manifest
    default_out: Path


def load_source(
    path: Path, student: str | None, data: str | None, image_size: int | None, stem: str = "standard"
) -> ExportSource:
    """A run directory (its distilled student), an edgedistill checkpoint, or plain weights with --student (and
    the ``image_size`` and ``stem`` they were trained with)."""
    check_setting("stem", stem)
    if stem != "standard" and student is None:
        raise UserError(
            f"{setting('stem', stem)} is for plain weights (with {setting('student')}); {path} records its models' "
            "stems in their metadata"
        )
    if path.is_dir():
        return _from_run(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; give a run directory from `edgedistill train` or a checkpoint file")
    if student is None:
        model, info = load_checkpoint(path)
    else:
        from edgedistill.data import load_data

        size = image_size or TrainConfig.image_size
        classes = load_data(data or "demo", size).classes
        model, info = load_state_dict_checkpoint(path, parse_timm_spec(student), classes, size, stem)
    origin = {"checkpoint": str(path.resolve()), "sha256": sha256_of(path)}  # absolute: bench runs from anywhere
    out = path.with_name(f"{path.stem}-export")
    return ExportSource(model.eval(), info, None, None, data or "demo", "phone", origin, out)


def _from_run(run_dir: Path) -> ExportSource:
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.yaml); give the folder `edgedistill train` wrote")
    student_path = run_dir / RUN_STUDENT
    if not student_path.is_file():
        raise UserError(
            f"{run_dir} has no distilled student ({RUN_STUDENT}); finish the run with "
            f"`edgedistill train --resume --out {run_dir}`, or export a checkpoint file instead"
        )
    cfg = TrainConfig.load(run_dir)
    student, info = load_checkpoint(student_path)
    teacher, teacher_info = (
        load_checkpoint(run_dir / RUN_TEACHER) if (run_dir / RUN_TEACHER).is_file() else (None, None)
    )
    origin = {"run": str(run_dir.resolve()), "student": RUN_STUDENT, "sha256": sha256_of(student_path)}
    teacher = teacher.eval() if teacher is not None else None
    return ExportSource(student.eval(), info, teacher, teacher_info, cfg.data, cfg.domain, origin, run_dir / "export")
