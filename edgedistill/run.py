"""A distillation run end to end: teacher, baselines, distilled student, evaluation, report.

Stages run in order and each is skipped when its weights file already exists, so
``--resume`` after an interrupt redoes nothing that finished. The students share their
initialisation (same seed), so the only difference between them is what they learn from.
"""

import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from edgedistill import distributed
from edgedistill.accelerator import resolve as resolve_accelerator
from edgedistill.augment import build_train_transform
from edgedistill.cache_build import prepare_cache
from edgedistill.config import DEFAULT_TEACHER, PYTHON_MODULE, TORCHVISION_TEACHER, TrainConfig
from edgedistill.data import (
    UNLABELED_LIMIT,
    AugmentedViews,
    DataBundle,
    ImageSet,
    load_data,
    load_unlabeled_folder,
    require_data_folder,
    worker_count,
)
from edgedistill.errors import UserError, setting
from edgedistill.evaluate import accuracy, accuracy_by_group, agreement, predict_logits
from edgedistill.field import CAMERA_CORRUPTIONS, HELD_OUT_CORRUPTIONS, SEVERITIES, FieldSplit, build_field_split
from edgedistill.fileio import write_atomic, write_json_atomic
from edgedistill.image_store import join
from edgedistill.losses import UNLABELED, DistillationLoss, make_loss
from edgedistill.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelInfo,
    capture,
    count_macs,
    count_params,
    create_model,
    given_info,
    load_checkpoint,
    load_state_dict_checkpoint,
    model_device,
    model_info,
    parse_timm_spec,
    save_checkpoint,
    start_from_weights,
)
from edgedistill.report import write_report
from edgedistill.rundir import RunClaim, absolute_inputs, prepare_run_dir, reopen_run_dir, resume_config
from edgedistill.stages import ALONE, DISTILLED, DISTILLED_LABELED_ONLY, TEACHER, plan
from edgedistill.teachers import (
    load_teacher_path,
    load_torchvision_teacher,
    parse_torchvision_spec,
)
from edgedistill.trainer import StageSettings, Teacher, TrainingDiverged, fit
from edgedistill.tuning import SweepData, candidates, choose, sweep_data


@dataclass
class PythonModule:
    """A teacher or student from the user's own code: any module that maps (N, 3, S, S) float images, normalised
    with ``mean`` and ``std`` (per RGB channel, on 0..1 pixels), to logits over the data's classes in their order."""

    model: torch.nn.Module
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def open_run(
    cfg: TrainConfig, resume: bool = False, force: bool = False, given: frozenset[str] = frozenset()
) -> tuple[TrainConfig, RunClaim | None]:
    """The config to run and the claim on its new directory (None when resuming: that folder was the
    user's before this command). Everything that can be checked cheaply is checked before the disk is
    touched; ``given`` names the settings set for this command, which ``resume`` checks against the run's."""
    if resume and force:
        raise UserError(f"{setting('resume')} continues a run and {setting('force')} replaces it; pass one of them")
    cfg = absolute_inputs(cfg)
    if resume:
        cfg = resume_config(Path(cfg.out), cfg, given)
        check_inputs(cfg)
        reopen_run_dir(cfg)
        return cfg, None
    check_inputs(cfg)
    return cfg, prepare_run_dir(cfg, force)


