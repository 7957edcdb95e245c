"""The ``edgedistill`` command line."""

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from edgedistill import distributed, interrupt
from edgedistill.accelerator import resolve as resolve_accelerator
from edgedistill.cli_augment import augment_app
from edgedistill.config import DEFAULT_STUDENT, TrainConfig, merge_settings, read_settings, upgrade_saved_run
from edgedistill.errors import UserError, name_settings_as_flags
from edgedistill.rundir import is_run_dir
from edgedistill.terminal import console, errors, fail, one_line_errors

app = typer.Typer(
    help="Distil big image models into small ones that hold up on phone photos.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(augment_app, name="augment")


@app.callback()
def speak_flags() -> None:
    """Distil big image models into small ones that hold up on phone photos."""
    name_settings_as_flags()  # messages of the library name settings as the flags typed here


DEVICE_HELP = "Where models run: auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps."
AMP_HELP = "Mixed precision: auto (bf16, or fp16 where bf16 is missing, on CUDA; off elsewhere), bf16, fp16, off."
WORKERS_HELP = (
    "DataLoader processes that augment; default: one per CPU core (shared among torchrun's ranks), at most 16."
)


@app.command()
def train(
    domain: Annotated[str, typer.Option(help="Field domain preset (phone, clean) or a preset YAML path.")] = "phone",
    data: Annotated[
        str,
        typer.Option(help="'demo' (embedded, no download), 'cifar10', or an ImageFolder root with train/ and test/."),
    ] = "demo",
    teacher: Annotated[
        str | None,
        typer.Option(
            help="timm:NAME to train in this run; or a trained teacher: an edgedistill checkpoint, a TorchScript "
            "or torch.export (.pt2) file, an ONNX model, a Hugging Face classifier's folder. Default: train "
            "timm:resnet18."
        ),
    ] = None,
    teacher_weights: Annotated[
        Path | None,
        typer.Option(
            help="Plain weights (.safetensors, .pt) of the --teacher timm:NAME, trained elsewhere: no training."
        ),
    ] = None,
    teacher_mean: Annotated[
        tuple[float, float, float] | None,
        typer.Option(help="R G B mean (0..1 pixels) a TorchScript or Hugging Face teacher expects. Default: its own."),
    ] = None,
    teacher_std: Annotated[
        tuple[float, float, float] | None, typer.Option(help="R G B std of such a teacher. Default: its own.")
    ] = None,
    student: Annotated[str, typer.Option(help="timm:NAME of the student.")] = DEFAULT_STUDENT,
    student_weights: Annotated[
        Path | None,
        typer.Option(help="Start the students from these weights (e.g. ImageNet's); a classifier that differs is new."),
    ] = None,
    pretrained: Annotated[bool, typer.Option(help="Start timm models from hub weights (downloads once).")] = False,
    stem: Annotated[
        str,
        typer.Option(
            help="Stem of the timm students: standard (as built for ImageNet) or small (first convolution at "
            "stride 1, no stem max-pool: for 32-64 px inputs; feature maps 2-4x larger per side, 4-16x the compute)."
        ),
    ] = TrainConfig.stem,
    teacher_stem: Annotated[
        str | None,
        typer.Option(help="Stem of a timm teacher trained here or given by --teacher-weights. Default: --stem."),
    ] = TrainConfig.teacher_stem,
    epochs: Annotated[int, typer.Option(help="Student epochs.")] = TrainConfig.epochs,
    teacher_epochs: Annotated[
        int, typer.Option(help="Epochs when the teacher is trained in the run.")
    ] = TrainConfig.teacher_epochs,
    image_size: Annotated[int, typer.Option(help="Input resolution in pixels.")] = TrainConfig.image_size,
    batch_size: Annotated[int, typer.Option()] = TrainConfig.batch_size,
    optimizer: Annotated[
        str, typer.Option(help="Optimiser of the students: sgd (Nesterov momentum 0.9) or adamw.")
    ] = TrainConfig.optimizer,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Peak learning rate of the students. Default: 0.2 with sgd, 3e-3 with adamw, at --batch-size 128; "
            "scaled with the batch size (linearly for sgd, by its square root for adamw)."
        ),
    ] = TrainConfig.lr,
    weight_decay: Annotated[
        float | None, typer.Option(help="Of the students. Default: 5e-4 with sgd, 0.05 with adamw.")
    ] = TrainConfig.weight_decay,
    clip_grad: Annotated[
        float,
        typer.Option(
            help="The students' gradient norm is clipped to this each step (DKD and DIST spike where KD does not); "
            "0 turns it off."
        ),
    ] = TrainConfig.clip_grad,
    teacher_optimizer: Annotated[
        str, typer.Option(help="Optimiser of a teacher trained in the run: sgd or adamw.")
    ] = TrainConfig.teacher_optimizer,
    teacher_lr: Annotated[
        float | None,
        typer.Option(
            help="Peak learning rate of a teacher trained in the run. Default: its optimiser's, scaled alike."
        ),
    ] = TrainConfig.teacher_lr,
    teacher_weight_decay: Annotated[
        float | None, typer.Option(help="Of a teacher trained in the run. Default: its optimiser's.")
    ] = TrainConfig.teacher_weight_decay,
    loss: Annotated[
        str,
        typer.Option(
            help="Distillation loss: kd (Hinton), dkd (decoupled KD), dist (DIST, correlation), or 'auto' (swept "
            "on field-domain validation views)."
        ),
    ] = TrainConfig.loss,
    temperature: Annotated[
        str, typer.Option(help="Distillation temperature T, or 'auto' (swept on field-domain validation views).")
    ] = str(TrainConfig.temperature),
    alpha: Annotated[
        str, typer.Option(help="Weight of the KL term (1 - alpha weighs cross-entropy), or 'auto'.")
    ] = str(TrainConfig.alpha),
    sweep_epochs: Annotated[
        int | None, typer.Option(help="Epochs per candidate of an 'auto' sweep. Default: --epochs / 4.")
    ] = None,
    seed: Annotated[int, typer.Option()] = TrainConfig.seed,
    out: Annotated[Path | None, typer.Option(help="Run directory. Default: runs/DOMAIN-TIMESTAMP.")] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out with its saved settings (--workers, --device may change).")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Replace the edgedistill run in --out; it is kept until the new run has started.")
    ] = False,
    workers: Annotated[int | None, typer.Option(help=WORKERS_HELP)] = TrainConfig.workers,
    cache_teacher: Annotated[
        bool, typer.Option(help="Read the teacher's answers per replayed view from a cache instead of running it.")
    ] = False,
    teacher_cache: Annotated[
        Path | None, typer.Option(help="Cache root (from `edgedistill cache-teacher`). Default: RUN/teacher-cache.")
    ] = None,
    views: Annotated[
        int | None, typer.Option(help="Cached views per image; epochs beyond cycle. Default: --epochs.")
    ] = None,
    topk: Annotated[int | None, typer.Option(help="Cache only the teacher's top-k logits per view.")] = None,
    unlabeled: Annotated[
        Path | None, typer.Option(help="Folder of images without labels, distilled with the KL term only.")
    ] = None,
    alone_on_clean: Annotated[
        bool, typer.Option(help="Also train the student alone on clean views (the full views x teacher 2x2).")
    ] = False,
    unlabeled_ratio: Annotated[
        float, typer.Option(help="Unlabeled views per labeled image in each distillation epoch.")
    ] = TrainConfig.unlabeled_ratio,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = TrainConfig.device,
    amp: Annotated[str, typer.Option(help=AMP_HELP)] = TrainConfig.amp,
    field_grid: Annotated[
        str, typer.Option(help="Severities per field test image: balanced (one, in turn) or full (all five).")
    ] = TrainConfig.field_grid,
    config: Annotated[
        Path | None,
        typer.Option(help="Settings from a YAML file (a run's config.yaml, or some settings); options given override."),
    ] = None,
    context: typer.Context = None,
) -> None:
    """Train (or load) a teacher and distil a student on field-domain views, then evaluate all of it."""
    from edgedistill.report import summary_table
    from edgedistill.run import open_run, run
    from edgedistill.tuning import parse_setting

    interrupt.install()
    given = {name for name in context.params if _from_command_line(context, name)}
    if "teacher_cache" in given:
        given.add("cache_teacher")
    if resume and out is None:
        fail("--resume needs --out RUN_DIR, the run to continue")
    if resume and config is not None:
        fail("--resume continues a run with its saved settings and --config starts one from a file; pass one of them")
    with one_line_errors():
        flags = dict(
            out=str(out) if out else None, domain=domain, data=data, teacher=teacher, student=student,
            teacher_weights=str(teacher_weights) if teacher_weights else None,
            teacher_mean=list(teacher_mean) if teacher_mean else None,
            teacher_std=list(teacher_std) if teacher_std else None,
            student_weights=str(student_weights) if student_weights else None,
            pretrained=pretrained, stem=stem, teacher_stem=teacher_stem, epochs=epochs, teacher_epochs=teacher_epochs,
            image_size=image_size,
            batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay, clip_grad=clip_grad,
            teacher_optimizer=teacher_optimizer, teacher_lr=teacher_lr, teacher_weight_decay=teacher_weight_decay,
            loss=loss, temperature=parse_setting(temperature, "temperature"), alpha=parse_setting(alpha, "alpha"),
            sweep_epochs=sweep_epochs, seed=seed, workers=workers, field_grid=field_grid,
            alone_on_clean=alone_on_clean, cache_teacher=cache_teacher,
            teacher_cache=str(teacher_cache) if teacher_cache else None, views=views, topk=topk,
            unlabeled=str(unlabeled) if unlabeled else None, unlabeled_ratio=unlabeled_ratio, device=device, amp=amp,
        )  # fmt: skip
        if config is not None and not config.is_file():
            raise UserError(
                f"--config {config} is not a file; give a YAML file of settings, such as a run's config.yaml"
            )
        from_file = read_settings(config) if config else {}
        if config is not None and is_run_dir(config.parent):
            upgrade_saved_run(from_file)  # it re-runs as it trained
            from_file.pop("out", None)  # a run's own config re-runs as a new run, never over the run it came from
        settings = merge_settings(flags, from_file, given)
        settings["cache_teacher"] = settings["cache_teacher"] or settings["teacher_cache"] is not None
        if settings["out"] is None:
            settings["out"] = str(Path("runs") / f"{Path(settings['domain']).stem}-{time.strftime('%Y%m%d-%H%M%S')}")
        out = Path(settings["out"])
        cfg = TrainConfig(**settings)
        saved = TrainConfig.load(out) if resume else cfg  # a resumed run keeps its device unless given anew
        where = resolve_accelerator(device if "device" in given else saved.device, saved.amp)
    distributed.init_from_env(where.device)
    claim = None
    try:
        with one_line_errors():
            ready = None
            try:
                if distributed.is_main():
                    cfg, claim = open_run(cfg, resume, force, frozenset(given))
                    ready = cfg
            finally:  # the other ranks wait for rank 0's config, or for None when it failed, and then stop too
                ready = distributed.share_from_main(ready)
            if ready is None:
                fail("rank 0 could not prepare the run directory (its error is above)")
            cfg = ready
            with training_progress(enabled=distributed.is_main()) as progress:
                metrics = run(cfg, progress if distributed.is_main() else None, claim.start if claim else None)
    except KeyboardInterrupt:
        if claim is not None and claim.rollback():
            errors.print(f"interrupted before the run started; nothing of it was kept in {out}")
        elif distributed.is_main():
            errors.print(f"interrupted; finished epochs are saved. Resume with: edgedistill train --resume --out {out}")
        raise typer.Exit(130) from None
    except BaseException:
        if claim is not None:
            claim.rollback()  # a run that failed before it started leaves nothing behind; a started one resumes
        raise
    if metrics is None:
        return  # a rank other than 0 under torchrun: rank 0 prints
    console.print(summary_table(metrics))
    if metrics["distillation"]["sweep"]:
        chosen = metrics["distillation"]["sweep"]["chosen"]
        console.print(
            f"sweep chose loss {chosen['loss']}, T = {chosen['temperature']:g}, alpha = {chosen['alpha']:g} "
            f"({chosen['val_field_acc']:.1%} on field-domain validation views; all candidates in report.md)"
        )
    console.print(f"run directory: {out} (metrics.json, report.md)")


