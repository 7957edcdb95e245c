"""edgedistill from Python: the run and the export of the command line, for a teacher and images you already have.

    import edgedistill
    result = edgedistill.distill(my_teacher, edgedistill.Images(train_set, test_set, classes), out="runs/mine")
    bundles = edgedistill.export_bundle(result.run_dir, target="android")
    latency = edgedistill.bench(bundles["android"])

Settings are TrainConfig's, by name (``epochs=10``, ``temperature="auto"``); a run directory is the same as the
command line's, so ``edgedistill export``, ``report`` and ``train --resume`` work on it too.
"""

import multiprocessing
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from edgedistill.config import DEFAULT_STUDENT, PYTHON_MODULE, TrainConfig
from edgedistill.errors import UserError, setting
from edgedistill.models import IMAGENET_MEAN, IMAGENET_STD, ModelInfo, load_checkpoint
from edgedistill.own_data import Images, save_images
from edgedistill.run import PythonModule, open_run, run
from edgedistill.stages import DISTILLED


@dataclass
class Distilled:
    run_dir: Path
    metrics: dict  # as in RUN/metrics.json: every model's clean, field and held-out accuracy, the gap recovered
    student: torch.nn.Module  # the distilled student, in eval mode on the CPU
    info: ModelInfo  # its architecture, classes, input size and normalisation


