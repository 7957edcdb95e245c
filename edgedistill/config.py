"""The run configuration: one flat dataclass, saved as ``config.yaml`` in the run directory.

Every setting is checked when the config is made, whether from flags or from a saved
``config.yaml``, so a bad value stops the run before anything is written or trained.
"""

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from edgedistill.errors import UserError, setting
from edgedistill.fileio import write_text_atomic

DEFAULT_TEACHER = "timm:resnet18"
PYTHON_MODULE = "python:"  # a teacher or student given as a module from Python: "python:CLASS_NAME" in config.yaml
TORCHVISION_TEACHER = "torchvision:"  # a torchvision architecture, with --teacher-weights
DEFAULT_STUDENT = "timm:regnetx_002"
MAX_SEED = 2**32 - 1  # NumPy's seed range, the narrowest of the generators a run seeds
MIN_IMAGE_SIZE = 32  # imagecorruptions refuses smaller images, so the field split needs this much
FIELD_GRIDS = ("balanced", "full")  # severities per field image: one (balanced) or all five (full)
LOSS_NAMES = ("kd", "dkd", "dist")
STEMS = ("standard", "small")  # timm models as built for ImageNet, or kept at full resolution in their stem
# (peak learning rate at a batch of REFERENCE_BATCH, weight decay) each optimiser starts from when not given
OPTIMIZER_DEFAULTS = {"sgd": (0.2, 5e-4), "adamw": (3e-3, 0.05)}
REFERENCE_BATCH = 128  # the batch size the default rates were measured at


@dataclass
class TrainConfig:
    out: str
    domain: str = "phone"
    data: str = "demo"
    teacher: str | None = None  # timm:NAME (trained in the run), a checkpoint path, or None for DEFAULT_TEACHER
    teacher_weights: str | None = None  # plain weights of the timm:NAME teacher: it is loaded, not trained
    teacher_mean: list[float] | None = None  # per RGB channel, of a TorchScript or Hugging Face teacher; None: its own
    teacher_std: list[float] | None = None
    student: str = DEFAULT_STUDENT
    pretrained: bool = False  # start timm models from hub weights (downloads once)
    student_weights: str | None = None  # start the students from these weights (a classifier that differs stays fresh)
    stem: str = "standard"  # of the timm students: standard, or small (stride-1 stem for 32-64 px inputs)
    teacher_stem: str | None = None  # of a timm teacher (trained here, or its --teacher-weights); None: stem's
    epochs: int = 20
    teacher_epochs: int = 30
    image_size: int = 32
    batch_size: int = 128
    optimizer: str = "sgd"  # of the students: sgd (Nesterov momentum 0.9) or adamw
    lr: float | None = None  # peak learning rate of the students; None: their optimiser's default
    weight_decay: float | None = None  # None: the optimiser's default
    clip_grad: float = 5.0  # of the students: the gradient's norm is clipped to this each step; 0: unclipped
    teacher_optimizer: str = "adamw"  # of a teacher trained in the run
    teacher_lr: float | None = None  # None: the teacher optimiser's default
    teacher_weight_decay: float | None = None
    loss: str = "kd"  # kd (Hinton), dkd (decoupled), dist (correlation), or "auto": swept like temperature and alpha
    temperature: float | str = 4.0  # or "auto": swept on validation views of the field domain
    alpha: float | str = 0.9  # or "auto"
    sweep_epochs: int | None = None  # epochs per sweep candidate; None: a quarter of --epochs
    seed: int = 0
    workers: int | None = None  # DataLoader processes; None: one per CPU core this process may use
    field_grid: str = "balanced"
    alone_on_clean: bool = False  # also train the student alone on clean views: the full (views x teacher) 2x2
    cache_teacher: bool = False  # read the teacher's answers per replayed view from a cache instead of running it
    teacher_cache: str | None = None  # cache root; None: RUN/teacher-cache
    views: int | None = None  # views per image in the cache; None: one per student epoch
    topk: int | None = None  # keep only the teacher's top-k logits per view
    unlabeled: str | None = None  # a folder of images without labels, distilled with the KL term only
    unlabeled_ratio: float = 1.0  # unlabeled views per labeled image in each distillation epoch
    device: str = "auto"  # auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps
    amp: str = "auto"  # autocast: auto (bf16 or fp16 on CUDA, off elsewhere), bf16, fp16 or off

    def __post_init__(self) -> None:
        check_setting("batch_size", self.batch_size)  # the default rates are scaled to it
        for role in ("", "teacher_"):  # a wrong optimiser's name is refused below, before its rates are looked at
            optimizer = getattr(self, f"{role}optimizer")
            if optimizer in OPTIMIZER_DEFAULTS:
                if getattr(self, role + "lr") is None:
                    setattr(self, role + "lr", default_lr(optimizer, self.batch_size))
                if getattr(self, role + "weight_decay") is None:
                    setattr(self, role + "weight_decay", OPTIMIZER_DEFAULTS[optimizer][1])
        for field in fields(self):
            check_setting(field.name, getattr(self, field.name))

    @property
    def timm_teacher_stem(self) -> str:
        """The stem of a timm teacher built in the run: its own setting, else the students'."""
        return self.teacher_stem or self.stem

    def save(self, run_dir: Path) -> None:
        write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(asdict(self), sort_keys=False))

    @classmethod
    def load(cls, run_dir: Path) -> "TrainConfig":
        """The saved config of the run in ``run_dir``."""
        path = run_dir / "config.yaml"
        if not path.is_file():
            raise UserError(
                f"{run_dir} has no config.yaml, so it is not a run to resume; start it without {setting('resume')}"
            )
        settings = read_settings(path)
        if "out" not in settings:
            raise UserError(f"{path} is damaged (no 'out'); restore it or start a new run")
        upgrade_saved_run(settings)
        try:
            return cls(**settings)
        except UserError as error:
            raise UserError(f"{path}: {error}") from None