@contextmanager
def stopped_by_ctrl_c(kept: str) -> Iterator[None]:
    """Ctrl-C as one line saying what was kept, exit 130, on rank 0 only."""
    try:
        yield
    except KeyboardInterrupt:
        if distributed.is_main():
            errors.print(f"interrupted; {kept}")
        raise typer.Exit(130) from None


def _from_command_line(context: typer.Context, name: str) -> bool:
    """Whether the user typed option ``name`` (rather than leaving its default). Typer bundles its own click,
    so the source is compared by name, not with click's enum."""
    source = context.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


@app.command("cache-teacher")
def cache_teacher_command(
    teacher: Annotated[Path, typer.Option(help="Teacher checkpoint (.safetensors), e.g. RUN/teacher.safetensors.")],
    out: Annotated[
        Path, typer.Option(help="Cache root; the cache lands in OUT/DOMAIN. Pass it to train --teacher-cache.")
    ],
    domain: Annotated[
        str, typer.Option(help="Domain preset of the views (phone, clean, ...) or a preset YAML.")
    ] = "phone",
    data: Annotated[str, typer.Option(help="'demo', 'cifar10' or an ImageFolder root: the training images.")] = "demo",
    views: Annotated[int, typer.Option(min=1, help="Views per image (train's --epochs for one per epoch).")] = 20,
    topk: Annotated[int | None, typer.Option(min=1, help="Keep only the top-k logits per view.")] = None,
    seed: Annotated[int, typer.Option(help="Run seed: views are replayed from it, so train with the same.")] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    workers: Annotated[int | None, typer.Option(min=0, help=WORKERS_HELP)] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP)] = "auto",
    amp: Annotated[str, typer.Option(help=AMP_HELP)] = "auto",
) -> None:
    """Build (or finish) a teacher cache ahead of training; resumable, and sharded by rank under torchrun."""
    from edgedistill.cache_build import prepare_cache
    from edgedistill.data import load_data, worker_count
    from edgedistill.models import load_checkpoint
    from edgedistill.run import with_unlabeled

    interrupt.install()
    with one_line_errors():
        where = resolve_accelerator(device, amp)
    distributed.init_from_env(where.device)  # under torchrun: each rank builds its share of the chunks
    with one_line_errors(), stopped_by_ctrl_c("finished chunks are kept; run the same command again to finish"):
        model, info = load_checkpoint(teacher)
        loaded = load_data(data, info.image_size)
        if loaded.classes != info.classes:
            fail(f"teacher {teacher} predicts classes {info.classes[:5]}... but {data} has {loaded.classes[:5]}...")
        images = with_unlabeled(loaded, image_size=info.image_size, seed=seed)  # the set train distils on
        with training_progress(enabled=distributed.is_main()) as progress:
            cache = prepare_cache(
                out,
                model,
                info,
                images,
                domain,
                info.image_size,
                seed,
                views,
                topk,
                batch_size,
                worker_count(workers),
                progress,
                where,
            )
    if distributed.is_main():
        console.print(f"teacher cache: {cache.folder} ({cache.views} views x {len(images.labels)} images)")


