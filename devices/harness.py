"""The benchmark harness that runs on the device: one artifact of a bundle, timed and checked.

It imports only NumPy and the artifact's runtime, never the rest of edgedistill, so it can be
copied with a bundle to a board that has just the runtimes installed (``--device ssh://``).
The export verifier uses the same runners, so an artifact is run the same way when it is
checked after export and when it is benchmarked.

    python harness.py BUNDLE --artifact executorch-model.pte --out result.json [--threads N]
        [--warmup W] [--iterations I | --min-seconds S]
"""

import argparse
import hashlib
import importlib
import itertools
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

Runner = Callable[[np.ndarray], np.ndarray]


def executorch_runner(path: Path, threads: int = 1) -> Runner:
    """Batch-1 inference through the ExecuTorch runtime: (1, 3, H, W) float32 in, logits out. XNNPACK's
    thread pool is process-wide and sized to the cores by default; ExecuTorch's own benchmark app
    resets it the same way to take a thread count."""
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    _unsafe_reset_threadpool(threads)
    method = Runtime.get().load_program(str(path)).load_method("forward")
    # ExecuTorch reads the buffer as contiguous NCHW whatever the strides say, so a transposed view
    # would be read in the wrong order: hand it a contiguous copy.
    return lambda inputs: method.execute([torch.from_numpy(np.ascontiguousarray(inputs))])[0].numpy()


def tflite_runner(path: Path, threads: int = 1) -> Runner:
    """ai-edge-litert with its default XNNPACK delegate. int8 files are integer end to end, so inputs
    are quantized and outputs dequantized with the file's own scale and zero point, as an app does."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    (given,), (taken,) = interpreter.get_input_details(), interpreter.get_output_details()

    def run(inputs: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(given["index"], _quantize(inputs, given))
        interpreter.invoke()
        return _dequantize(interpreter.get_tensor(taken["index"]), taken)

    return run


def coreml_runner(path: Path, threads: int = 1) -> Runner:
    """``MLModel.predict``, which exists on macOS only."""
    import coremltools as ct

    model = ct.models.MLModel(str(path))
    spec = model.get_spec()
    given, taken = spec.description.input[0].name, spec.description.output[0].name
    return lambda inputs: np.asarray(model.predict({given: inputs})[taken], dtype=np.float32)


def eager_runner(path: Path, threads: int = 1, manifest: dict | None = None) -> Runner:
    """The PyTorch student itself, the baseline the exported artifacts are compared with. Needs
    edgedistill (host only): ``path`` is the checkpoint the bundle was exported from. Plain weights
    (exported with ``--student timm:NAME``) do not say what model they fit, so the bundle's
    ``manifest`` rebuilds it: its arch, labels and input size are the ones the export used."""
    import torch
    from safetensors import safe_open

    from edgedistill.config import STEMS
    from edgedistill.models import METADATA_KEY, load_checkpoint, load_state_dict_checkpoint

    torch.set_num_threads(threads)
    described = manifest is None
    if path.suffix == ".safetensors" and not described:
        with safe_open(str(path), framework="pt") as handle:
            described = METADATA_KEY in (handle.metadata() or {})
    if described:
        model, _ = load_checkpoint(path)
    else:
        source = manifest["source"]
        arch, stem = source["arch"].removeprefix("timm:"), source.get("stem", "standard")
        if stem not in STEMS:
            raise BundleError(f"manifest.json names the stem {stem!r}, which is none of {list(STEMS)}")
        model, _ = load_state_dict_checkpoint(path, arch, manifest["labels"], manifest["input"]["shape"][-1], stem)
    model.eval()

    def run(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(inputs)).numpy()

    return run


RUNNERS = {"executorch": executorch_runner, "tflite": tflite_runner, "coreml": coreml_runner, "pytorch": eager_runner}
# What each runner imports, loaded before the load-time clock starts: an import is paid once per
# process, not per model, and a missing one is reported as a missing runtime.
RUNTIME_MODULES = {
    "executorch": ("torch", "executorch.runtime", "executorch.extension.pybindings.portable_lib"),
    "tflite": ("ai_edge_litert.interpreter",),
    "coreml": ("coremltools",),
    "pytorch": ("torch", "edgedistill.models"),
}
RUNTIME_PACKAGES = {
    "executorch": "executorch",
    "tflite": "ai-edge-litert",
    "coreml": "coremltools",
    "pytorch": "edgedistill",
}


def _quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if not scale:
        return values.astype(detail["dtype"])
    limits = np.iinfo(detail["dtype"])
    return np.clip(np.round(values / scale + zero_point), limits.min, limits.max).astype(detail["dtype"])


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * scale if scale else values.astype(np.float32)


class BundleError(Exception):
    """A bundle file that must not be used, with the one line (problem and fix) the user reads. The
    harness cannot import edgedistill on a board, so the host's bench turns it into its UserError."""