def check_inputs(cfg: TrainConfig) -> None:
    """The inputs that can be checked without reading the data: device, presets, model names, files and folders."""
    resolve_accelerator(cfg.device, cfg.amp)
    for domain in (cfg.domain, "clean"):
        build_train_transform(domain, cfg.image_size)
    if not cfg.student.startswith(PYTHON_MODULE):
        student = parse_timm_spec(cfg.student)
        if cfg.stem == "small":
            create_model(student, 2, stem="small")  # an architecture that cannot take it is refused here
    elif cfg.student_weights:
        raise UserError(
            f"{setting('student_weights')} start a timm student; load them into your student module before the run"
        )
    elif cfg.stem != "standard":
        raise UserError(f"{setting('stem', cfg.stem)} builds timm students; a student module trains as you built it")
    teacher = cfg.teacher or DEFAULT_TEACHER
    if cfg.teacher_stem and not teacher.startswith("timm:"):
        raise UserError(
            f"{setting('teacher_stem', cfg.teacher_stem)} builds a timm teacher; teacher {teacher} runs as it was built"
        )
    for name in ("teacher_weights", "student_weights"):
        if getattr(cfg, name) and not Path(getattr(cfg, name)).is_file():
            raise UserError(f"{setting(name, getattr(cfg, name))} is not a file; give a weights file")
    if cfg.teacher_weights and not teacher.startswith(("timm:", TORCHVISION_TEACHER)):
        raise UserError(
            f"{setting('teacher_weights')} are weights of a timm or torchvision architecture: set "
            f"{setting('teacher', 'timm:NAME')} or {setting('teacher', 'torchvision:NAME')} with them"
        )
    if teacher.startswith(TORCHVISION_TEACHER):
        parse_torchvision_spec(teacher)
        if not cfg.teacher_weights:
            raise UserError(
                f"a torchvision teacher is loaded, not trained: give its weights for the data's classes with "
                f"{setting('teacher_weights', 'FILE')} (the run trains timm teachers)"
            )
    elif teacher.startswith("timm:"):
        arch = parse_timm_spec(teacher)
        if cfg.timm_teacher_stem == "small":
            create_model(arch, 2, stem="small", stem_setting="teacher_stem")
        if cfg.teacher_epochs < 1 and not cfg.teacher_weights:
            raise UserError(
                f"{setting('teacher_epochs')} must be at least 1 when the teacher is trained in the run; or give "
                f"a trained one: {setting('teacher', 'CHECKPOINT')}"
            )
    elif not teacher.startswith(PYTHON_MODULE) and not Path(teacher).exists():
        raise UserError(
            f"teacher {teacher} does not exist; give timm:NAME, an edgedistill checkpoint, a TorchScript, .pt2 or "
            ".onnx file, or a Hugging Face classifier's folder"
        )
    if cfg.data not in ("demo", "cifar10"):
        require_data_folder(Path(cfg.data))
    if cfg.unlabeled and not Path(cfg.unlabeled).is_dir():
        raise UserError(
            f"{setting('unlabeled', cfg.unlabeled)} is not a folder; give a folder of images (searched recursively)"
        )


