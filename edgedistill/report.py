"""The run's summary: one table on screen and the same figures in words in report.md."""

from pathlib import Path

from rich.table import Table

from edgedistill.fileio import write_text_atomic

ROWS = {
    "teacher": "teacher",
    "student_scratch": "student alone",
    "student_kd_clean": "KD, clean views",
    "student_kd": "KD, domain views",
}
COLUMNS = ("model", "arch", "clean acc", "field acc", "agree (field)", "params", "MACs")


def table_rows(metrics: dict) -> list[list[str]]:
    """One row of COLUMNS per model of the run, formatted for people."""
    rows = []
    for key, label in ROWS.items():
        if key in metrics:
            m = metrics[key]
            agree = f"{m['agreement_field']:.1%}" if "agreement_field" in m else "-"
            rows.append(
                [label, m["arch"], f"{m['clean_acc']:.1%}", f"{m['field_acc']:.1%}", agree]
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
    ratio = metrics["macs_ratio_teacher_to_student"]
    return (
        f"gap recovered on the field split: {gap_text}; the distilled student keeps {kept:.0%} of the teacher's "
        f"field accuracy with {ratio:.0f}x fewer MACs"
    )


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def write_report(path: Path, metrics: dict) -> None:
    cfg, data = metrics["config"], metrics["data"]
    corruptions = list(metrics["teacher"]["field_acc_by_corruption"])
    by_corruption = [
        [label] + [f"{metrics[key]['field_acc_by_corruption'][c]:.1%}" for c in corruptions]
        for key, label in ROWS.items()
        if key in metrics
    ]
    lines = [
        "# edgedistill run report",
        "",
        f"Domain `{cfg['domain']}`, data `{data['source']}`: {data['train']} training images, {data['test']} test "
        f"images, {data['field']} field images at {cfg['image_size']} px. {cfg['epochs']} student epochs, "
        f"T = {cfg['temperature']}, alpha = {cfg['alpha']}, seed {cfg['seed']}.",
        "",
        "The field split is the test split passed through the camera-like corruptions of `imagecorruptions` "
        "(the ImageNet-C reference code), never through this kit's own presets.",
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
    ]
    write_text_atomic(path, "\n".join(lines))