def bundle_file(folder: Path, name: object) -> Path:
    """The file ``name`` (as manifest.json spells it) inside ``folder``, links followed; anything that
    could lead elsewhere is refused.

    manifest.json travels with the bundle, from whoever made or changed it, and its names become
    paths that bench reads, sends to a board, stages for a phone and names results after. So a name
    must be one plain file name (no folder part, '..', backslash, drive letter, empty or absolute
    name: export writes none of these), and neither it nor anything inside it (an .mlpackage) may be
    a link that leads out of ``folder``. The followed path is returned, so what was checked is what
    is read."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(char in name for char in "/\\:\0"):
        raise BundleError(
            f"{folder / 'manifest.json'} names the file {name!r}, which is not a plain file name inside the bundle "
            "(no folders, '..', '\\', ':' or absolute paths); export the bundle again"
        )
    root = folder.resolve()
    path = root / name
    try:
        for candidate in itertools.chain([path], path.rglob("*") if path.is_dir() else []):
            target = candidate.resolve()
            if root not in target.parents:
                raise BundleError(
                    f"{candidate} is a link to {target}, outside {root}; copy the file in instead of linking to it"
                )
        return path.resolve()
    except (OSError, RuntimeError) as error:  # a link loop (RuntimeError before Python 3.13)
        raise BundleError(f"cannot follow the links of {path} ({error}); copy the file in instead") from None


def check_sha256(path: Path, expected: object) -> None:
    """Refuse a file that is not the one the export wrote: a model or golden set changed on the way
    would give figures for something else, and nothing in them would show it."""
    try:
        if not path.exists():
            raise BundleError(f"{path} is missing; export the bundle again or copy it whole")
        actual = sha256_of(path)
    except OSError as error:
        raise BundleError(f"cannot read {path} ({error.strerror}); check its permissions") from None
    if actual != expected:
        raise BundleError(
            f"{path} does not match its sha256 in manifest.json; export the bundle again or copy it whole"
        )


def read_golden(bundle: Path, manifest: dict) -> dict[str, np.ndarray]:
    """The golden set, only if it is the one the export wrote (its sha256 in manifest.json)."""
    path = bundle_file(bundle, manifest["golden"]["file"])
    check_sha256(path, manifest["golden"]["sha256"])
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of a directory (an .mlpackage) as the hash of its files' paths and contents."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def latency_summary(seconds: list[float], warmup: int) -> dict:
    """Milliseconds: min, percentiles, mean, std and the mean of the middle 80% (robust to the odd
    scheduler hiccup), the summary ExecuTorch's and LiteRT's benchmark tools also report."""
    ms = np.sort(np.asarray(seconds) * 1000)
    cut = int(len(ms) * 0.1)
    middle = ms[cut : len(ms) - cut] if len(ms) > 2 * cut else ms
    return {
        "warmup": warmup,
        "iterations": len(ms),
        "min": float(ms[0]),
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
        "std": float(ms.std()),
        "trimmed_mean_80": float(middle.mean()),
    }


def time_runner(run: Runner, inputs: np.ndarray, warmup: int, iterations: int | None, min_seconds: float) -> dict:
    """Warm up, then time batch-1 calls (cycling through ``inputs``) for ``iterations`` calls, or for
    at least ``min_seconds`` and 10 calls."""
    for index in range(warmup):
        run(inputs[index % len(inputs) : index % len(inputs) + 1])
    seconds, started = [], time.perf_counter()
    while (
        (len(seconds) < iterations)
        if iterations
        else (time.perf_counter() - started < min_seconds or len(seconds) < 10)
    ):
        sample = inputs[len(seconds) % len(inputs)][None]
        begin = time.perf_counter()
        run(sample)
        seconds.append(time.perf_counter() - begin)
    return latency_summary(seconds, warmup)


def agreement(run: Runner, golden: dict) -> dict:
    """The artifact's answers on the golden set against the fp32 student's and the teacher's."""
    logits = np.concatenate([run(golden["inputs"][i : i + 1]).reshape(1, -1) for i in range(len(golden["inputs"]))])
    student = golden["student_logits"]
    result = {
        "golden_count": len(logits),
        "top1_agreement_student": float((logits.argmax(1) == student.argmax(1)).mean()),
        "max_abs_logit_diff_student": float(np.abs(logits - student).max()),
        "field_acc": float((logits.argmax(1) == golden["labels"]).mean()),
        "top1_agreement_teacher": None,
    }
    if "teacher_logits" in golden:
        result["top1_agreement_teacher"] = float((logits.argmax(1) == golden["teacher_logits"].argmax(1)).mean())
    return result


