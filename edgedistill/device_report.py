"""What every exported artifact costs and keeps, per device: gathered from the bench results of a
run's bundles, with the Pareto front of field accuracy against p50 latency marked.

Accuracy and agreement come from the device's own run on the bundle's golden set, not from the
export verifier, so a runtime that behaves differently on the phone shows up here.
"""

import json
from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    device: str  # driver, machine name, CPU and threads: the results compared with each other
    threads: int
    bundle: str  # e.g. android-int8; "-" for the eager baseline
    format: str
    precision: str
    file: str
    size_mb: float
    p50_ms: float
    p90_ms: float
    load_ms: float
    peak_mb: float | None
    field_acc: float
    agreement_teacher: float | None
    agreement_student: float
    created: str

    @property
    def label(self) -> str:
        return f"{self.format} {self.precision}" if self.format != "pytorch" else "pytorch eager fp32"


ACCEPTED = {float: (int, float), float | None: (int, float, type(None))}  # some harnesses write 3.0 as 3


def gather_measurements(run: Path) -> tuple[list[Measurement], list[Path]]:
    """Every bench result under ``run/export/*/bench/``, and the files there that are not results.
    A model measured more than once on the same device with the same threads keeps its newest
    result, and the eager baseline (measured beside each bundle) is kept once per device."""
    newest: dict[tuple, Measurement] = {}
    unreadable = []
    for path in sorted(run.glob("export/*/bench/*.json")):
        try:
            result = json.loads(path.read_text())
            measurement = to_measurement(result, bundle=path.parent.parent.name)
            key = (measurement.device, measurement.format, _typed(result["model"]["sha256"], str, "sha256"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # ValueError: not JSON, or not UTF-8
            unreadable.append(path)
            continue
        if key not in newest or measurement.created > newest[key].created:
            newest[key] = measurement
    return sorted(newest.values(), key=lambda m: (m.device, m.p50_ms)), unreadable


def to_measurement(result: dict, bundle: str) -> Measurement:
    """The figures of one result JSON; KeyError or TypeError when it is not one (a value of the wrong type
    would otherwise fail later, in the Pareto front or the table, with no file named)."""
    if result["schema_version"] != 1:
        raise KeyError("schema_version")
    device, latency, agree, model = result["device"], result["latency_ms"], result["agreement"], result["model"]
    driver = f"{device['driver']}: " if "driver" in device else ""
    threads = f"{device['threads']} thread" + ("s" if device["threads"] > 1 else "")
    measurement = Measurement(
        device=f"{driver}{device['name']} ({device['cpu']}), {threads}",
        threads=device["threads"],
        bundle="-" if result["runtime"]["format"] == "pytorch" else bundle,
        format=result["runtime"]["format"],
        precision=model["precision"],
        file=model["file"],
        size_mb=model["size_bytes"] / 1e6,
        p50_ms=latency["p50"],
        p90_ms=latency["p90"],
        load_ms=result["load_ms"],
        peak_mb=result["peak_memory_mb"],
        field_acc=agree["field_acc"],
        agreement_teacher=agree["top1_agreement_teacher"],
        agreement_student=agree["top1_agreement_student"],
        created=result["created"],
    )
    for item in fields(Measurement):
        _typed(getattr(measurement, item.name), ACCEPTED.get(item.type, item.type), item.name)
    return measurement


def _typed(value: object, expected: type | tuple[type, ...], name: str) -> object:
    """``value`` if it is of the ``expected`` type (a bool is not a number), else TypeError naming ``name``."""
    if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
        raise TypeError(f"{name} is {type(value).__name__}")
    return value


def pareto_front(measurements: list[Measurement]) -> set[Measurement]:
    """The models no other model beats on both counts (as fast or faster and as accurate or more,
    one of them strictly), per device: a slower model on the front buys accuracy."""
    front = set()
    for m in measurements:
        beaten = any(
            o.device == m.device
            and o.p50_ms <= m.p50_ms
            and o.field_acc >= m.field_acc
            and (o.p50_ms < m.p50_ms or o.field_acc > m.field_acc)
            for o in measurements
        )
        if not beaten:
            front.add(m)
    return front


def recommendation(measurements: list[Measurement], device: str, tolerance: float = 0.01) -> Measurement | None:
    """The artifact to ship on ``device``: the fastest exported one whose field accuracy is within
    ``tolerance`` of the best exported one's. Neither the eager baseline nor a model from a bundle
    that failed its export verification is something to ship."""
    shippable = [
        m for m in measurements if m.device == device and m.format != "pytorch" and not m.bundle.endswith(".FAILED")
    ]
    if not shippable:
        return None
    best = max(m.field_acc for m in shippable)
    return min((m for m in shippable if m.field_acc >= best - tolerance), key=lambda m: m.p50_ms)


COLUMNS = ["device", "model", "bundle", "size", "p50 ms", "p90 ms", "load ms", "peak MB"]
COLUMNS += ["field acc", "top-1 = teacher", "top-1 = student", "Pareto"]


def measurement_rows(measurements: list[Measurement]) -> list[list[str]]:
    """The report's device table, one row per measurement, in COLUMNS order."""
    front = pareto_front(measurements)
    rows = []
    for m in measurements:
        teacher = f"{m.agreement_teacher:.1%}" if m.agreement_teacher is not None else "-"
        rows.append(
            [m.device, m.label, m.bundle, f"{m.size_mb:.2f} MB", f"{m.p50_ms:.3f}", f"{m.p90_ms:.3f}"]
            + [f"{m.load_ms:.0f}", f"{m.peak_mb:.0f}" if m.peak_mb else "-", f"{m.field_acc:.1%}", teacher]
            + [f"{m.agreement_student:.1%}", "yes" if m in front else ""]
        )
    return rows
