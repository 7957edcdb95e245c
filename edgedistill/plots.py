"""The report's PNG plots: which artifact to ship, at a glance.

matplotlib with the Agg backend, so plots render on a headless build machine.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen before pyplot loads
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from edgedistill.device_report import Measurement, pareto_front  # noqa: E402

MARKERS = {"executorch": "o", "tflite": "s", "coreml": "^", "pytorch": "X"}
COLOURS = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:orange"}


def plot_accuracy_vs_latency(measurements: list[Measurement], teacher_acc: float | None, path: Path) -> None:
    """Field accuracy against p50 latency (log scale), one panel per device, the Pareto front drawn."""
    devices = sorted({m.device for m in measurements})
    figure, axes = plt.subplots(1, len(devices), figsize=(8.5 * len(devices), 4.8), squeeze=False)
    front = pareto_front(measurements)
    for axis, device in zip(axes[0], devices, strict=True):
        mine = [m for m in measurements if m.device == device]
        for index, m in enumerate(sorted(mine, key=lambda m: m.p50_ms)):
            axis.scatter(
                m.p50_ms, m.field_acc * 100, marker=MARKERS[m.format], s=90, color=COLOURS[m.precision],
                edgecolors="black" if m in front else "none", linewidths=1.5, zorder=3,
            )  # fmt: skip
            lift = (8, -14, 20)[index % 3]  # neighbours in latency get labels at different heights
            text = m.label + (" (failed export checks)" if m.bundle.endswith(".FAILED") else "")
            axis.annotate(text, (m.p50_ms, m.field_acc * 100), textcoords="offset points", xytext=(6, lift), fontsize=8)
        line = sorted((m for m in mine if m in front), key=lambda m: m.p50_ms)
        axis.step(
            [m.p50_ms for m in line], [m.field_acc * 100 for m in line], where="post", color="grey", linestyle="--",
            label="Pareto front", zorder=2,
        )  # fmt: skip
        if teacher_acc is not None:
            axis.axhline(teacher_acc * 100, color="tab:red", linestyle=":", label="teacher (PyTorch, golden set)")
        axis.set_xscale("log")
        axis.set_xlabel("p50 latency, batch 1 (ms, log scale)")
        axis.set_ylabel("field accuracy on the golden set (%)")
        axis.set_title(device, fontsize=9)
        axis.grid(True, which="both", alpha=0.3)
        handles = axis.get_legend_handles_labels()[0] + key_handles(mine)
        axis.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    figure.suptitle("Field accuracy vs p50 latency per device (black edge: on the Pareto front)", fontsize=11)
    _save(figure, path)


def key_handles(measurements: list[Measurement]) -> list:
    """Legend entries for the formats (marker) and precisions (colour) on a panel."""
    formats = sorted({m.format for m in measurements})
    precisions = sorted({m.precision for m in measurements})
    handles = [Line2D([], [], marker=MARKERS[f], color="grey", linestyle="none", label=f) for f in formats]
    return handles + [Patch(color=COLOURS[p], label=p) for p in precisions]


def plot_model_size(measurements: list[Measurement], path: Path) -> None:
    """File size of each distinct artifact (the same file benched on two devices counts once)."""
    sizes = {(m.label, m.file): m for m in measurements}
    ordered = sorted(sizes.values(), key=lambda m: m.size_mb)
    figure, axis = plt.subplots(figsize=(7, 0.5 * len(ordered) + 1.5))
    axis.barh([m.label for m in ordered], [m.size_mb for m in ordered], color=[COLOURS[m.precision] for m in ordered])
    for index, m in enumerate(ordered):
        axis.text(m.size_mb, index, f" {m.size_mb:.2f} MB", va="center", fontsize=8)
    axis.set_xlabel("file size (MB)")
    axis.set_title("Model size per artifact")
    axis.set_xlim(0, max(m.size_mb for m in ordered) * 1.25)
    _save(figure, path)


def plot_agreement(measurements: list[Measurement], path: Path) -> None:
    """Top-1 agreement with the teacher and with the fp32 student, per artifact and device."""
    names = [f"{m.label}\n{m.device.split(' (')[0]}" for m in measurements]
    student = [m.agreement_student * 100 for m in measurements]
    teacher = [(m.agreement_teacher or 0) * 100 for m in measurements]
    positions = range(len(measurements))
    figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(measurements)), 4.5))
    for shift, values, label, colour in (
        (-0.2, student, "= fp32 student", "tab:blue"),
        (0.2, teacher, "= teacher", "tab:purple"),
    ):
        bars = axis.bar([p + shift for p in positions], values, width=0.4, label=label, color=colour)
        axis.bar_label(bars, fmt="%.1f", fontsize=7)
    axis.set_xticks(list(positions), names, fontsize=8)
    axis.set_ylabel("top-1 agreement on the golden set (%)")
    axis.set_ylim(0, 120)
    axis.set_title("Agreement on the device")
    axis.legend(loc="upper center", ncol=2, fontsize=8)
    _save(figure, path)


def _save(figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path.with_suffix(".tmp.png"), dpi=120)
    plt.close(figure)
    path.with_suffix(".tmp.png").rename(path)
