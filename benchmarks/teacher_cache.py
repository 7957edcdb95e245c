"""Live teacher vs teacher cache: epoch time and the field accuracy each student reaches, in one run,
on the same data, views and seeds.

    python benchmarks/teacher_cache.py           # prints a table, writes benchmarks/results/teacher_cache.json
    python benchmarks/teacher_cache.py --quick   # a minute or two, for CI-sized checks
    python benchmarks/teacher_cache.py --teacher RUN/teacher.safetensors   # reuse a trained teacher

The teacher (default timm:wide_resnet101_2, trained here on phone views for 8 epochs) has over
100x the student's MACs (timm:regnetx_002). On a CPU at 32 px, the student's backward pass is
slow for its MACs (grouped convolutions) while a ResNet's forward pass is fast for its MACs, so
the cache saves wall time in proportion to the teacher's forward cost per image, not to the MAC
ratio: with timm:resnet34 (18x the MACs) it saved 30% of an epoch (`--quick`: 6.6 s live, 4.6 s
cached). For every seed, a student is distilled with the live teacher and another from a cache
of the same views (one per epoch, so both see identical views in the same order); the two are
timed epoch by epoch and graded on the field split. The cache's build time is reported apart:
it costs about what the live teacher costs over the same epochs, and pays for itself when one
cache feeds several students or a temperature sweep.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from edgedistill.augment import build_train_transform
from edgedistill.cache_build import prepare_cache
from edgedistill.data import AugmentedViews, load_data
from edgedistill.evaluate import accuracy, predict_logits
from edgedistill.field import CAMERA_CORRUPTIONS, build_field_split
from edgedistill.losses import DistillationLoss
from edgedistill.models import count_macs, create_model, load_checkpoint, model_info
from edgedistill.provenance import provenance
from edgedistill.trainer import StageSettings, Teacher, fit


def train_teacher(arch: str, data, image_size: int, epochs: int, work: Path):
    torch.manual_seed(0)
    model = create_model(arch, len(data.classes))
    info = model_info(model, arch, data.classes, image_size)
    views = AugmentedViews(data.train.images, data.train.labels, build_train_transform("phone", image_size), seed=0)
    settings = StageSettings(epochs, 128, 3e-3, 0.05, 0, 2, optimizer="adamw")  # as when its results were measured
    fit("teacher", model, info, views, settings, work / "teacher.pt")
    return model.eval(), info


def distil(data, teacher: Teacher, arch: str, image_size: int, settings: StageSettings, work: Path) -> dict:
    """One student distilled on phone views; per-epoch seconds and its clean and field accuracy."""
    torch.manual_seed(settings.seed)
    student = create_model(arch, len(data.classes))
    info = model_info(student, arch, data.classes, image_size)
    views = AugmentedViews(
        data.train.images, data.train.labels, build_train_transform("phone", image_size), settings.seed
    )
    mode = "cached" if teacher.cache else "live"
    history = fit(
        f"{mode} s{settings.seed}", student, info, views, settings, work / f"{mode}-{settings.seed}.pt", teacher
    )
    return {"epoch_seconds": [epoch["seconds"] for epoch in history], "student": student, "info": info}


def grade(student, info, data, field) -> dict:
    return {
        "clean_acc": accuracy(predict_logits(student, data.test.images, info.mean, info.std), data.test.labels),
        "field_acc": accuracy(predict_logits(student, field.images, info.mean, info.std), field.labels),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo")
    parser.add_argument("--teacher", help="teacher checkpoint; default: train --teacher-arch here")
    parser.add_argument("--teacher-arch", default="wide_resnet101_2")
    parser.add_argument("--teacher-epochs", type=int, default=8)
    parser.add_argument("--student", default="regnetx_002")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="2 student epochs, 1 seed, 3 teacher epochs")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/teacher_cache[_quick].json")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.seeds, args.teacher_epochs = 2, args.seeds[:1], 3
    results = Path(__file__).parent / "results"
    args.out = args.out or results / ("teacher_cache_quick.json" if args.quick else "teacher_cache.json")
    started = time.perf_counter()
    console = Console()
    data = load_data(args.data, args.image_size)
    field = build_field_split(data.test, CAMERA_CORRUPTIONS, "balanced")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.teacher:
            teacher_model, teacher_info = load_checkpoint(args.teacher)
        else:
            teacher_model, teacher_info = train_teacher(
                args.teacher_arch, data, args.image_size, args.teacher_epochs, work
            )
        loss = DistillationLoss(4.0, 0.9)
        runs = []
        for seed in args.seeds:
            settings = StageSettings(args.epochs, 128, 3e-3, 0.05, seed, 2, optimizer="adamw")
            live = distil(
                data, Teacher(teacher_model, teacher_info, loss), args.student, args.image_size, settings, work
            )
            build_start = time.perf_counter()
            cache = prepare_cache(
                work / f"cache-{seed}", teacher_model, teacher_info, data.train, "phone", args.image_size, seed,
                args.epochs, None, 256, 2,
            )  # fmt: skip
            build_seconds = time.perf_counter() - build_start
            cached_teacher = Teacher(teacher_model, teacher_info, loss, cache.reader())
            cached = distil(data, cached_teacher, args.student, args.image_size, settings, work)
            runs.append(
                {
                    "seed": seed,
                    "live": {
                        "epoch_seconds": live["epoch_seconds"],
                        **grade(live["student"], live["info"], data, field),
                    },
                    "cached": {
                        "epoch_seconds": cached["epoch_seconds"],
                        "cache_build_seconds": build_seconds,
                        **grade(cached["student"], cached["info"], data, field),
                    },
                }
            )
        teacher_grade = grade(teacher_model, teacher_info, data, field)
        student_macs = count_macs(create_model(args.student, len(data.classes)), args.image_size)
        teacher_macs = count_macs(teacher_model, args.image_size)

    def summary(mode: str) -> dict:
        epochs = [s for run in runs for s in run[mode]["epoch_seconds"][1:]]  # the first epoch warms caches up
        fields = [run[mode]["field_acc"] for run in runs]
        return {
            "epoch_seconds_median": statistics.median(epochs),
            "field_acc_mean": float(np.mean(fields)),
            "field_acc_std": float(np.std(fields, ddof=1)) if len(fields) > 1 else 0.0,
            "clean_acc_mean": float(np.mean([run[mode]["clean_acc"] for run in runs])),
        }

    live_summary, cached_summary = summary("live"), summary("cached")
    speedup = live_summary["epoch_seconds_median"] / cached_summary["epoch_seconds_median"]
    build = statistics.median(run["cached"]["cache_build_seconds"] for run in runs)
    table = Table(title=f"Teacher cache: {args.teacher_arch if not args.teacher else args.teacher} -> {args.student}")
    for column in ("training", "epoch s (median)", "speed-up", "field acc", "clean acc", "cache build s"):
        table.add_column(column, justify="left" if column == "training" else "right")
    for name, row, extra in (("live teacher", live_summary, "-"), ("teacher cache", cached_summary, f"{build:.0f}")):
        ratio = live_summary["epoch_seconds_median"] / row["epoch_seconds_median"]
        table.add_row(
            name, f"{row['epoch_seconds_median']:.2f}", f"{ratio:.2f}x",
            f"{row['field_acc_mean']:.1%} ± {row['field_acc_std']:.1%}", f"{row['clean_acc_mean']:.1%}", extra,
        )  # fmt: skip
    table.caption = (
        f"teacher {teacher_macs / 1e6:.1f} M MACs ({teacher_macs / student_macs:.0f}x the student's), field acc "
        f"{teacher_grade['field_acc']:.1%}; {len(runs)} seed(s) x {args.epochs} epochs, {len(data.train.labels)} images"
    )
    console.print(table)
    result = {
        **provenance(started),
        "teacher": {"arch": teacher_info.arch, "macs": teacher_macs, **teacher_grade},
        "student": {"arch": args.student, "macs": student_macs},
        "epochs": args.epochs,
        "speedup_per_epoch": speedup,
        "live": live_summary,
        "cached": {**cached_summary, "cache_build_seconds_median": build},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"speed-up per epoch {speedup:.2f}x; results: {args.out}")


if __name__ == "__main__":
    main()