def default_lr(optimizer: str, batch_size: int) -> float:
    """The optimiser's default peak rate, measured at a batch of 128, scaled to ``batch_size``: linearly for SGD
    (Goyal et al., 2017), by the square root for AdamW (timm's rule for adaptive optimisers). Unscaled, SGD's 0.2
    at a batch of 16 diverged on one random teacher in twelve."""
    base = OPTIMIZER_DEFAULTS[optimizer][0]
    ratio = batch_size / REFERENCE_BATCH
    return float(f"{base * (ratio if optimizer == 'sgd' else math.sqrt(ratio)):.6g}")


def upgrade_saved_run(settings: dict) -> None:
    """A run's config.yaml saved before the optimisers were settings trained AdamW for all, the teacher at the
    students' --lr unless --teacher-lr was given, and one saved before gradient clipping trained unclipped: said
    so in ``settings``, so that it resumes or re-runs as it trained (its checkpoints hold AdamW's state)."""
    settings.setdefault("clip_grad", 0.0)  # saved before clipping existed: it trained unclipped
    if "optimizer" in settings:
        return
    settings.update(optimizer="adamw", teacher_optimizer="adamw")
    if settings.get("teacher_lr") is None:
        settings["teacher_lr"] = settings.get("lr")
    settings["teacher_weight_decay"] = settings.get("weight_decay")


def merge_settings(flags: dict, from_file: dict, given: set[str]) -> dict:
    """The settings of a run started with --config: the command line's defaults, under the file's settings,
    under the options given. A rate comes from the file only with the optimiser and batch size it was set for:
    an optimiser given anew in place of the file's brings its own default rates, and a batch size its default
    learning rates, unless they are given too."""
    settings = {**flags, **from_file, **{name: flags[name] for name in given if name in flags}}

    def given_anew(name: str) -> bool:
        return name in given and name in from_file and from_file[name] != flags[name]

    for role in ("", "teacher_"):
        for rate in ("lr", "weight_decay"):
            anew = given_anew(role + "optimizer") or (rate == "lr" and given_anew("batch_size"))
            if anew and role + rate not in given:
                settings[role + rate] = None
    return settings


