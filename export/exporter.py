"""``edgedistill export``: every format a target needs, exported once, verified with its runtime,
and gathered into one bundle per target."""

import importlib.util
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from edgedistill.errors import UserError, setting
from edgedistill.export import to_coreml, to_executorch, to_tflite
from edgedistill.export.bundle import Artifact, write_bundle
from edgedistill.export.golden import Golden, build_golden, calibration_batches, fine_tuning_batches
from edgedistill.export.quantize import (
    QAT_MODES,
    FineTuning,
    quantizable_layers,
    quantize_aware,
    quantize_pt2e,
    rank_by_sensitivity,
)
from edgedistill.export.source import ExportSource
from edgedistill.export.verify import Verdict, score_outputs
from edgedistill.models import model_spec

FORMATS = {module.NAME: module for module in (to_executorch, to_tflite, to_coreml)}
TARGETS = {"android": ("executorch", "tflite"), "ios": ("coreml", "executorch")}
LOG_NAME = "export.log"
RUNTIMES = {"executorch": "executorch", "tflite": "litert", "coreml": "predict"}
QAT_PLANS = {  # what the progress line promises for PT2E int8, per --qat
    "auto": " (fine-tuned quantization-aware if it misses the contract)",
    "always": " and quantization-aware",
    "never": "",
}
FP32_LAYER_STEPS = (1, 2, 4, 8)  # layers kept in fp32 by the mixed-precision attempts, most sensitive first
PROBE_VIEWS = 256  # field-domain views the layers' sensitivity is measured on
CONVERTER_MODULES = {  # what each format's converter imports; pip's extra of the same name brings them
    "executorch": ("executorch", "torchao"),
    "tflite": ("litert_torch", "ai_edge_litert", "torchao"),
    "coreml": ("coremltools",),
}


def check_request(targets: list[str], precision: str) -> list[str]:
    """The formats to export, refusing a precision that one of them cannot give."""
    formats = list(dict.fromkeys(name for target in targets for name in TARGETS[target]))
    for name in formats:
        missing = [module for module in CONVERTER_MODULES[name] if importlib.util.find_spec(module) is None]
        if missing:
            raise UserError(
                f"{name} export needs {', '.join(missing)}, which is not installed: pip install 'edgedistill[{name}]' "
                f"(or [all]), or choose a {setting('target')} without {name}"
            )
        if precision not in FORMATS[name].PRECISIONS:
            raise UserError(
                f"{name} export does not offer {precision}; it offers {list(FORMATS[name].PRECISIONS)}. "
                f"Use {setting('precision', FORMATS[name].PRECISIONS[0])}, or a target without {name}"
            )
    return formats


def export_bundles(
    source: ExportSource,
    targets: list[str],
    precision: str,
    out: Path,
    calibration: int,
    golden_count: int,
    report: Callable[[str], None] = lambda message: None,
    qat: str = "auto",
    fine_tuning: FineTuning | None = None,
    mixed_precision: bool = True,
) -> dict[str, tuple[Path, list[Artifact]]]:
    """Export, verify and bundle; returns, per target, where its bundle landed and its artifacts. int8 is
    quantized after training, and fine-tuned quantization-aware when that misses the contract (``qat``
    "auto") or always ("always"); when neither passes, and the runtime can mix precisions, the layers int8
    hurts most are kept in fp32 (``mixed_precision``)."""
    formats = check_request(targets, precision)
    if qat not in QAT_MODES:
        raise UserError(f"unknown {setting('qat', qat)}; choose one of {', '.join(QAT_MODES)}")
    report(f"golden set: {golden_count} field test images of {source.data}")
    golden = build_golden(source, golden_count)
    batches = calibration_batches(source, calibration) if precision == "int8" else []
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    artifacts = {}
    for name in formats:
        module, path = FORMATS[name], work / FORMATS[name].FILENAME
        pt2e_int8 = quantized_in_pt2e(module, precision)
        then = QAT_PLANS[qat] if pt2e_int8 else ""
        if pt2e_int8 and mixed_fallback(module, qat, mixed_precision):
            then += ", then with its most sensitive layers in fp32 if it still misses"
        report(f"exporting {name} {precision}{then} ... (converter output: {out / LOG_NAME})")
        with output_to(out / LOG_NAME):
            if pt2e_int8:
                artifacts[name] = export_int8(module, source, golden, batches, path, qat, fine_tuning, mixed_precision)
            else:
                artifacts[name] = export_one(module, source, golden, precision, batches, path)
    results = {}
    for target in targets:
        chosen = [artifacts[name] for name in TARGETS[target]]
        results[target] = (write_bundle(out / f"{target}-{precision}", chosen, golden, source, target), chosen)
    shutil.rmtree(work)
    return results


