"""Post-training int8 against quantization-aware fine-tuning and mixed precision, beside fp32, for one run's
student: what each keeps (top-1 agreement with the fp32 student and field accuracy on the golden set) and what
it costs (size, p50 latency at batch 1 on this machine, export time).

    python benchmarks/int8_methods.py --run runs/phone-XXXX        # minutes for the demo student

Exports the android bundles (ExecuTorch and TFLite) four times, under ``RUN/int8-methods/``: fp32; int8 after
training alone (``qat="never"``, no mixed precision); quantization-aware (``qat="always"``); and int8 with the
mixed-precision fallback (``qat="never"``: ExecuTorch keeps its most sensitive layers in fp32 until the contract
holds, TFLite cannot). Every shipped model is timed with the host harness (one thread); the attempts a bundle
tried and did not ship are listed with their verdicts, untimed. A bundle already there is measured, not
exported again, so a stopped benchmark goes on where it stopped.
"""

import argparse
import json
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import edgedistill
from edgedistill.export.bundle import method_label
from edgedistill.fileio import write_json_atomic
from edgedistill.provenance import provenance

VARIANTS = {  # precision, qat, mixed precision
    "fp32": ("fp32", "never", False),
    "ptq": ("int8", "never", False),
    "qat": ("int8", "always", False),
    "mixed": ("int8", "never", True),
}


def bundle_of(root: Path, precision: str) -> Path | None:
    """The android bundle under ``root``, passed or kept as .FAILED."""
    return next((p for p in (root / f"android-{precision}", root / f"android-{precision}.FAILED") if p.is_dir()), None)


def measure(run: Path, name: str, min_seconds: float, qat_epochs: int) -> list[dict]:
    precision, qat, mixed = VARIANTS[name]
    root = run / "int8-methods" / name
    bundle = bundle_of(root, precision)
    if bundle is None:
        edgedistill.export_bundle(
            run, target="android", precision=precision, out=root, qat=qat, qat_epochs=qat_epochs, mixed_precision=mixed
        )
        bundle = bundle_of(root, precision)
    manifest = json.loads((bundle / "manifest.json").read_text())
    timings = edgedistill.bench(bundle, threads=1, min_seconds=min_seconds, out=root / "bench")
    rows = []
    for shipped in manifest["artifacts"]:
        for artifact in [*shipped.get("not_shipped", []), shipped]:
            result = timings.get(artifact["file"]) if artifact is shipped else None
            quantization = artifact.get("quantization") or {}
            rows.append(
                {
                    "variant": name,
                    "format": artifact["format"],
                    "precision": precision,
                    "method": quantization.get("method", "-"),
                    "fp32_layers": len(quantization.get("fp32_layers", [])),
                    "shipped": artifact is shipped,
                    "top1_agreement_student": artifact["top1_agreement_student"],
                    "field_acc": artifact["field_acc"],
                    "student_field_acc": artifact["student_field_acc"],
                    "size_mb": artifact["size_bytes"] / 1e6,
                    "p50_ms": result["latency_ms"]["p50"] if isinstance(result, dict) else None,
                    "export_s": artifact.get("export_seconds"),
                    "passed": artifact["passed"],
                    "quantization": quantization or None,
                }
            )
    return rows


def ratio(base: float | None, value: float | None) -> float | None:
    return base / value if base and value else None


def shown(value: float | None, form: str) -> str:
    """A figure, or "-" where an export or a timing failed."""
    return form.format(value) if value is not None else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished `edgedistill train` run")
    parser.add_argument("--min-seconds", type=float, default=3.0, help="time each model at least this long")
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/int8_methods_<run name>.json")
    args = parser.parse_args()
    started = time.perf_counter()
    out = args.out or Path(__file__).parent / "results" / f"int8_methods_{args.run.name}.json"
    rows = []
    for name in VARIANTS:
        rows += measure(args.run, name, args.min_seconds, args.qat_epochs)
        write_json_atomic(out, {**provenance(started), "run": str(args.run.resolve()), "rows": rows})
    fp32 = {row["format"]: row for row in rows if row["variant"] == "fp32"}
    table = Table("variant", "format", "method", "top-1 = fp32", "field acc", "size", "p50 ms", "vs fp32 p50")
    table.add_column("vs fp32 size")
    table.add_column("export s")
    for row in rows:
        base = fp32[row["format"]]
        row["speedup_vs_fp32"] = ratio(base["p50_ms"], row["p50_ms"])
        row["smaller_vs_fp32"] = ratio(base["size_mb"], row["size_mb"])
        method = f"{row['precision']} {method_label(row['quantization'] or {})}"
        table.add_row(
            row["variant"] + ("" if row["shipped"] else " (not shipped)"), row["format"], method,
            shown(row["top1_agreement_student"], "{:.1%}"),
            shown(row["field_acc"], "{:.1%}"), shown(row["size_mb"], "{:.2f} MB"), shown(row["p50_ms"], "{:.3f}"),
            shown(row["speedup_vs_fp32"], "{:.1f}x"), shown(row["smaller_vs_fp32"], "{:.1f}x"),
            shown(row["export_s"], "{:.0f}"),
        )  # fmt: skip
    Console().print(table)
    write_json_atomic(out, {**provenance(started), "run": str(args.run.resolve()), "rows": rows})
    print(f"results: {out}")


if __name__ == "__main__":
    main()
