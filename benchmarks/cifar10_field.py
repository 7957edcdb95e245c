"""CIFAR-10 -> phone field: does distilling on field-matched views beat the alternatives in the field, with each
distillation loss, against the textbook KD loop, and what does each exported artifact of the best student cost and
keep.

    tar -xzf ../shared/datasets/cifar10-jpg.tar.gz -C /tmp/cifar
    python benchmarks/cifar10_field.py --data /tmp/cifar           # hours on two CPU cores; resumable
    python benchmarks/cifar10_field.py --data cifar10 --device cuda  # torchvision's loader, on a GPU box
    python benchmarks/cifar10_field.py --data /tmp/cifar --quick   # a few minutes: the whole pipeline, tiny

Each (loss, seed) is an ordinary `edgedistill train --domain phone --alone-on-clean --loss LOSS --cache-teacher`
run on the same training subset (the first ``--train-per-class`` images of each class, written once as an
ImageFolder so that the export's golden and calibration images come from the same place): the student alone on
clean views, alone on phone views, distilled on clean views and distilled on phone views, all from the same
initialisation within a seed. The teacher is trained once, on phone views, by the first run and shared by the
others: it sees the phone views during distillation, so it has to be right on them, and a teacher trained on clean
images would hand the student degraded soft labels exactly where the field begins. Its answers are cached once
per seed and domain and replayed by every loss; the students alone do not depend on the loss, so the later losses
of a seed take the first loss's instead of training the same weights again. The textbook KD loop
(`benchmarks/textbook_kd.py`: crop-and-flip views, Hinton's loss, SGD one-cycle, its learning rate tuned on the
first seed) runs beside each seed's kd run, with the same teacher, student, images and epochs.

The field split comes from ``imagecorruptions`` (nine camera-like corruptions at severities 1-5),
never from the kit's presets; speckle noise, Gaussian blur and saturation are reported apart as
held out. The best student (highest mean field accuracy over seeds, over losses; the first seed's weights) is
then exported to every format in fp32 and int8 through the `edgedistill export` command, its
Android bundles benchmarked with `edgedistill bench` on this machine, and every artifact that runs
here graded on the full clean, field and held-out splits. Every finished run, textbook loop and export is kept
under ``--work``: a stopped benchmark started again with the same command goes on where it stopped.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from edgedistill.config import LOSS_NAMES, TrainConfig
from edgedistill.data import DataBundle, ImageSet, load_data, to_model_input
from edgedistill.device_report import gather_measurements
from edgedistill.devices.harness import RUNNERS
from edgedistill.field import CAMERA_CORRUPTIONS, HELD_OUT_CORRUPTIONS, build_field_split
from edgedistill.fileio import write_atomic, write_json_atomic
from edgedistill.provenance import provenance
from edgedistill.run import open_run, run
from edgedistill.stages import ALONE, ALONE_CLEAN, DISTILLED, DISTILLED_CLEAN, TEACHER

TEXTBOOK_SCRIPT = Path(__file__).parent / "textbook_kd.py"

VARIANTS = {  # the run's students, named for this benchmark's phone domain
    ALONE_CLEAN.name: "alone, clean views",
    ALONE.name: "alone, phone views",
    DISTILLED_CLEAN.name: "distilled, clean views",
    DISTILLED.name: "distilled, phone views",
}
SPLITS = ("clean_acc", "field_acc", "heldout_acc")


def write_subset(data: DataBundle, train_per_class: int, test_per_class: int | None, root: Path) -> Path:
    """The first images of each class as a PNG ImageFolder (lossless, so the pixels are the source's)."""
    if (root / "done").exists():
        return root
    for split, images, per_class in (("train", data.train, train_per_class), ("test", data.test, test_per_class)):
        for label, name in enumerate(data.classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            chosen = np.flatnonzero(images.labels == label)[:per_class]
            for number, index in enumerate(chosen):
                Image.fromarray(images.images[index]).save(folder / f"{number:05d}.png")
    (root / "done").touch()
    return root


def run_dir(work: Path, loss: str, seed: int) -> Path:
    return work / loss / f"seed{seed}"


def train_runs(args, subset: Path, work: Path) -> dict[str, list[dict]]:
    """One `edgedistill train` run per loss and seed, seeds outermost, so that every loss has its first seeds
    early; a finished run (metrics.json) is read back, a stopped one resumed."""
    first = run_dir(work, args.losses[0], args.seeds[0])
    metrics: dict[str, list[dict]] = {loss: [] for loss in args.losses}
    for seed in args.seeds:
        for loss in args.losses:
            out = run_dir(work, loss, seed)
            if (out / "metrics.json").exists():
                metrics[loss].append(json.loads((out / "metrics.json").read_text()))
                continue
            cfg = TrainConfig(
                out=str(out), domain="phone", data=str(subset), student=args.student,
                teacher=args.teacher if out == first else str(first / "teacher.safetensors"), epochs=args.epochs,
                teacher_epochs=args.teacher_epochs, seed=seed, alone_on_clean=True, workers=2, stem=args.stem,
                teacher_stem=args.teacher_stem, loss=loss, cache_teacher=True,
                teacher_cache=str(work / "teacher-cache" / f"seed{seed}"), device=args.device,
            )  # fmt: skip
            cfg, _ = open_run(cfg, resume=(out / "config.yaml").exists())
            if loss != args.losses[0]:
                share_students_alone(run_dir(work, args.losses[0], seed), out)
            started = time.perf_counter()
            metrics[loss].append(run(cfg))
            print(f"{loss} seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
    return metrics


def share_students_alone(source: Path, target: Path) -> None:
    """The students alone of ``source``'s run into ``target``'s: same seed, initialisation, views and labels, so
    the same weights; the run loads a stage whose weights exist instead of training it."""
    for name in (f"{ALONE.name}.safetensors", f"{ALONE_CLEAN.name}.safetensors"):
        if not (target / name).exists():  # whole or not at all: a stopped copy must not pass for trained weights
            write_atomic(target / name, lambda temporary, name=name: shutil.copyfile(source / name, temporary))


def textbook_runs(args, work: Path) -> list[dict]:
    """`benchmarks/textbook_kd.py` beside each seed's kd run: the learning rate tuned on the first seed, then
    given to the others; a seed already done is read back."""
    results = []
    for seed in args.seeds:
        out = work / "textbook" / f"seed{seed}.json"
        if not out.exists():
            command = [sys.executable, str(TEXTBOOK_SCRIPT), "--run", str(run_dir(work, "kd", seed)), "--out", str(out)]
            command += ["--device", args.device]
            if args.quick:
                command.append("--quick")
            elif results:
                command += ["--lr", str(results[0]["lr"])]
            subprocess.run(command, check=True)
        rows = json.loads(out.read_text())["rows"]
        loop = next(row for row in rows if row["model"].startswith("textbook KD loop"))
        results.append({**loop, "lr": float(loop["model"].split("lr ")[1].split(")")[0].split(",")[0])})
    return results


def summarise_textbook(results: list[dict]) -> dict:
    return {**{split: mean_std([r[split] for r in results]) for split in SPLITS}, "train_s": mean_std(
        [r["train_s"] for r in results]), "lr": results[0]["lr"]}  # fmt: skip


def kit_seconds(all_metrics: list[dict]) -> float:
    """The distilled-on-phone student's training time per seed, its share of the teacher's answers included: the
    phone views' cache is built for it (and replayed by the other losses), so counted in full."""
    times = [m["wall_time_s"].get(DISTILLED.name, 0.0) + m["wall_time_s"].get("teacher_cache_phone", 0.0)
             for m in all_metrics]  # fmt: skip
    return float(np.mean(times))


def mean_std(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def summarise(all_metrics: list[dict]) -> dict:
    """Mean and standard deviation over seeds of every split and corruption, per variant; the teacher once."""
    summary = {}
    for key in [TEACHER.name, *VARIANTS]:
        runs = [m[key] for m in all_metrics]
        by_corruption = {**runs[0]["field_acc_by_corruption"], **runs[0]["heldout_acc_by_corruption"]}
        summary[key] = {
            "arch": runs[0]["arch"],
            "macs": runs[0]["macs"],
            "params": runs[0]["params"],
            **{split: mean_std([r[split] for r in runs]) for split in SPLITS},
            "by_corruption": {
                c: mean_std([{**r["field_acc_by_corruption"], **r["heldout_acc_by_corruption"]}[c] for r in runs])
                for c in by_corruption
            },
        }
    return summary


def checks(summary: dict, textbook: dict | None, kit_time: float, int8_field_loss: float | None = None) -> list[dict]:
    """What distillation on field-matched views must deliver here, each claim with the figures it is judged on;
    ``kit_time``: the distilled-on-phone student's training seconds, against the textbook loop's."""
    field = {key: summary[key]["field_acc"] for key in summary}
    kd, alone, kd_clean = field[DISTILLED.name], field[ALONE.name], field[DISTILLED_CLEAN.name]
    clean_loss = summary[DISTILLED_CLEAN.name]["clean_acc"]["mean"] - summary[DISTILLED.name]["clean_acc"]["mean"]
    kept = kd["mean"] / field[TEACHER.name]["mean"]
    ratio = summary[TEACHER.name]["macs"] / summary[DISTILLED.name]["macs"]
    beat_alone = kd["mean"] - alone["mean"]
    beat_clean = kd["mean"] - kd_clean["mean"]
    rows = [
        (
            "distilled-on-phone beats alone-on-phone in the field by > 2 points and > 2 std",
            beat_alone > 0.02 and beat_alone > 2 * max(kd["std"], alone["std"]),
            f"{beat_alone * 100:+.1f} points; std {kd['std'] * 100:.1f} / {alone['std'] * 100:.1f}",
        ),
        (
            "distilled-on-phone beats distilled-on-clean in the field by >= 3 points",
            beat_clean >= 0.03,
            f"{beat_clean * 100:+.1f} points",
        ),
        (
            "... and loses at most 1 point on the clean split",
            clean_loss <= 0.01,
            f"{-clean_loss * 100:+.1f} points clean",
        ),
        (
            "student keeps >= 95% of the teacher's field accuracy with >= 10x fewer MACs",
            kept >= 0.95 and ratio >= 10,
            f"{kept:.1%} kept, {ratio:.1f}x fewer MACs",
        ),
    ]
    if textbook is not None:
        loop_field, loop_heldout = textbook["field_acc"]["mean"], textbook["heldout_acc"]["mean"]
        heldout = summary[DISTILLED.name]["heldout_acc"]["mean"]
        time_ratio = kit_time / textbook["train_s"]["mean"]
        rows.append(
            (
                "distilled-on-phone beats the textbook KD loop by >= 3 field points and on the held-out "
                "corruptions, in <= 1.5x its training time",
                kd["mean"] - loop_field >= 0.03 and heldout > loop_heldout and time_ratio <= 1.5,
                f"{(kd['mean'] - loop_field) * 100:+.1f} field, {(heldout - loop_heldout) * 100:+.1f} held-out "
                f"points; {time_ratio:.2f}x its time",
            )
        )
    if int8_field_loss is not None:
        rows.append(
            (
                "int8 export loses at most 1 point of field accuracy",
                int8_field_loss <= 0.01,
                f"{-int8_field_loss * 100:+.1f} points",
            )
        )
    return [{"claim": claim, "holds": bool(holds), "figures": figures} for claim, holds, figures in rows]


def export_and_bench(run_dir: Path, variant: str, subset: Path, precisions: list[str]) -> Path:
    """`edgedistill export` and `edgedistill bench` as a user runs them; returns the export folder."""
    export_dir = run_dir / "export"
    cli = [sys.executable, "-m", "edgedistill"]
    source = (
        [str(run_dir)]
        if variant == DISTILLED.name
        else [str(run_dir / f"{variant}.safetensors"), "--data", str(subset)]
    )
    for precision in precisions:
        command = [
            *cli,
            "export",
            *source,
            "--target",
            "all",
            "--precision",
            precision,
            "--out",
            str(export_dir),
            "--qat",
            "never",  # its recorded int8 rows are post-training; benchmarks/int8_methods.py compares the methods
            "--no-mixed-precision",
            "--force",
        ]
        subprocess.run(command, check=False)  # a bundle that fails verification is still measured, marked .FAILED
        bundle = next(export_dir.glob(f"android-{precision}*"))
        subprocess.run([*cli, "bench", str(bundle), "--min-seconds", "2"], check=True)
    return export_dir


def grade_artifacts(export_dir: Path, data: DataBundle, splits: dict[str, ImageSet]) -> list[dict]:
    """Every artifact that runs on this machine, graded on the full splits, one image at a time as on a phone."""
    graded, seen = [], set()
    for manifest_path in sorted(export_dir.glob("*/manifest.json")):
        manifest = json.loads(manifest_path.read_text())
        mean, std = manifest["input"]["normalisation"]["mean"], manifest["input"]["normalisation"]["std"]
        for entry in manifest["artifacts"]:
            path = manifest_path.parent / entry["file"]
            if entry.get("sha256") in seen or entry.get("checked_with") == "spec" or not path.exists():
                continue  # the same .pte sits in the android and the ios bundle; Core ML runs on macOS only
            seen.add(entry["sha256"])
            runner = RUNNERS[entry["format"]](path, 1)
            accuracies = {}
            for split, images in splits.items():
                pixels = torch.from_numpy(images.images[:]).permute(0, 3, 1, 2)  # read from the image store
                inputs = np.ascontiguousarray(to_model_input(pixels, mean, std).numpy())
                logits = np.concatenate([runner(inputs[i : i + 1]) for i in range(len(inputs))])
                accuracies[split] = float((logits.reshape(len(inputs), -1).argmax(1) == images.labels).mean())
            graded.append(
                {"bundle": manifest_path.parent.name, "format": entry["format"], "precision": entry["precision"],
                 "file": entry["file"], "size_bytes": entry["size_bytes"], "verdict_passed": entry["passed"],
                 **accuracies}
            )  # fmt: skip
    return graded


def export_rows(summary: dict, best: str, graded: list[dict], export_dir: Path) -> list[dict]:
    """The README's table: the PyTorch student, then each graded artifact with its host p50 latency."""
    teacher, alone = summary[TEACHER.name]["field_acc"]["mean"], summary[ALONE.name]["field_acc"]["mean"]
    p50 = {(m.format, m.precision): m.p50_ms for m in gather_measurements(export_dir.parent)[0]}
    base = {"arch": summary[best]["arch"], "macs": summary[best]["macs"], "params": summary[best]["params"]}
    rows = []
    for artifact in graded:
        rows.append(
            {**base, "model": f"{artifact['format']} {artifact['precision']}", "size_bytes": artifact["size_bytes"],
             **{split: artifact[split] for split in SPLITS},
             "p50_ms": p50.get((artifact["format"], artifact["precision"]))}
        )  # fmt: skip
    for row in rows:
        row["gap_recovered"] = (row["field_acc"] - alone) / (teacher - alone) if teacher != alone else None
        row["teacher_share_kept"] = row["field_acc"] / teacher
    return rows


def percent(stat: dict) -> str:
    return f"{stat['mean']:.1%} ± {stat['std']:.1%}"


def print_loss_tables(
    console: Console, loss: str, summary: dict, textbook: dict | None, check_rows: list[dict], seeds: int
) -> None:
    table = Table(title=f"CIFAR-10 -> phone field, --loss {loss}, {seeds} seeds (mean ± std)")
    for column in ("model", "arch", "MACs", "clean acc", "field acc", "held-out acc"):
        table.add_column(column, justify="left" if column in ("model", "arch") else "right")
    for key, label in {TEACHER.name: TEACHER.label, **VARIANTS}.items():
        s = summary[key]
        table.add_row(label, s["arch"], f"{s['macs'] / 1e6:.1f} M", *(percent(s[split]) for split in SPLITS))
    if textbook is not None:
        table.add_row(
            f"textbook KD loop (lr {textbook['lr']:g})",
            summary[ALONE.name]["arch"],
            f"{summary[ALONE.name]['macs'] / 1e6:.1f} M",
            *(percent(textbook[split]) for split in SPLITS),
        )
    console.print(table)
    corruptions = list(summary[TEACHER.name]["by_corruption"])
    table = Table(title=f"Field accuracy by corruption, --loss {loss} (mean over seeds); the last three are held out")
    table.add_column("model")
    for c in corruptions:
        table.add_column(c.replace("_", " "), justify="right")
    table.add_column("mean of 9", justify="right")
    for key, label in {TEACHER.name: TEACHER.label, **VARIANTS}.items():
        by = summary[key]["by_corruption"]
        nine = np.mean([by[c]["mean"] for c in CAMERA_CORRUPTIONS])
        table.add_row(label, *(f"{by[c]['mean']:.0%}" for c in corruptions), f"{nine:.1%}")
    console.print(table)
    table = Table(title=f"Claims, --loss {loss}")
    for column in ("claim", "holds", "figures"):
        table.add_column(column)
    for check in check_rows:
        table.add_row(check["claim"], "yes" if check["holds"] else "NO", check["figures"])
    console.print(table)


def print_export_table(console: Console, title: str, rows: list[dict]) -> None:
    table = Table(title=title)
    for column in ("model", "clean", "field", "held-out", "gap recovered", "teacher kept", "size", "p50 ms"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in rows:
        gap = f"{row['gap_recovered']:.0%}" if row["gap_recovered"] is not None else "-"
        latency = f"{row['p50_ms']:.3f}" if row["p50_ms"] is not None else "-"
        table.add_row(
            row["model"], *(f"{row[split]:.1%}" for split in SPLITS), gap, f"{row['teacher_share_kept']:.0%}",
            f"{row['size_bytes'] / 1e6:.2f} MB", latency,
        )  # fmt: skip
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 as an ImageFolder root, or 'cifar10' (torchvision)")
    parser.add_argument("--teacher", default="timm:resnet34")
    parser.add_argument("--student", default="timm:regnetx_002")
    parser.add_argument("--losses", nargs="+", choices=LOSS_NAMES, default=list(LOSS_NAMES))
    parser.add_argument("--train-per-class", type=int, default=2500)
    parser.add_argument("--test-per-class", type=int, default=None, help="default: the whole test split")
    parser.add_argument("--stem", default="standard", help="students' stem: standard or small (stride 1)")
    parser.add_argument("--teacher-stem", default=None, help="the teacher's; default: --stem")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default="auto", help="as edgedistill train's --device")
    parser.add_argument("--no-textbook", dest="textbook", action="store_false", help="skip the textbook KD loop")
    parser.add_argument("--work", type=Path, default=Path("runs/cifar10-field"), help="runs, subset and exports")
    parser.add_argument("--quick", action="store_true", help="30 train and 20 test images per class, 1 epoch each")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/cifar10_field[_quick].json")
    args = parser.parse_args()
    if args.quick:
        args.train_per_class, args.test_per_class, args.epochs, args.teacher_epochs = 30, 20, 1, 1
        args.seeds = args.seeds[:2]
    textbook_on = args.textbook and "kd" in args.losses  # the loop distils with Hinton's loss, beside the kd runs
    args.out = args.out or Path(__file__).parent / "results" / f"cifar10_field{'_quick' if args.quick else ''}.json"
    started = time.perf_counter()
    console = Console(width=170)  # the per-corruption table needs the width, also when written to a log
    subset = write_subset(load_data(args.data, 32), args.train_per_class, args.test_per_class, args.work / "data")
    all_metrics = train_runs(args, subset, args.work)
    textbook = summarise_textbook(textbook_runs(args, args.work)) if textbook_on else None
    summaries = {loss: summarise(runs) for loss, runs in all_metrics.items()}
    best_loss, best = max(
        ((loss, key) for loss in args.losses for key in VARIANTS), key=lambda pick: summaries[pick[0]][pick[1]][
            "field_acc"]["mean"]
    )  # fmt: skip
    data = load_data(str(subset), 32)
    splits = {
        "clean_acc": data.test,
        "field_acc": as_image_set(build_field_split(data.test, CAMERA_CORRUPTIONS)),
        "heldout_acc": as_image_set(build_field_split(data.test, HELD_OUT_CORRUPTIONS)),
    }
    export_dir = export_and_bench(run_dir(args.work, best_loss, args.seeds[0]), best, subset, ["fp32", "int8"])
    rows = export_rows(summaries[best_loss], best, grade_artifacts(export_dir, data, splits), export_dir)
    fp32 = [r["field_acc"] for r in rows if r["model"].endswith("fp32")]
    int8 = [r["field_acc"] for r in rows if r["model"].endswith("int8")]
    int8_loss = max(fp32) - min(int8) if fp32 and int8 else None
    loss_checks = {  # the int8 claim is the exported student's, so its loss's
        loss: checks(summaries[loss], textbook if loss == "kd" else None, kit_seconds(all_metrics[loss]),
                     int8_loss if loss == best_loss else None)
        for loss in args.losses
    }  # fmt: skip
    for loss in args.losses:
        print_loss_tables(console, loss, summaries[loss], textbook, loss_checks[loss], len(args.seeds))
    print_export_table(console, f"Exported best student: {best}, --loss {best_loss} (host, 1 thread, batch 1)", rows)
    result = {
        **provenance(started),
        "settings": {
            "data": args.data,
            "train_per_class": args.train_per_class,
            "test_per_class": args.test_per_class,
            "teacher": args.teacher,
            "student": args.student,
            "losses": args.losses,
            "stem": args.stem,
            "teacher_stem": args.teacher_stem or args.stem,
            "epochs": args.epochs,
            "teacher_epochs": args.teacher_epochs,
            "seeds": args.seeds,
            "image_size": 32,
            "teacher_cache": True,
        },  # fmt: skip
        "images": {
            split: all_metrics[args.losses[0]][0]["data"][split] for split in ("train", "test", "field", "held_out")
        },  # fmt: skip
        "summary": summaries,
        "textbook": textbook,
        "kit_seconds": {loss: kit_seconds(runs) for loss, runs in all_metrics.items()},
        "best": {"loss": best_loss, "variant": best},
        "exported": rows,
        "checks": loss_checks,
        "runs": {
            loss: [{k: v for k, v in m.items() if k != "config"} for m in runs] for loss, runs in all_metrics.items()
        },  # fmt: skip
    }
    write_json_atomic(args.out, result)
    console.print(f"results: {args.out} ({result['wall_time_s'] / 60:.0f} min)")


def as_image_set(split) -> ImageSet:
    return ImageSet(split.images, split.labels)


if __name__ == "__main__":
    main()