def export_int8(
    module,
    source: ExportSource,
    golden: Golden,
    calibration: list,
    path: Path,
    qat: str,
    fine_tuning: FineTuning | None,
    mixed_precision: bool = True,
) -> Artifact:
    """Post-training quantization, then quantization-aware distillation if asked or if the first missed the
    contract, then, if neither passed and QAT was not asked for, mixed precision. Ships the one asked for
    ("always": QAT, unless it could not be exported), else the one that passed or agreed more, and keeps the
    others beside it for the manifest and verification.md."""
    attempts = [export_one(module, source, golden, "int8", calibration, path.with_name(f"ptq-{path.name}"))]
    ptq = attempts[0].verdict
    if ptq.size_bytes and (qat == "always" or (qat == "auto" and not ptq.passed)):  # size 0: the converter refused
        qat_path = path.with_name(f"qat-{path.name}")
        attempts.append(export_one(module, source, golden, "int8", calibration, qat_path, fine_tuning or FineTuning()))
    if mixed_fallback(module, qat, mixed_precision) and ptq.size_bytes and not any(a.verdict.passed for a in attempts):
        if quantizable_layers(source.student):
            attempts += export_mixed(module, source, golden, calibration, path)
        else:
            attempts[-1].verdict.notes.append(
                "mixed precision not tried: a student loaded as a graph has no named layers"
            )
    if qat == "always" and attempts[-1].verdict.size_bytes:
        chosen = attempts[-1]
    else:
        chosen = max(attempts, key=lambda a: (a.verdict.passed, a.verdict.top1_agreement_student or 0.0))
    chosen.alternatives = [a for a in attempts if a is not chosen]
    if chosen.path.exists():
        chosen.path.rename(path)
    chosen.path, chosen.verdict.file = path, path.name
    return chosen


def mixed_fallback(module, qat: str, mixed_precision: bool) -> bool:
    """Whether int8 that misses the contract falls back to fp32 layers: asked for, a runtime that mixes precisions,
    and not ``qat`` "always", where the fine-tuned model ships as asked."""
    return mixed_precision and module.MIXED_PRECISION and qat != "always"


def export_mixed(module, source: ExportSource, golden: Golden, calibration: list, path: Path) -> list[Artifact]:
    """Post-training int8 with the 1, 2, 4, then 8 layers whose quantization costs most kept in fp32, until one
    passes the contract; each attempt's manifest entry lists its fp32 layers and how they were ranked."""
    start = time.perf_counter()
    probe = torch.cat(calibration_batches(source, PROBE_VIEWS, seed=1))
    ranked = rank_by_sensitivity(
        source.student, lambda layers: module.int8_quantizer(fp32_layers=layers), calibration, probe
    )
    shown = ranked[: max(FP32_LAYER_STEPS)]
    ranking = {"probe_views": len(probe), "seconds": round(time.perf_counter() - start, 1), "ranked": shown}
    attempts = []
    for count in FP32_LAYER_STEPS:
        layers = [row["layer"] for row in ranked[:count]]
        attempt_path = path.with_name(f"mixed{count}-{path.name}")
        attempts.append(export_one(module, source, golden, "int8", calibration, attempt_path, fp32_layers=layers))
        attempts[-1].quantization["sensitivity"] = ranking
        if attempts[-1].verdict.passed or count >= len(ranked):
            break
    return attempts