def describe_device(threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    return {"name": platform.node(), "os": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "threads": threads}


def peak_memory_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if platform.system() == "Darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def bench_artifact(
    bundle: Path, file: str, threads: int, warmup: int, iterations: int | None, min_seconds: float
) -> dict:
    """One result in the schema of ``devices/result.schema.json``; raises SystemExit or BundleError with
    one line on failure."""
    manifest = manifest_of(bundle)
    entries = {entry["file"]: entry for entry in manifest["artifacts"]}
    if file not in entries:
        raise SystemExit(f"error: {file} is not an artifact of {bundle}; it has {sorted(entries)}")
    entry, path = entries[file], bundle_file(bundle, file)
    check_sha256(path, entry.get("sha256"))
    model = {
        "file": file,
        "sha256": entry["sha256"],
        "size_bytes": entry["size_bytes"],
        "precision": entry["precision"],
    }
    return measure(
        read_golden(bundle, manifest),
        lambda: RUNNERS[entry["format"]](path, threads),
        entry["format"],
        entry.get("delegate"),
        model,
        threads,
        warmup,
        iterations,
        min_seconds,
    )


def bench_eager(
    bundle: Path, checkpoint: Path, threads: int, warmup: int, iterations: int | None, seconds: float
) -> dict:
    """The same measurement for the PyTorch student in eager mode, fp32, on the bundle's golden set."""
    manifest = manifest_of(bundle)
    check_sha256(checkpoint, manifest["source"].get("sha256"))
    model = {"file": checkpoint.name, "sha256": manifest["source"]["sha256"], "size_bytes": checkpoint.stat().st_size}
    return measure(
        read_golden(bundle, manifest),
        lambda: eager_runner(checkpoint, threads, manifest),
        "pytorch",
        "eager",
        {**model, "precision": "fp32"},
        threads,
        warmup,
        iterations,
        seconds,
    )


def manifest_of(bundle: Path) -> dict:
    """manifest.json, whose shape the host's bench checked before it sent the bundle here."""
    return json.loads(bundle_file(bundle, "manifest.json").read_text(encoding="utf-8"))


def measure(
    golden: dict,
    open_runner: Callable[[], Runner],
    runtime: str,
    delegate: str | None,
    model: dict,
    threads: int,
    warmup: int,
    iterations: int | None,
    min_seconds: float,
) -> dict:
    if runtime == "coreml" and platform.system() != "Darwin":
        raise SystemExit(f"error: coreml cannot run on {platform.system()}; Core ML runs on macOS and iOS")
    try:
        for module in RUNTIME_MODULES[runtime]:
            importlib.import_module(module)
    except ImportError as error:
        raise SystemExit(
            f"error: the {runtime} runtime is not installed on {platform.node()} ({error}); "
            f"pip install {RUNTIME_PACKAGES[runtime]} there"
        ) from None
    started = time.perf_counter()
    run = open_runner()
    run(golden["inputs"][:1])  # the first call finishes loading (delegate setup, allocation)
    load_ms = (time.perf_counter() - started) * 1000
    return {
        "schema_version": 1,
        "device": describe_device(threads),
        "runtime": {"format": runtime, "delegate": delegate, "versions": _runtime_versions()},
        "model": model,
        "load_ms": load_ms,
        "latency_ms": time_runner(run, golden["inputs"], warmup, iterations, min_seconds),
        "peak_memory_mb": peak_memory_mb(),
        "agreement": agreement(run, golden),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _runtime_versions() -> dict:
    from importlib import metadata

    versions = {}
    for package in ("executorch", "ai-edge-litert", "coremltools", "torch", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark one artifact of an edgedistill bundle on this device.")
    parser.add_argument("bundle", type=Path)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--artifact", help="file name of the artifact inside the bundle")
    target.add_argument("--eager", type=Path, help="checkpoint of the PyTorch student (host baseline)")
    parser.add_argument("--out", type=Path, required=True, help="result JSON to write")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    args = parser.parse_args()
    timing = (args.threads, args.warmup, args.iterations, args.min_seconds)
    try:
        if args.eager:
            result = bench_eager(args.bundle, args.eager, *timing)
        else:
            result = bench_artifact(args.bundle, args.artifact, *timing)
    except BundleError as error:
        raise SystemExit(f"error: {error}") from None
    # A fresh temp file, renamed over the result: a reader never sees half a result, and a link left
    # under a fixed temp name cannot redirect the write.
    handle, partial = tempfile.mkstemp(prefix=f".{args.out.name}.", suffix=".tmp", dir=args.out.parent)
    with os.fdopen(handle, "w") as stream:
        stream.write(json.dumps(result, indent=2) + "\n")
    os.replace(partial, args.out)


if __name__ == "__main__":
    main()