def training_progress(enabled: bool = True) -> Progress:
    """The live progress bars; off on the ranks other than 0, which would draw over rank 0's."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}  acc {task.fields[acc]:.1%}  {task.fields[ips]:.0f} img/s"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not enabled,
    )


@app.command()
def export(
    run_or_checkpoint: Annotated[
        Path, typer.Argument(metavar="RUN", help="Run directory of `edgedistill train`, or a checkpoint file.")
    ],
    target: Annotated[
        str, typer.Option(help="android (ExecuTorch + TFLite), ios (Core ML + ExecuTorch) or all.")
    ] = "all",
    precision: Annotated[str, typer.Option(help="fp32, fp16 (Core ML only) or int8.")] = "fp32",
    student: Annotated[
        str | None, typer.Option(help="timm:NAME of plain weights trained elsewhere (RUN is then the weights file).")
    ] = None,
    data: Annotated[str | None, typer.Option(help="Data of a checkpoint's golden and calibration images.")] = None,
    image_size: Annotated[int | None, typer.Option(min=8, help="Input size of plain weights (with --student).")] = None,
    stem: Annotated[
        str, typer.Option(help="Stem of plain weights (with --student): standard or small, as they were trained.")
    ] = "standard",
    out: Annotated[Path | None, typer.Option(help="Folder for the bundles. Default: RUN/export.")] = None,
    calibration: Annotated[int, typer.Option(min=1, help="Field-domain training views that calibrate int8.")] = 256,
    qat: Annotated[
        str,
        typer.Option(
            help="Quantization-aware fine-tuning of int8 (ExecuTorch, TFLite): auto (when post-training int8 misses "
            "the contract), always or never."
        ),
    ] = "auto",
    qat_epochs: Annotated[int, typer.Option(min=1, help="Epochs of quantization-aware fine-tuning.")] = 2,
    mixed_precision: Annotated[
        bool,
        typer.Option(
            help="When int8 still misses the contract (after fine-tuning with --qat auto; not with --qat always), "
            "keep the layers it hurts most in fp32 (ExecuTorch; LiteRT's quantizer cannot)."
        ),
    ] = True,
    golden: Annotated[
        int, typer.Option(min=1, help="Field test images in golden.npz, checked on every artifact.")
    ] = 500,
    force: Annotated[bool, typer.Option(help="Replace existing bundles.")] = False,
) -> None:
    """Export the distilled student to phone runtimes as verified bundles (model, manifest, golden set)."""
    from edgedistill.export.bundle import VERIFICATION_COLUMNS, verification_rows
    from edgedistill.export.exporter import TARGETS, check_request, export_bundles
    from edgedistill.export.quantize import QAT_MODES, FineTuning
    from edgedistill.export.source import load_source

    targets = list(TARGETS) if target == "all" else [target]
    if any(t not in TARGETS for t in targets):
        fail(f"unknown --target '{target}'; choose android, ios or all")
    if precision not in ("fp32", "fp16", "int8"):
        fail(f"unknown --precision '{precision}'; choose fp32, fp16 or int8")
    if qat not in QAT_MODES:
        fail(f"unknown --qat '{qat}'; choose {', '.join(QAT_MODES)}")
    with one_line_errors():
        check_request(targets, precision)
        source = load_source(run_or_checkpoint, student, data, image_size, stem)
        out = out or source.default_out
        existing = [out / f"{t}-{precision}{suffix}" for t in targets for suffix in ("", ".FAILED")]
        if any(path.exists() for path in existing) and not force:
            fail(f"bundles already exist in {out}; pass --force to replace them or choose another --out")
        results = export_bundles(
            source, targets, precision, out, calibration, golden, report=console.print, qat=qat,
            fine_tuning=FineTuning(epochs=qat_epochs), mixed_precision=mixed_precision,
        )  # fmt: skip
    failed = False
    for name, (landed, artifacts) in results.items():
        table = Table(*VERIFICATION_COLUMNS[:-1], title=f"{name} bundle: {landed}")
        for row in verification_rows(artifacts):
            table.add_row(*row[:-1])
        console.print(table)
        for row in verification_rows(artifacts):
            method = f" {row[2]}" if row[2] != "-" else ""  # int8: ptq, qat or mixed
            console.print(f"  {row[0]} {row[1]}{method}: {row[-1]}")
        failed |= landed.name.endswith(".FAILED")
    if failed:
        fail("an artifact failed verification (figures above and in verification.md); its bundle is marked .FAILED")


@app.command()
def bench(
    bundle: Annotated[Path, typer.Argument(help="A bundle folder written by `edgedistill export`.")],
    device: Annotated[
        str, typer.Option(help="host, ssh://user@host[:port] (a Linux board), adb[:SERIAL] or ios:UDID.")
    ] = "host",
    threads: Annotated[int, typer.Option(min=1, help="Threads per runtime.")] = 1,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs before timing.")] = 20,
    iterations: Annotated[int | None, typer.Option(min=1, help="Timed runs (default: --min-seconds).")] = None,
    min_seconds: Annotated[float, typer.Option(min=0.0, help="Time each model at least this long.")] = 3.0,
    pause: Annotated[float, typer.Option(min=0.0, help="Seconds of rest between models (thermal).")] = 0.0,
    out: Annotated[Path | None, typer.Option(help="Folder for the result JSONs. Default: BUNDLE/bench.")] = None,
    ssh_option: Annotated[
        list[str] | None, typer.Option(help="ssh -o setting for ssh:// devices, e.g. IdentityFile=~/.ssh/pi.")
    ] = None,
    remote_python: Annotated[str, typer.Option(help="Python on an ssh:// board, with numpy and the runtimes.")] = (
        "python3"
    ),
    harness: Annotated[
        Path | None, typer.Option(help="Built harness for adb/ios. Default: devices/android or devices/ios.")
    ] = None,
    team: Annotated[str | None, typer.Option(help="Apple development team that signs the iOS harness.")] = None,
) -> None:
    """Benchmark every model of a bundle with its runtime on a device, with the PyTorch student as the
    baseline on the host."""
    from edgedistill.api import bench as bench_models
    from edgedistill.devices.bench import read_manifest

    with one_line_errors():
        manifest = read_manifest(bundle)
        results = bench_models(
            bundle, device, threads=threads, warmup=warmup, iterations=iterations, min_seconds=min_seconds,
            pause=pause, out=out, ssh_options=ssh_option, remote_python=remote_python, harness=harness, team=team,
        )  # fmt: skip
    drivers = sorted({r["device"]["driver"] for r in results.values() if isinstance(r, dict)})  # e.g. adb:SERIAL
    console.print(bench_table(results, f"{bundle} on {', '.join(drivers) or device}"))
    for name, result in results.items():
        if isinstance(result, str):
            console.print(f"  {name} not run: {result}")
    if not manifest["passed"]:
        console.print("note: this bundle failed its export verification (verification.md): measure it, do not ship it")
    if not any(isinstance(result, dict) for result in results.values()):
        fail(f"no model of {bundle} could be measured on {device} (reasons above)")
    console.print(f"results: {out or bundle / 'bench'}")


def bench_table(results: dict[str, dict | str], title: str) -> Table:
    """Latency, load time, memory and agreement per model; speed-up against eager when it ran."""
    eager = next((r for name, r in results.items() if name.startswith("pytorch") and isinstance(r, dict)), None)
    columns = ["model", "precision", "p50 ms", "p90 ms", "mean ± std ms", "load ms", "peak MB"]
    table = Table(*columns, "top-1 = student", "top-1 = teacher", "field acc", "p50 vs eager", title=title)
    for name, result in results.items():
        if isinstance(result, str):
            table.add_row(name, "", "", "", "", "", "", "", "", "", "not run (below)")
            continue
        latency, agree = result["latency_ms"], result["agreement"]
        speedup = f"{eager['latency_ms']['p50'] / latency['p50']:.1f}x" if eager else "-"
        teacher = agree["top1_agreement_teacher"]
        table.add_row(
            name, result["model"]["precision"], f"{latency['p50']:.3f}", f"{latency['p90']:.3f}",
            f"{latency['mean']:.3f} ± {latency['std']:.3f}", f"{result['load_ms']:.0f}",
            f"{result['peak_memory_mb']:.0f}" if result["peak_memory_mb"] else "-",
            f"{agree['top1_agreement_student']:.1%}", f"{teacher:.1%}" if teacher is not None else "-",
            f"{agree['field_acc']:.1%}", speedup,
        )  # fmt: skip
    return table


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run directory (metrics.json, export/*/bench/*.json).")],
) -> None:
    """Gather a run's metrics and every device result into report.md and PNG plots."""
    from edgedistill.report import write_run_report

    with one_line_errors():
        path, plots = write_run_report(run)
    console.print(f"report: {path}")
    for plot in plots:
        console.print(f"plot: {plot}")


def main() -> None:
    sys.exit(app())
