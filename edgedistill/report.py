"""The run's summary: one table on screen and the same figures in words in report.md."""

from pathlib import Path

from rich.table import Table

from edgedistill.fileio import write_text_atomic

ROWS = {
    "teacher": "teacher",
    "student_scratch": "student, trained alone",
    "student_kd_clean": "student, distilled on clean views",
    "student_kd": "student, distilled on domain views",
}


def model_rows(metrics: dict) -> list[tuple[str, dict]]:
    return [(label, metrics[key]) for key, label in ROWS.items() if key in metrics]


def summary_table(metrics: dict) -> Table:
    domain = metrics["config"]["domain"]
    table = Table(title=f"edgedistill run -- domain '{domain}', data '{metrics['data']['source']}'")
    for column in ("model", "arch", "clean acc", "field acc", "agree (field)", "params", "MACs"):
        table.add_column(column, justify="left" if column in ("model", "arch") else "right")
    for label, row in model_rows(metrics):
        agree = f"{row['agreement_field']:.1%}" if "agreement_field" in row else "-"
        table.add_row(label, row["arch"], f"{row['clean_acc']:.1%}", f"{row['field_acc']:.1%}", agree, f"{row['params'] / 1e6:.2f} M", f"{row['macs'] / 1e6:.1f} M")
    table.caption = headline(metrics)
    return table


def headline(metrics: dict) -> str:
    gap = metrics["gap_recovered_field"]
    gap_text = f"{gap:.0%}" if gap is not None else "n/a (student alone matches the teacher)"
    kept = metrics["teacher_share_kept_field"]
    return (
        f"gap recovered on the field split: {gap_text}; distilled student keeps {kept:.0%} of the teacher's field accuracy "
        f"with {metrics['macs_ratio_teacher_to_student']:.0f}x fewer MACs"
    )


def write_report(path: Path, metrics: dict) -> None:
    cfg = metrics["config"]
    lines = [
        "# edgedistill run report",
        "",
        f"Domain `{cfg['domain']}`, data `{metrics['data']['source']}` ({metrics['data']['train']} training images, "
        f"{metrics['data']['test']} test images, {metrics['data']['field']} field images), image size {cfg['image_size']}, "
        f"{cfg['epochs']} student epochs, T = {cfg['temperature']}, alpha = {cfg['alpha']}, seed {cfg['seed']}.",
        "",
        "The field split is the test split passed through the camera-like corruptions of `imagecorruptions` "
        "(ImageNet-C reference code), not through this kit's own presets.",
        "",
        "| model | arch | clean acc | field acc | agreement with teacher (field) | params | MACs |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for label, row in model_rows(metrics):
        agree = f"{row['agreement_field']:.1%}" if "agreement_field" in row else "-"
        lines.append(f"| {label} | {row['arch']} | {row['clean_acc']:.1%} | {row['field_acc']:.1%} | {agree} | {row['params'] / 1e6:.2f} M | {row['macs'] / 1e6:.1f} M |")
    lines += ["", headline(metrics) + ".", "", "## Field accuracy by corruption", ""]
    corruptions = list(metrics["teacher"]["field_acc_by_corruption"])
    lines.append("| model | " + " | ".join(corruptions) + " |")
    lines.append("|---|" + "---:|" * len(corruptions))
    for label, row in model_rows(metrics):
        lines.append(f"| {label} | " + " | ".join(f"{row['field_acc_by_corruption'][c]:.1%}" for c in corruptions) + " |")
    lines += ["", f"Wall time: {metrics['wall_time_s']['total']:.0f} s.", ""]
    write_text_atomic(path, "\n".join(lines))
