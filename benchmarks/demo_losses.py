"""Hinton KD, DKD and DIST on one run's data and teacher: the same images, seed, student and recipe, only
``--loss`` differs, graded on the run's clean, field and held-out splits.

    edgedistill train --domain phone --out runs/demo         # the default run (Hinton KD)
    python benchmarks/demo_losses.py --run runs/demo         # about 9 minutes per other loss on two CPU cores

Each other loss is an ordinary `edgedistill train --config RUN/config.yaml --teacher RUN/teacher.safetensors --loss
LOSS` run under ``--work``: its students alone and its teacher are the run's, so every difference between the rows
is the loss. ``--alpha A`` runs every loss (the run's own too, unless it had that alpha) at that CE weight. A
finished run is read back and a stopped one resumed, so the same command goes on where it stopped.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgedistill.config import LOSS_NAMES, TrainConfig
from edgedistill.fileio import write_json_atomic
from edgedistill.provenance import provenance
from edgedistill.stages import ALONE, DISTILLED, DISTILLED_CLEAN, DISTILLED_LABELED_ONLY, TEACHER

SPLITS = ("clean_acc", "field_acc", "heldout_acc")


def metrics_for(loss: str, alpha: float | None, run: Path, work: Path) -> dict:
    """The run's own metrics for its loss (and alpha); for another, those of a run that differs from it only by
    the loss (and ``alpha``, where given)."""
    cfg = TrainConfig.load(run)
    if cfg.loss == loss and alpha in (None, cfg.alpha):
        return json.loads((run / "metrics.json").read_text())
    out = work / (loss if alpha is None else f"{loss}-alpha{alpha:g}")
    if not (out / "metrics.json").exists():
        command = [sys.executable, "-m", "edgedistill", "train", "--out", str(out)]
        if (out / "config.yaml").exists():
            command.append("--resume")
        else:
            command += ["--config", str(run / "config.yaml"), "--teacher", str(run / f"{TEACHER.name}.safetensors")]
            command += ["--loss", loss, *(["--alpha", str(alpha)] if alpha is not None else [])]
        subprocess.run(command, check=True)
    return json.loads((out / "metrics.json").read_text())


def row(loss: str, metrics: dict) -> dict:
    """One loss's figures; the shares are None where the teacher gives nothing to share (a tiny run's tie)."""
    teacher, alone, kd = (metrics[stage.name] for stage in (TEACHER, ALONE, DISTILLED))
    gap = teacher["field_acc"] - alone["field_acc"]
    return {
        "loss": loss,
        "temperature": metrics["distillation"]["temperature"],
        "alpha": metrics["distillation"]["alpha"],
        **{split: kd[split] for split in SPLITS},
        "alone_field_acc": alone["field_acc"],
        "clean_views_field_acc": metrics[DISTILLED_CLEAN.name]["field_acc"],
        "labeled_only_field_acc": metrics.get(DISTILLED_LABELED_ONLY.name, {}).get("field_acc"),
        "gap_recovered": (kd["field_acc"] - alone["field_acc"]) / gap if gap else None,
        "teacher_share_kept": kd["field_acc"] / teacher["field_acc"] if teacher["field_acc"] else None,
        "train_s": metrics["wall_time_s"].get(DISTILLED.name),
    }


def share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished `edgedistill train` run with a teacher")
    parser.add_argument("--losses", nargs="+", choices=LOSS_NAMES, default=list(LOSS_NAMES))
    parser.add_argument("--alpha", type=float, help="every loss at this --alpha; default: the run's")
    parser.add_argument("--work", type=Path, help="the other losses' runs; default: RUN-losses")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/demo_losses.json")
    args = parser.parse_args()
    started = time.perf_counter()
    work = args.work or args.run.with_name(f"{args.run.name}-losses")
    rows, teacher = [], None
    for loss in args.losses:
        metrics = metrics_for(loss, args.alpha, args.run, work)
        teacher = metrics[TEACHER.name]
        rows.append(row(loss, metrics))
    table = Table(title=f"--loss on {args.run} (teacher field {teacher['field_acc']:.1%})")
    for column in ("loss", "clean", "field", "held-out", "alone field", "gap recovered", "teacher kept", "train s"):
        table.add_column(column, justify="left" if column == "loss" else "right")
    for r in rows:
        table.add_row(
            r["loss"], *(f"{r[split]:.1%}" for split in SPLITS), f"{r['alone_field_acc']:.1%}",
            share(r["gap_recovered"]), share(r["teacher_share_kept"]), f"{r['train_s']:.0f}",
        )  # fmt: skip
    Console().print(table)
    name = "demo_losses" if args.alpha is None else f"demo_losses_alpha{args.alpha:g}"
    out = args.out or Path(__file__).parent / "results" / f"{name}.json"
    teacher_row = {split: teacher[split] for split in SPLITS}
    write_json_atomic(out, {**provenance(started), "run": str(args.run), "teacher": teacher_row, "rows": rows})
    print(f"results: {out}")


if __name__ == "__main__":
    main()
