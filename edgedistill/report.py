"""The run's summary: one table on screen and the same figures in words in report.md; with
``edgedistill report``, also what each exported artifact costs and keeps on each device."""

import json
import zipfile
from pathlib import Path

import numpy as np
from rich.table import Table

from edgedistill.config import upgrade_saved_run
from edgedistill.device_report import COLUMNS as DEVICE_COLUMNS
from edgedistill.device_report import Measurement, gather_measurements, measurement_rows, recommendation
from edgedistill.errors import UserError
from edgedistill.fileio import write_text_atomic
from edgedistill.stages import TABLE_ORDER, TEACHER

ROWS = {stage.name: stage.label for stage in TABLE_ORDER}
COLUMNS = ("model", "arch", "clean acc", "field acc", "held-out acc", "agree (field)", "params", "MACs")


def table_rows(metrics: dict) -> list[list[str]]:
    """One row of COLUMNS per model of the run, formatted for people."""
    rows = []
    for key, label in ROWS.items():
        if key in metrics:
            m = metrics[key]
            agree = f"{m['agreement_field']:.1%}" if "agreement_field" in m else "-"
            held_out = f"{m['heldout_acc']:.1%}" if "heldout_acc" in m else "-"  # runs before held-out existed
            rows.append(
                [label, m["arch"], f"{m['clean_acc']:.1%}", f"{m['field_acc']:.1%}", held_out, agree]
                + [f"{m['params'] / 1e6:.2f} M", f"{m['macs'] / 1e6:.1f} M"]
            )
    return rows


def summary_table(metrics: dict) -> Table:
    table = Table(title=f"edgedistill run: domain '{metrics['config']['domain']}', data '{metrics['data']['source']}'")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("model", "arch") else "right")
    for row in table_rows(metrics):
        table.add_row(*row)
    table.caption = headline(metrics)
    return table


def headline(metrics: dict) -> str:
    gap = metrics["gap_recovered_field"]
    gap_text = f"{gap:.0%}" if gap is not None else "n/a (the student alone matches the teacher)"
    kept = metrics["teacher_share_kept_field"]
    kept_text = f"{kept:.0%}" if kept is not None else "n/a (the teacher scores 0)"
    ratio = metrics["macs_ratio_teacher_to_student"]
    return (
        f"gap recovered on the field split: {gap_text}; the distilled student keeps {kept_text} of the teacher's "
        f"field accuracy with {ratio:.0f}x fewer MACs"
    ) + unlabeled_text(metrics.get("unlabeled"))