def export_one(
    module,
    source: ExportSource,
    golden: Golden,
    precision: str,
    calibration: list,
    path: Path,
    fine_tuning: FineTuning | None = None,
    fp32_layers: list[str] | None = None,
) -> Artifact:
    """Export one format and check it; an exporter's failure becomes a failed verdict that names the operator.
    int8 of a PT2E format is quantized after training, or quantization-aware with ``fine_tuning``, with
    ``fp32_layers`` left in fp32 (post-training only)."""
    if fine_tuning is not None and fp32_layers:
        raise ValueError("fp32_layers are kept in post-training int8 only; pass fine_tuning or fp32_layers")
    verdict = Verdict(module.NAME, precision, path.name, RUNTIMES[module.NAME])
    example = torch.from_numpy(golden.inputs[:1])
    start = time.perf_counter()
    quantization = {}
    if quantized_in_pt2e(module, precision):
        method = "qat" if fine_tuning else "mixed" if fp32_layers else "ptq"
        quantization = {"method": method, "data": source.data, "domain": source.domain}
        quantization["calibration_views"] = len(calibration)
        if fp32_layers:
            quantization["fp32_layers"] = fp32_layers
        if fine_tuning is not None:
            quantization["fine_tuning"] = {**asdict(fine_tuning), "target": "fp32 student"}
    try:
        if not hasattr(module, "int8_quantizer"):
            io = module.export(source.student, example, path, precision)
        elif precision != "int8":
            io = module.export(source.student, example, path)
        else:
            if fp32_layers:  # post-training, only where the runtime mixes precisions (MIXED_PRECISION)
                quantizer = module.int8_quantizer(fp32_layers=fp32_layers)
            else:
                quantizer = module.int8_quantizer(qat=fine_tuning is not None)
            if fine_tuning is None:
                model = quantize_pt2e(source.student, quantizer, calibration, module.FOLD_QUANTIZE)
            else:
                views = fine_tuning_batches(source, fine_tuning.images, fine_tuning.batch_size)
                model = quantize_aware(source.student, quantizer, calibration, views, fine_tuning, module.FOLD_QUANTIZE)
            io = module.export(model, example, path, quantizer)
    except Exception as error:  # noqa: BLE001 - every converter raises its own types; the user needs the reason
        verdict.problems.append(explain_export_failure(module.NAME, source.info.arch, error))
        return Artifact(path, {}, verdict, quantization)
    verdict.export_seconds = time.perf_counter() - start
    if quantization:
        quantization["seconds"] = round(verdict.export_seconds, 1)
    verdict.size_bytes = _size(path)
    run = module.runner(path)
    if run is None:  # Core ML off macOS
        verdict.checked_with = "spec"
        verdict.problems += module.check_spec(path, (1, *golden.inputs.shape[1:]), len(source.info.classes), precision)
        verdict.notes.append("spec checked; run on macOS for numeric parity")
        return Artifact(path, io, verdict, quantization)
    logits = np.concatenate([run(golden.inputs[i : i + 1]) for i in range(len(golden.inputs))])
    return Artifact(path, io, score_outputs(verdict, logits.reshape(len(golden.inputs), -1), golden), quantization)


def quantized_in_pt2e(module, precision: str) -> bool:
    """int8 of a format that takes a PT2E-quantized graph (ExecuTorch, TFLite); Core ML quantizes its own."""
    return precision == "int8" and hasattr(module, "int8_quantizer")


def explain_export_failure(format_name: str, arch: str, error: Exception) -> str:
    """One line: which format, which student, the operator if the converter named one, and what to try."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    operator = re.search(r"(aten[.:]+[\w.]+|tfl\.[\w]+|torch\.ops\.[\w.]+)", str(error))
    named = f"operator {operator.group(1)} is not supported" if operator else message[:300]
    advice = "replace that operation in the model, or choose another student"
    return f"cannot export {model_spec(arch)} to {format_name}: {named}; {advice}"


@contextmanager
def output_to(log: Path) -> Iterator[None]:
    """Send everything printed meanwhile, C++ runtimes included, to ``log``: converters fill the terminal
    with progress bars and warnings that bury the verifier's table, but are wanted when an export fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with log.open("a") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
