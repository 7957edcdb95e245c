"""A bundle: everything a phone harness needs to run and check the model, in one folder.

Model file(s), ``golden.npz`` and ``manifest.json`` (formats, precision, input layout and
normalisation, labels, sha256 of every file, source run, tolerances and the verifier's
figures). A bundle is assembled in a hidden folder and renamed into place only when every
artifact passed; one that failed is kept, with its figures, under a ``.FAILED`` name, so it
can never be mistaken for a good one.
"""

import platform
import shutil
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from edgedistill.devices.harness import sha256_of
from edgedistill.export.golden import Golden, save_golden
from edgedistill.export.source import ExportSource
from edgedistill.export.verify import TOLERANCES, Verdict
from edgedistill.fileio import write_json_atomic, write_text_atomic
from edgedistill.models import model_spec

RUNTIME_PACKAGES = ("torch", "executorch", "litert-torch", "ai-edge-litert", "coremltools")


@dataclass
class Artifact:
    path: Path  # where the exporter wrote it
    io: dict  # input/output names, dtypes and quantization, from the exporter
    verdict: Verdict
    quantization: dict = field(default_factory=dict)  # how int8 was made: method, data, fine-tuning, seconds
    alternatives: list["Artifact"] = field(default_factory=list)  # other int8 methods tried, not shipped


def write_bundle(final: Path, artifacts: list[Artifact], golden: Golden, source: ExportSource, target: str) -> Path:
    """Write the bundle; returns where it landed (``final``, or ``final.FAILED`` if anything failed)."""
    staging = final.with_name(f".{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    entries = []
    for artifact in artifacts:
        name = f"{artifact.verdict.format}-{artifact.path.name}"
        if artifact.path.exists():
            copy = shutil.copytree if artifact.path.is_dir() else shutil.copy2
            copy(artifact.path, staging / name)
        entries.append({**artifact.io, **artifact.verdict.to_json(), "file": name})
        if artifact.quantization:
            entries[-1]["quantization"] = artifact.quantization
        if artifact.quantization or artifact.alternatives:  # the other int8 attempts' figures; their files are not here
            tried = artifact.alternatives
            entries[-1]["not_shipped"] = [
                {**a.verdict.to_json(), "file": None, "quantization": a.quantization} for a in tried
            ]
        if (staging / name).exists():
            entries[-1]["sha256"] = sha256_of(staging / name)
    save_golden(staging / "golden.npz", golden)
    info = source.info
    manifest = {
        "target": target,
        "precision": artifacts[0].verdict.precision,
        "passed": all(a.verdict.passed for a in artifacts),
        "artifacts": entries,
        "input": {
            "shape": [1, 3, info.image_size, info.image_size],
            "layout": "NCHW",
            "dtype": "float32",
            "normalisation": {"formula": "(rgb / 255 - mean) / std", "mean": list(info.mean), "std": list(info.std)},
        },
        "labels": info.classes,
        "golden": {"file": "golden.npz", "sha256": sha256_of(staging / "golden.npz"), "count": len(golden.labels)},
        "source": {"arch": model_spec(info.arch), "stem": info.stem, **source.origin},
        "tolerances": TOLERANCES[artifacts[0].verdict.precision],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"os": platform.platform(), "python": platform.python_version(), "packages": _versions()},
    }
    write_json_atomic(staging / "manifest.json", manifest)
    write_text_atomic(staging / "verification.md", verification_markdown(target, artifacts))
    failed = final.with_name(f"{final.name}.FAILED")
    for previous in (final, failed):  # the caller checked --force; an old verdict must not linger beside the new one
        shutil.rmtree(previous, ignore_errors=True)
    landed = final if manifest["passed"] else failed
    staging.rename(landed)
    return landed


def verification_rows(artifacts: list[Artifact]) -> list[list[str]]:
    """The verifier's table, one row per artifact and per int8 method tried beside it, for the screen and
    for verification.md."""
    rows = []
    for artifact in artifacts:
        for tried in [*artifact.alternatives, artifact]:
            rows.append(_verdict_row(tried, shipped=tried is artifact))
    return rows


def _verdict_row(artifact: Artifact, shipped: bool) -> list[str]:
    v = artifact.verdict
    figures = [
        _percent(v.top1_agreement_student),
        _percent(v.top1_agreement_teacher),
        f"{v.max_abs_logit_diff:.1e}" if v.max_abs_logit_diff is not None else "-",
        _percent(v.field_acc),
        _percent(v.student_field_acc),
        f"{v.size_bytes / 1e6:.2f} MB",
        f"{v.export_seconds:.0f}" if v.export_seconds is not None else "-",
    ]
    status = "pass" if v.passed else "FAIL: " + "; ".join(v.problems)
    if v.notes:
        status += " (" + "; ".join(v.notes) + ")"
    if not shipped:
        status = f"not shipped: {status}"
    return [v.format, v.precision, method_label(artifact.quantization), v.checked_with, *figures, status]


def method_label(quantization: dict) -> str:
    """How an artifact's int8 was made, as tables show it (a manifest's ``quantization`` entry): ptq, qat, or
    mixed with its count of fp32 layers; "-" for a float artifact."""
    method = quantization.get("method", "-")
    if "fp32_layers" in quantization:
        method += f" ({len(quantization['fp32_layers'])} fp32)"
    return method


VERIFICATION_COLUMNS = [
    "format",
    "prec.",
    "method",
    "checked with",
    "top-1 = student",
    "top-1 = teacher",
    "max |Δ|",
    "field acc",
    "student field acc",
    "size",
    "export s",
    "verdict",
]


def verification_markdown(target: str, artifacts: list[Artifact]) -> str:
    lines = [f"# Verification of the {target} bundle", "", "| " + " | ".join(VERIFICATION_COLUMNS) + " |"]
    lines.append("|" + "---|" * len(VERIFICATION_COLUMNS))
    lines += ["| " + " | ".join(row) + " |" for row in verification_rows(artifacts)]
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"


def _versions() -> dict[str, str]:
    versions = {}
    for package in RUNTIME_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