def unlabeled_text(unlabeled: dict | None) -> str:
    """How much the unlabeled images helped: KD with them against the same KD without them."""
    if not unlabeled:
        return ""
    field, clean = unlabeled["field_acc_gain"] * 100, unlabeled["clean_acc_gain"] * 100
    return (
        f"; {unlabeled['images']} unlabeled images (ratio {unlabeled['ratio']:g}) changed field accuracy by "
        f"{field:+.1f} points and clean accuracy by {clean:+.1f}"
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def write_report(path: Path, metrics: dict) -> None:
    write_text_atomic(path, "\n".join(["# edgedistill run report", "", *training_lines(metrics)]))


def training_lines(metrics: dict) -> list[str]:
    cfg, data = metrics["config"], metrics["data"]
    corruptions = list(accuracy_by_corruption(metrics[TEACHER.name]))
    by_corruption = [
        [label] + [f"{accuracy_by_corruption(metrics[key])[c]:.1%}" for c in corruptions]
        for key, label in ROWS.items()
        if key in metrics
    ]
    return [
        f"Domain `{cfg['domain']}`, data `{data['source']}`: {data['train']} training images, {data['test']} test "
        f"images, {data['field']} field images at {cfg['image_size']} px. {cfg['epochs']} student epochs "
        f"({recipe(cfg)}), "
        f"loss {metrics['distillation'].get('loss', 'kd')}, T = {metrics['distillation']['temperature']:g}, "
        f"alpha = {metrics['distillation']['alpha']:g}"
        f"{' (chosen by the sweep below)' if metrics['distillation']['sweep'] else ''}, seed {cfg['seed']}.",
        "",
        "The field split is the test split passed through the camera-like corruptions of `imagecorruptions` "
        "(the ImageNet-C reference code), never through this kit's own presets. The held-out split uses three "
        "more of its corruptions (speckle noise, Gaussian blur, saturation) that no choice of the kit looks at.",
        "",
        *markdown_table(list(COLUMNS), table_rows(metrics)),
        "",
        headline(metrics) + ".",
        "",
        "## Field accuracy by corruption",
        "",
        *markdown_table(["model", *corruptions], by_corruption),
        "",
        f"Wall time: {metrics['wall_time_s']['total']:.0f} s.",
        "",
        *sweep_lines(metrics["distillation"]["sweep"]),
    ]


def accuracy_by_corruption(model_metrics: dict) -> dict[str, float]:
    """Field accuracy per corruption, then the held-out corruptions marked as such."""
    held_out = model_metrics.get("heldout_acc_by_corruption", {})
    return {**model_metrics["field_acc_by_corruption"], **{f"{name} (held out)": acc for name, acc in held_out.items()}}


def sweep_lines(sweep: dict | None) -> list[str]:
    """The sweep of an 'auto' run: every (loss, temperature, alpha) candidate and the one chosen."""
    if not sweep:
        return []
    rows = [
        [
            row.get("loss", "kd"),
            f"{row['temperature']:g}",
            f"{row['alpha']:g}",
            "diverged" if row["val_field_acc"] is None else f"{row['val_field_acc']:.1%}",
            "chosen" if row == sweep["chosen"] else "",
        ]
        for row in sweep["rows"]
    ]
    return [
        "## Loss, temperature and alpha sweep",
        "",
        f"Each candidate distilled a student for {sweep['epochs']} epoch(s), scored on field-domain views of "
        f"{sweep['validation']} (never the test split).",
        "",
        *markdown_table(["loss", "T", "alpha", "validation field acc", ""], rows),
        "",
    ]


PLOTS = ("accuracy_vs_latency.png", "model_size.png", "agreement.png")


def write_run_report(run: Path) -> tuple[Path, list[Path]]:
    """report.md and the plots of ``run``: training figures from metrics.json, device figures from
    every bench result of its bundles. Returns the report and the plots written."""
    from edgedistill.plots import plot_accuracy_vs_latency, plot_agreement, plot_model_size

    metrics = read_metrics(run)
    measurements, unreadable = gather_measurements(run)
    if metrics is None and not measurements:
        names = ", ".join(str(path.relative_to(run)) for path in unreadable)
        broken = f" ({names}: not bench results)" if unreadable else ""
        raise UserError(
            f"{run} has neither metrics.json nor bench results{broken}; give a run directory of `edgedistill train`, "
            "or run `edgedistill export RUN` and `edgedistill bench RUN/export/BUNDLE` first"
        )
    lines = ["# edgedistill run report", ""]
    lines += training_lines(metrics) if metrics else ["No metrics.json: this run holds exported models only.", ""]
    plots: list[Path] = []
    if not measurements:
        lines += ["No device results yet: `edgedistill bench RUN/export/BUNDLE` adds them.", ""]
    else:
        paths = [run / "plots" / name for name in PLOTS]
        plot_accuracy_vs_latency(measurements, teacher_golden_accuracy(run), paths[0])
        plot_model_size(measurements, paths[1])
        plot_agreement(measurements, paths[2])
        plots = paths
        lines += device_lines(measurements)
    if unreadable:
        lines += ["Not bench results, left out: " + ", ".join(f"`{path.relative_to(run)}`" for path in unreadable), ""]
    report = run / "report.md"
    write_text_atomic(report, "\n".join(lines))
    return report, plots


def read_metrics(run: Path) -> dict | None:
    """``run/metrics.json`` (None when there is none), checked by rendering it: a damaged or foreign file
    stops with one line before report.md or any plot is touched."""
    path = run / "metrics.json"
    if not path.is_file():
        return None
    fix = f"delete it and run `edgedistill train --resume --out {run}` to measure the run again"
    try:
        metrics = json.loads(path.read_text())
    except ValueError as error:  # JSONDecodeError, or UnicodeDecodeError for a binary file
        raise UserError(f"{path} is not JSON ({error}); {fix}") from None
    try:
        training_lines(metrics)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        problem = f"no entry {error}" if isinstance(error, KeyError) else f"{type(error).__name__}: {error}"
        raise UserError(f"{path} is not the metrics of an edgedistill run ({problem}); {fix}") from None
    return metrics


def teacher_golden_accuracy(run: Path) -> float | None:
    """The teacher's accuracy on the golden set the devices answered, so the plot compares like with like."""
    for golden in sorted(run.glob("export/*/golden.npz")):
        try:
            with np.load(golden) as arrays:
                if "teacher_logits" in arrays.files:
                    return float((arrays["teacher_logits"].argmax(1) == arrays["labels"]).mean())
        except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as error:
            raise UserError(
                f"{golden} is damaged ({type(error).__name__}: {error}); export that bundle again with "
                f"`edgedistill export {run} --target TARGET --precision PRECISION --force`"
            ) from None
    return None


def device_lines(measurements: list[Measurement]) -> list[str]:
    """The report's device section: the pick per device, the table, and the plots."""
    devices = sorted({m.device for m in measurements})
    lines = ["## On the devices", ""]
    for device in devices:
        pick = recommendation(measurements, device)
        if pick:
            lines.append(
                f"- **{device}**: ship `{pick.file}` of `{pick.bundle}` ({pick.label}): p50 {pick.p50_ms:.3f} ms, "
                f"field accuracy {pick.field_acc:.1%}, {pick.size_mb:.2f} MB — the fastest artifact within 1 point "
                "of the most accurate one on this device."
            )
    lines += [
        "",
        "Field accuracy and agreement are measured by the device harness on each bundle's golden set (field test "
        "images); latency is batch 1, after warm-up. The Pareto column marks the artifacts no other beats on both "
        "latency and field accuracy on the same device.",
        "",
        *markdown_table(DEVICE_COLUMNS, measurement_rows(measurements)),
        "",
        *(f"![{name}](plots/{name})" for name in PLOTS),
        "",
    ]
    return lines


def recipe(cfg: dict) -> str:
    """The optimisers of the students and of a teacher trained in the run."""
    cfg = dict(cfg)
    upgrade_saved_run(cfg)  # a run saved before the optimisers were settings says what it trained with
    students = f"{cfg['optimizer']}, peak lr {cfg['lr']:g}"
    trained_here = (cfg["teacher"] or "timm:").startswith("timm:") and not cfg.get("teacher_weights")
    if not trained_here:
        return students
    return f"{students}; teacher {cfg['teacher_optimizer']}, peak lr {cfg['teacher_lr']:g}"