def run(
    cfg: TrainConfig,
    progress: Progress | None = None,
    on_started: Callable[[], None] | None = None,
    teacher_module: PythonModule | None = None,
    student_module: PythonModule | None = None,
) -> dict | None:
    """The whole run; returns the metrics (None on the ranks other than 0 under torchrun). ``on_started``
    is called once the inputs (data, field splits, a given teacher) have loaded, before any training;
    ``teacher_module`` and ``student_module`` are those of a config whose teacher or student is ``python:NAME``."""
    run_dir = Path(cfg.out)
    started = time.perf_counter()
    accelerator = resolve_accelerator(cfg.device, cfg.amp)
    workers = worker_count(cfg.workers)
    transforms = {domain: build_train_transform(domain, cfg.image_size) for domain in (cfg.domain, "clean")}
    # rank 0 decodes the images and corrupts the field splits into the cache folder; the other ranks read them
    data = distributed.main_first(lambda: load_data(cfg.data, cfg.image_size))
    field = distributed.main_first(
        lambda: build_field_split(data.test, CAMERA_CORRUPTIONS, cfg.field_grid, cfg.workers)
    )
    held_out = distributed.main_first(
        lambda: build_field_split(data.test, HELD_OUT_CORRUPTIONS, cfg.field_grid, cfg.workers)
    )
    kd_train = distributed.main_first(
        lambda: with_unlabeled(data, cfg.unlabeled, cfg.unlabeled_ratio, cfg.image_size, cfg.seed)
    )
    given_teacher = load_given_teacher(cfg, data, accelerator.device, teacher_module)
    student_module = given_student(cfg, data, student_module)
    if on_started is not None:
        on_started()
    distributed.main_first(lambda: keep_to_the_same_data(run_dir / "data.json", data, kd_train))
    if student_module is not None:  # every stage of a module student has the same ModelInfo
        student_info = given_info(cfg.student, data.classes, cfg.image_size, student_module.mean, student_module.std)
        student_module = student_start(run_dir / "student_init.safetensors", student_module, student_info)
    student_arch = cfg.student if student_module is not None else parse_timm_spec(cfg.student)
    seconds: dict[str, float] = {}

    def train_stage(
        name: str,
        arch: str,
        domain: str,
        epochs: int,
        teacher: Callable[[], Teacher] | None = None,
        train_set: ImageSet | None = None,
        optimizer: str = cfg.optimizer,
        lr: float = cfg.lr,
        weight_decay: float = cfg.weight_decay,
        start_weights: str | None = cfg.student_weights,
        stem: str = cfg.stem,
    ):
        """Train one stage unless its weights exist; ``teacher`` is made only when the stage trains, so a
        resumed run never rebuilds a teacher cache for a finished stage. ``arch`` is a timm name, or the
        student module's ``python:CLASS``."""
        path = run_dir / f"{name}.safetensors"
        python = arch.startswith(PYTHON_MODULE)
        if path.exists():
            model, info = load_checkpoint(path, student_module.model if python else None)
            return model.to(accelerator.device), info
        stage_start = time.perf_counter()
        torch.manual_seed(cfg.seed)
        if python:
            model, info = copy.deepcopy(student_module.model), student_info
        else:
            model = create_model(arch, len(data.classes), pretrained=cfg.pretrained, stem=stem)
            if start_weights:
                start_from_weights(model, arch, Path(start_weights))
            info = model_info(model, arch, data.classes, cfg.image_size, stem)
        train_set = train_set or data.train
        views = AugmentedViews(train_set.images, train_set.labels, transforms[domain], cfg.seed)
        settings = StageSettings(
            epochs,
            cfg.batch_size,
            lr,
            weight_decay,
            cfg.seed,
            workers,
            cfg.unlabeled_ratio,
            accelerator,
            optimizer,
            clip_grad=0.0 if name == TEACHER.name else cfg.clip_grad,  # the teacher's recipe is its own
        )
        checkpoint = run_dir / "checkpoints" / f"{name}.pt"
        fit(name, model, info, views, settings, checkpoint, teacher() if teacher else None, progress)
        if distributed.is_main():
            save_checkpoint(path, model, info)
        distributed.barrier()
        seconds[name] = time.perf_counter() - stage_start
        return model, info

    teacher_model, teacher_info = given_teacher or train_stage(
        TEACHER.name,
        parse_timm_spec(cfg.teacher or DEFAULT_TEACHER),
        cfg.domain,
        cfg.teacher_epochs,
        optimizer=cfg.teacher_optimizer,
        lr=cfg.teacher_lr,
        weight_decay=cfg.teacher_weight_decay,
        start_weights=None,
        stem=cfg.timm_teacher_stem,
    )

    def teacher_for(domain: str, loss: DistillationLoss, cached: bool = True) -> Teacher:
        if not (cfg.cache_teacher and cached):
            return Teacher(teacher_model, teacher_info, loss)
        cache_start = time.perf_counter()
        root = Path(cfg.teacher_cache) if cfg.teacher_cache else run_dir / "teacher-cache"
        cache = prepare_cache(
            root, teacher_model, teacher_info, kd_train, domain, cfg.image_size, cfg.seed, cfg.views or cfg.epochs,
            cfg.topk, cfg.batch_size, workers, progress, accelerator,
        )  # fmt: skip
        seconds[f"teacher_cache_{Path(domain).stem}"] = time.perf_counter() - cache_start
        return Teacher(teacher_model, teacher_info, loss, cache.reader())

    def sweep_row(loss_name: str, temperature: float, alpha: float, sweep: SweepData) -> dict:
        """One short distillation with (loss, T, alpha), graded on the validation views."""
        loss = make_loss(loss_name, temperature, alpha)
        name = f"sweep/{'' if loss_name == 'kd' else loss_name + '-'}T{temperature:g}-alpha{alpha:g}"
        epochs = cfg.sweep_epochs or max(1, cfg.epochs // 4)
        teacher = lambda: teacher_for(cfg.domain, loss, cached=sweep.train_is_full)  # noqa: E731
        row = {"loss": loss_name, "temperature": temperature, "alpha": alpha}
        diverged = run_dir / f"{name}.diverged"  # kept, so that a resumed run does not try the candidate again
        if diverged.exists():
            return {**row, "val_field_acc": None, "diverged": diverged.read_text()}
        try:
            model, info = train_stage(name, student_arch, cfg.domain, epochs, teacher, sweep.train)
        except TrainingDiverged as error:
            if distributed.rank_and_size()[1] > 1:
                raise  # the other ranks wait for this one's gradients: the run stops on all of them
            fact = error.fact
            write_atomic(diverged, lambda tmp: tmp.write_text(fact))
            if progress is not None:
                progress.console.print(f"{fact}: the sweep goes on without this candidate", markup=False)
            return {**row, "val_field_acc": None, "diverged": fact}
        logits = predict_logits(model, sweep.validation.images, info.mean, info.std)
        return {**row, "val_field_acc": accuracy(logits, sweep.validation.labels)}

    grid = candidates(cfg.temperature, cfg.alpha, cfg.loss)
    tuning = None
    if len(grid) > 1:
        sweep = sweep_data(
            data, AugmentedViews(data.train.images, data.train.labels, transforms[cfg.domain], cfg.seed), cfg.seed
        )
        rows = [sweep_row(name, t, a, sweep) for name, t, a in grid]
        tuning = {"validation": sweep.source, "epochs": cfg.sweep_epochs or max(1, cfg.epochs // 4), "rows": rows}
        tuning["chosen"] = choose(rows)
    chosen = tuning["chosen"] if tuning else dict(zip(("loss", "temperature", "alpha"), grid[0], strict=True))
    loss = make_loss(chosen["loss"], chosen["temperature"], chosen["alpha"])
    models = {TEACHER.name: (teacher_model, teacher_info)}
    for stage in plan(cfg, unlabeled=len(kd_train.labels) > len(data.train.labels)):
        domain = stage.domain(cfg)
        teacher = (lambda domain=domain: teacher_for(domain, loss)) if stage.distilled else None
        train_set = kd_train if stage.unlabeled else data.train
        models[stage.name] = train_stage(stage.name, student_arch, domain, cfg.epochs, teacher, train_set)

    if not distributed.is_main():
        return None  # rank 0 evaluates and writes; the other ranks' weights are the same
    metrics = evaluate_models(models, data, field, held_out, cfg.image_size)
    metrics["wall_time_s"] = {**seconds, "total": time.perf_counter() - started}
    metrics["accelerator"] = accelerator.describe()
    metrics["data"] = {
        "source": data.source,
        "classes": data.classes,
        "train": len(data.train.labels),
        "test": len(data.test.labels),
        "field": len(field.labels),
        "held_out": len(held_out.labels),
    }
    metrics["config"] = vars(cfg)
    metrics["distillation"] = {
        "loss": chosen["loss"],
        "temperature": chosen["temperature"],
        "alpha": chosen["alpha"],
        "sweep": tuning,
    }
    if DISTILLED_LABELED_ONLY.name in metrics:
        alone = metrics[DISTILLED_LABELED_ONLY.name]
        metrics["unlabeled"] = {
            "source": unlabeled_source(data, cfg),
            "images": len(kd_train.labels) - len(data.train.labels),
            "ratio": cfg.unlabeled_ratio,
            "field_acc_gain": metrics[DISTILLED.name]["field_acc"] - alone["field_acc"],
            "clean_acc_gain": metrics[DISTILLED.name]["clean_acc"] - alone["clean_acc"],
        }
    write_json_atomic(run_dir / "metrics.json", metrics)
    write_report(run_dir / "report.md", metrics)
    return metrics


def with_unlabeled(
    data: DataBundle, folder: str | None = None, ratio: float = 1.0, image_size: int = 32, seed: int = 0
) -> ImageSet:
    """The distillation set: the labeled images, then the unlabeled ones with label -1 (KL term only): the
    data's own (the demo's pool, an ImageFolder's unlabeled/) and ``folder``'s. Labeled images keep their
    indices, so a teacher cache of this set serves labeled-only stages too. A ``ratio`` (unlabeled views per
    labeled image and epoch) of 0 leaves them all out. Training and ``edgedistill cache-teacher`` both build
    the set here, so a cache built ahead fits the run."""
    extra = [data.unlabeled] if data.unlabeled is not None else []
    if other_unlabeled(data, folder):
        extra.append(load_unlabeled_folder(Path(folder), image_size, UNLABELED_LIMIT, seed))
    if not extra or ratio == 0:
        return data.train
    count = sum(len(images) for images in extra)
    labels = np.concatenate([data.train.labels, np.full(count, UNLABELED, dtype=data.train.labels.dtype)])
    return ImageSet(join([data.train.images, *extra]), labels)


def keep_to_the_same_data(path: Path, data: DataBundle, kd_train: ImageSet) -> None:
    """A run continues on the data it started with: its finished stages were trained and graded on it. The
    classes, the sizes of the splits and of the distillation set (with its unlabeled images), and a digest of the
    labels and of 64 images sampled from each are written when the run starts and compared when it resumes: a
    regenerated demo, or photos added or removed, are caught; a photo replaced outside the sample is not."""
    splits = {"train": data.train.images, "test": data.test.images, "distillation": kd_train.images}
    digest = hashlib.sha256()
    for images in splits.values():
        for index in np.linspace(0, len(images) - 1, num=min(len(images), 64)).astype(int):
            digest.update(np.ascontiguousarray(images[index]).tobytes())
    for labels in (data.train.labels, data.test.labels):
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    record = {  # not the path: a run and its data moved elsewhere together still fit
        "classes": data.classes,
        **{name: len(images) for name, images in splits.items()},
        "sha256": digest.hexdigest(),
    }
    if not path.exists():
        write_json_atomic(path, record)
        return
    try:
        started = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        started = None
    if not isinstance(started, dict):
        raise UserError(f"{path} is damaged; restore it, or delete it to resume without checking the data")
    changed = [key for key in record if started.get(key) != record[key]]
    if changed:
        raise UserError(
            f"the data changed since this run started ({', '.join(changed)}: {path.name} records "
            f"{', '.join(f'{key} {str(started.get(key))[:40]}' for key in changed)}); its finished models were trained "
            f"and graded on the old data, so start a new run (another {setting('out')}) or restore the data (to resume "
            f"anyway, delete {path})"
        )


def other_unlabeled(data: DataBundle, folder: str | None) -> str | None:
    """``folder``, unless it is the data's own unlabeled/, which the data already brings (it would count twice)."""
    if not folder or data.source in ("demo", "cifar10") or data.unlabeled is None:
        return folder
    return None if Path(folder).resolve() == (Path(data.source) / "unlabeled").resolve() else folder


def unlabeled_source(data: DataBundle, cfg: TrainConfig) -> str:
    """Where a run's unlabeled images came from, for its metrics and report."""
    own = f"the data's own ({'the demo pool' if data.source == 'demo' else 'unlabeled/'})"
    other = other_unlabeled(data, cfg.unlabeled)
    return " and ".join(([own] if data.unlabeled is not None else []) + ([other] if other else []))


def load_given_teacher(
    cfg: TrainConfig, data: DataBundle, device: torch.device, module: PythonModule | None = None
) -> tuple[torch.nn.Module, ModelInfo] | None:
    """The teacher the user gave, on ``device`` and checked against the data's classes; None when the run
    trains one."""
    spec = cfg.teacher or DEFAULT_TEACHER
    if spec.startswith(PYTHON_MODULE):
        if module is None:
            raise UserError(
                f"this run's teacher ({spec}) is a module from Python code; continue the run from Python: "
                "edgedistill.distill(teacher=MODULE, ..., resume=True)"
            )
        info = given_info(spec.removeprefix(PYTHON_MODULE), data.classes, cfg.image_size, module.mean, module.std)
        return check_forward(module.model.to(device).eval(), info), info
    if spec.startswith(TORCHVISION_TEACHER):
        model, info = load_torchvision_teacher(
            spec, Path(cfg.teacher_weights), data.classes, cfg.image_size, cfg.teacher_mean, cfg.teacher_std
        )
        return check_forward(model.to(device).eval(), info), info
    if cfg.teacher_weights:  # checked against the classes by the weights' head
        model, info = load_state_dict_checkpoint(
            Path(cfg.teacher_weights), parse_timm_spec(spec), data.classes, cfg.image_size, cfg.timm_teacher_stem
        )
        return model.to(device), info
    if spec.startswith("timm:"):
        return None
    model, info = load_teacher_path(Path(spec), data.classes, cfg.image_size, cfg.teacher_mean, cfg.teacher_std)
    if info.classes != data.classes:
        raise UserError(
            f"teacher {spec} predicts {len(info.classes)} classes {info.classes[:5]}... but the data has "
            f"{len(data.classes)} {data.classes[:5]}...; give a teacher trained on these classes, or "
            f"{setting('teacher', 'timm:NAME')} to train one"
        )
    return check_forward(model.to(device).eval(), info), info


def given_student(cfg: TrainConfig, data: DataBundle, module: PythonModule | None) -> PythonModule | None:
    """The student module the user gave, checked before any training: it runs on the views, answers per class,
    and torch.export can capture it, as every phone runtime needs. None for a timm student."""
    if not cfg.student.startswith(PYTHON_MODULE):
        return None
    if module is None:
        raise UserError(
            f"this run's student ({cfg.student}) is a module from Python code; continue the run from Python: "
            "edgedistill.distill(..., student=MODULE, resume=True)"
        )
    info = given_info(cfg.student, data.classes, cfg.image_size, module.mean, module.std)
    check_forward(copy.deepcopy(module.model).cpu().eval(), info, "student")
    capture(module.model, cfg.image_size)
    return module


def student_start(path: Path, module: PythonModule, info: ModelInfo) -> PythonModule:
    """The weights every student stage starts from: the module's when the run first started, kept in ``path``
    so that a resumed run starts its remaining stages from the same ones as its finished stages."""
    if path.exists():
        model, started = load_checkpoint(path, module.model)
        if (started.mean, started.std) != (info.mean, info.std):
            raise UserError(
                f"the run's student module started with student_mean={list(started.mean)} and student_std="
                f"{list(started.std)} ({path.name}), not {list(info.mean)} and {list(info.std)}; give the same ones"
            )
        return PythonModule(model, module.mean, module.std)
    if distributed.is_main():
        save_checkpoint(path, module.model, info)
    return module


def check_forward(model: torch.nn.Module, info: ModelInfo, role: str = "teacher") -> torch.nn.Module:
    """Run a model from elsewhere once on a batch of two images of the training size: one that cannot, or
    that answers with another number of classes, is refused before any training, with the reason."""
    device = model_device(model)
    try:
        with torch.no_grad():
            logits = model(torch.zeros(2, 3, info.image_size, info.image_size, device=device))
    except Exception as error:  # noqa: BLE001 - a user's module can raise anything; the user needs its words
        raise UserError(
            f"the {role} cannot run on {info.image_size}x{info.image_size} images ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); give a {role} for this image size"
        ) from None
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (2, len(info.classes)):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise UserError(
            f"the {role} answers a batch of 2 images with {shape}, not (2, {len(info.classes)}) logits, one per "
            f"class of the data ({', '.join(info.classes[:5])}...)"
        )
    return model


def evaluate_models(models: dict, data: DataBundle, field: FieldSplit, held_out: FieldSplit, image_size: int) -> dict:
    """Clean, field and held-out accuracy, size and agreement with the teacher for every model of the run.

    The held-out corruptions (speckle noise, Gaussian blur, saturation) are kin to the field's but
    never guide a choice, so a preset tuned to the nine field corruptions shows as a gap between the two."""
    logits = {}
    metrics: dict = {}
    for name, (model, info) in models.items():
        clean = predict_logits(model, data.test.images, info.mean, info.std)
        in_field = predict_logits(model, field.images, info.mean, info.std)
        unseen = predict_logits(model, held_out.images, info.mean, info.std)
        logits[name] = (clean, in_field)
        metrics[name] = {
            "arch": info.arch,
            "clean_acc": accuracy(clean, data.test.labels),
            "field_acc": accuracy(in_field, field.labels),
            "field_acc_by_corruption": accuracy_by_group(in_field, field.labels, field.corruption, list(field.names)),
            "field_acc_by_severity": accuracy_by_group(
                in_field, field.labels, field.severity - 1, [str(s) for s in SEVERITIES]
            ),
            "heldout_acc": accuracy(unseen, held_out.labels),
            "heldout_acc_by_corruption": accuracy_by_group(
                unseen, held_out.labels, held_out.corruption, list(held_out.names)
            ),
            "params": count_params(model),
            "macs": count_macs(model, image_size),
        }
    for name in models:
        if name != TEACHER.name:
            metrics[name]["agreement_clean"] = agreement(logits[name][0], logits[TEACHER.name][0])
            metrics[name]["agreement_field"] = agreement(logits[name][1], logits[TEACHER.name][1])
    teacher_field = metrics[TEACHER.name]["field_acc"]
    scratch_field = metrics[ALONE.name]["field_acc"]
    kd_field = metrics[DISTILLED.name]["field_acc"]
    gap = teacher_field - scratch_field
    metrics["gap_recovered_field"] = (kd_field - scratch_field) / gap if abs(gap) > 1e-9 else None
    metrics["teacher_share_kept_field"] = kd_field / teacher_field if teacher_field > 0 else None
    metrics["macs_ratio_teacher_to_student"] = metrics[TEACHER.name]["macs"] / max(metrics[DISTILLED.name]["macs"], 1)
    return metrics
