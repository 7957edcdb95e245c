"""The run configuration: one flat dataclass, saved as ``config.yaml`` in the run directory."""

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from edgedistill.errors import UserError
from edgedistill.fileio import write_text_atomic

DEFAULT_TEACHER = "timm:resnet18"
DEFAULT_STUDENT = "timm:regnetx_002"


@dataclass
class TrainConfig:
    out: str
    domain: str = "phone"
    data: str = "demo"
    teacher: str | None = None  # timm:NAME (trained in the run), a checkpoint path, or None for DEFAULT_TEACHER
    student: str = DEFAULT_STUDENT
    pretrained: bool = False  # start timm models from hub weights (downloads once)
    epochs: int = 20
    teacher_epochs: int = 30
    image_size: int = 32
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.05
    temperature: float | str = 4.0  # or "auto": swept on validation views of the field domain
    alpha: float | str = 0.9  # or "auto"
    sweep_epochs: int | None = None  # epochs per sweep candidate; None: a quarter of --epochs
    seed: int = 0
    workers: int = 2
    field_grid: str = "balanced"
    alone_on_clean: bool = False  # also train the student alone on clean views: the full (views x teacher) 2x2
    cache_teacher: bool = False  # read the teacher's answers per replayed view from a cache instead of running it
    teacher_cache: str | None = None  # cache root; None: RUN/teacher-cache
    views: int | None = None  # views per image in the cache; None: one per student epoch
    topk: int | None = None  # keep only the teacher's top-k logits per view
    unlabeled: str | None = None  # a folder of images without labels, distilled with the KL term only
    unlabeled_ratio: float = 1.0  # unlabeled views per labeled image in each distillation epoch

    def save(self, run_dir: Path) -> None:
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(asdict(self), sort_keys=False))

    @classmethod
    def load(cls, run_dir: Path) -> "TrainConfig":
        path = run_dir / "config.yaml"
        if not path.is_file():
            raise UserError(f"{run_dir} has no config.yaml, so it is not a run to resume; start it without --resume")
        raw = yaml.safe_load(path.read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UserError(f"{path} has unknown keys {unknown}; it was written by another version of edgedistill")
        return cls(**raw)