def read_settings(path: Path) -> dict:
    """The settings of a YAML file (a run's config.yaml, or one a user wrote with some of them), checked for
    names only: values are checked when the config is made."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise UserError(f"{path} is damaged ({reason}); restore it or start a new run") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} is damaged (not a mapping of settings); restore it or start a new run")
    known = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UserError(f"{path} has unknown settings {unknown}; the settings are {known}")
    return {name: _as_number(name, value) for name, value in raw.items()}


def _as_number(name: str, value: object) -> object:
    """YAML 1.1 (PyYAML) reads ``1e-3`` as text, not a number: a numeric setting written so is read as one."""
    if name not in RANGES or not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value  # "auto", or a mistake that check_setting names
    return int(number) if RANGES[name][0] is int and number.is_integer() else number


# (kind, low, high) per numeric setting; a None high is unbounded. "auto" is allowed where noted.
RANGES: dict[str, tuple[type, float, float | None]] = {
    "epochs": (int, 1, None),
    "teacher_epochs": (int, 0, None),
    "image_size": (int, MIN_IMAGE_SIZE, None),
    "batch_size": (int, 2, None),
    "lr": (float, 0.0, None),
    "teacher_lr": (float, 0.0, None),
    "weight_decay": (float, 0.0, None),
    "teacher_weight_decay": (float, 0.0, None),
    "clip_grad": (float, 0.0, None),
    "temperature": (float, 0.01, None),
    "alpha": (float, 0.0, 1.0),
    "sweep_epochs": (int, 1, None),
    "seed": (int, 0, MAX_SEED),
    "workers": (int, 0, None),
    "views": (int, 1, None),
    "topk": (int, 1, None),
    "unlabeled_ratio": (float, 0.0, None),
}
MAY_BE_AUTO = ("temperature", "alpha", "loss")
MAY_BE_NONE = (
    "teacher",
    "teacher_weights",
    "teacher_mean",
    "teacher_std",
    "teacher_stem",
    "student_weights",
    "teacher_lr",
    "sweep_epochs",
    "teacher_cache",
    "views",
    "topk",
    "unlabeled",
    "workers",
)
FLAGS = ("pretrained", "alone_on_clean", "cache_teacher")
WHY_MIN_IMAGE_SIZE = f"the field split's corruptions need at least {MIN_IMAGE_SIZE} px"


def check_setting(name: str, value: object) -> None:
    """One setting's type and range; UserError naming the setting (as a flag on the command line), the value and
    what is accepted."""
    flag = setting(name)
    if value is None and name in MAY_BE_NONE:
        return
    if value == "auto" and name in MAY_BE_AUTO:
        return
    if name in FLAGS:
        if not isinstance(value, bool):
            raise UserError(f"{flag} must be true or false, got {value!r}")
        return
    if name in ("teacher_mean", "teacher_std"):
        numbers = isinstance(value, list) and len(value) == 3 and all(_is_finite(v) for v in value)
        if not numbers or (name == "teacher_std" and min(value) <= 0):
            what = "three positive numbers" if name == "teacher_std" else "three numbers"
            raise UserError(f"{flag} must be {what} (R G B, for pixels in 0..1), got {value!r}")
        return
    if name == "loss":
        if value not in LOSS_NAMES:
            raise UserError(f"{flag} must be one of {[*LOSS_NAMES, 'auto']}, got {value!r}")
        return
    if name in ("optimizer", "teacher_optimizer"):
        if value not in OPTIMIZER_DEFAULTS:
            raise UserError(f"{flag} must be one of {list(OPTIMIZER_DEFAULTS)}, got {value!r}")
        return
    if name in ("stem", "teacher_stem"):
        if value not in STEMS:
            raise UserError(f"{flag} must be one of {list(STEMS)}, got {value!r}")
        return
    if name == "field_grid":
        if value not in FIELD_GRIDS:
            raise UserError(f"{flag} must be one of {list(FIELD_GRIDS)}, got {value!r}")
        return
    if name not in RANGES:
        if not isinstance(value, str) or not value:
            raise UserError(f"{flag} must be a non-empty text, got {value!r}")
        return
    kind, low, high = RANGES[name]
    or_auto = " or 'auto'" if name in MAY_BE_AUTO else ""
    number_types = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, number_types) or not math.isfinite(value):
        accepted = "a whole number" if kind is int else "a finite number"
        raise UserError(f"{flag} must be {accepted}{or_auto}, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        why = f" ({WHY_MIN_IMAGE_SIZE})" if name == "image_size" else ""
        raise UserError(f"{flag} must be {bounds}{why}{or_auto}, got {value}")


def _is_finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