def distill(
    teacher: torch.nn.Module | str,
    data: Images | str | Path,
    student: torch.nn.Module | str = DEFAULT_STUDENT,
    *,
    out: str | Path,
    domain: str = "phone",
    teacher_mean: tuple[float, float, float] | None = None,
    teacher_std: tuple[float, float, float] | None = None,
    student_mean: tuple[float, float, float] | None = None,
    student_std: tuple[float, float, float] | None = None,
    force: bool = False,
    resume: bool = False,
    **settings,
) -> Distilled:
    """Distil ``teacher`` into ``student`` on ``domain``'s field views of ``data``, next to the student
    trained without a teacher, and grade them all on the field test split.

    ``teacher``: a module (frozen; it only runs forward, on images normalised with ``teacher_mean`` and
    ``teacher_std``, and must answer with logits over ``data``'s classes), ``"timm:NAME"`` to train one in the
    run, or a teacher file (see ``edgedistill train --help``). ``student``: ``"timm:NAME"``, or a module that
    answers with logits over the classes (left untouched: every student stage trains a copy of it, from its
    weights as given, on images normalised with ``student_mean`` and ``student_std``; torch.export must be able
    to capture it, as the phone runtimes need). ``data``: ``Images`` (your Datasets or arrays; converted
    once at ``image_size`` into the cache), ``"demo"``, ``"cifar10"`` or an ImageFolder root. ``settings``:
    any other field of ``TrainConfig``. ``force`` replaces an earlier run in ``out``; ``resume`` continues it
    (given the same modules again).
    """
    if multiprocessing.parent_process() is not None:  # a worker process importing the user's script again
        raise UserError(
            "distill() was called in a worker process that imported your script again; put the call under "
            '`if __name__ == "__main__":`'
        )
    known = {f.name for f in fields(TrainConfig)} - {"out", "domain", "data", "teacher", "student"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise UserError(f"distill() has no setting {unknown}; the settings are {sorted(known)}")
    image_size = settings.get("image_size", TrainConfig.image_size)
    data_spec = str(save_images(data, image_size)) if isinstance(data, Images) else str(data)
    teacher_module = student_module = None
    if isinstance(teacher, torch.nn.Module):
        teacher_module = PythonModule(teacher, *_normalisation(teacher_mean, teacher_std))
        teacher = f"{PYTHON_MODULE}{type(teacher).__name__}"
    else:  # a file's teacher (TorchScript, .pt2, ONNX, torchvision:NAME) takes them as settings
        settings.update({k: list(v) for k, v in (("teacher_mean", teacher_mean), ("teacher_std", teacher_std)) if v})
    if isinstance(student, torch.nn.Module):
        student_module = PythonModule(student, *_normalisation(student_mean, student_std))
        student = f"{PYTHON_MODULE}{type(student).__name__}"
    elif student_mean or student_std:
        raise UserError("student_mean and student_std are for a student module; a timm student brings its own")
    cfg = TrainConfig(out=str(out), domain=domain, data=data_spec, teacher=teacher, student=student, **settings)
    cfg, claim = open_run(cfg, resume, force, frozenset(settings) | {"domain", "data", "teacher", "student"})
    try:
        on_started = claim.start if claim else None
        metrics = run(cfg, on_started=on_started, teacher_module=teacher_module, student_module=student_module)
    except BaseException:
        if claim is not None:
            claim.rollback()  # a run that failed before it started leaves nothing behind
        raise
    run_dir = Path(cfg.out)
    given = student_module.model if student_module else None
    model, info = load_checkpoint(run_dir / f"{DISTILLED.name}.safetensors", given)
    return Distilled(run_dir, metrics, model.eval(), info)


def _normalisation(mean: tuple | None, std: tuple | None) -> tuple[tuple, tuple]:
    return tuple(mean or IMAGENET_MEAN), tuple(std or IMAGENET_STD)


def export_bundle(
    run_dir: str | Path,
    target: str = "all",
    precision: str = "fp32",
    out: str | Path | None = None,
    calibration: int = 256,
    golden: int = 500,
    qat: str = "auto",
    qat_epochs: int = 2,
    mixed_precision: bool = True,
) -> dict[str, Path]:
    """Export a run's distilled student as verified bundles, as ``edgedistill export`` does; returns each
    target's bundle folder (its name ends in ``.FAILED`` when an artifact missed its contract). int8 that
    misses the contract after training is fine-tuned quantization-aware for ``qat_epochs`` (``qat`` "auto"),
    always ("always") or never ("never"); if it still misses (and ``qat`` is not "always", which ships the
    fine-tuned model as asked), ``mixed_precision`` keeps the layers int8 hurts most in fp32 where the runtime
    allows it (ExecuTorch)."""
    from edgedistill.export.exporter import TARGETS, check_request, export_bundles
    from edgedistill.export.quantize import FineTuning
    from edgedistill.export.source import load_source

    targets = list(TARGETS) if target == "all" else [target]
    if any(t not in TARGETS for t in targets):
        raise UserError(f"target must be one of {[*TARGETS, 'all']}, got {target!r}")
    check_request(targets, precision)
    source = load_source(Path(run_dir), None, None, None)
    if qat_epochs < 1:
        raise UserError(f"{setting('qat_epochs')} must be at least 1, got {qat_epochs}")
    out = Path(out) if out else source.default_out
    fine_tuning = FineTuning(epochs=qat_epochs)
    results = export_bundles(
        source, targets, precision, out, calibration, golden, qat=qat, fine_tuning=fine_tuning,
        mixed_precision=mixed_precision,
    )  # fmt: skip
    return {name: landed for name, (landed, _) in results.items()}


def bench(
    bundle: str | Path,
    device: str = "host",
    *,
    threads: int = 1,
    warmup: int = 20,
    iterations: int | None = None,
    min_seconds: float = 3.0,
    pause: float = 0.0,
    out: str | Path | None = None,
    ssh_options: list[str] | None = None,
    remote_python: str = "python3",
    harness: str | Path | None = None,
    team: str | None = None,
) -> dict[str, dict | str]:
    """Time every model of an exported bundle on ``device`` (``host``, ``ssh://user@host[:port]``, ``adb[:SERIAL]``
    or ``ios:UDID``) and check its answers on the golden set there, as ``edgedistill bench`` does. Returns each
    model's result (latency percentiles, load time, memory, agreement with the student and the teacher, field
    accuracy), or the reason it did not run; the results are also written to ``out`` (default ``BUNDLE/bench``)."""
    from edgedistill.devices.bench import Timing, bench_bundle, read_manifest
    from edgedistill.devices.connect import open_device

    for name, value, low in (("threads", threads, 1), ("warmup", warmup, 0), ("min_seconds", min_seconds, 0)):
        if value < low:
            raise UserError(f"{setting(name)} must be at least {low}, got {value}")
    if iterations is not None and iterations < 1:
        raise UserError(f"{setting('iterations')} must be at least 1, got {iterations}")
    bundle = Path(bundle)
    read_manifest(bundle)  # before the device: a wrong path is the first thing to hear about
    driver = open_device(device, list(ssh_options or []), remote_python, Path(harness) if harness else None, team)
    timing = Timing(threads, warmup, iterations, min_seconds)
    return dict(bench_bundle(bundle, Path(out) if out else bundle / "bench", driver, timing, pause))
