"""``edgedistill bench --device host``: every model of a bundle, and the PyTorch student it came
from, through the device harness on this machine, one fresh process per model.

A process per model keeps one runtime's memory and thread pools out of the next one's figures,
and is what the harness does on a remote board too.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from edgedistill.devices import harness
from edgedistill.errors import UserError

HARNESS = Path(harness.__file__)


def student_checkpoint(manifest: dict) -> Path | None:
    """The checkpoint the bundle was exported from, if it is still on this machine."""
    source = manifest["source"]
    path = Path(source["run"]) / source["student"] if "run" in source else Path(source.get("checkpoint", ""))
    return path if path.is_file() and harness.sha256_of(path) == source.get("sha256") else None


def bench_bundle(
    bundle: Path, out: Path, threads: int, warmup: int, iterations: int | None, min_seconds: float, pause: float
) -> list[tuple[str, dict | str]]:
    """Run each model; returns (model, result) pairs, or (model, reason) for those that cannot run here."""
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        raise UserError(f"{bundle} is not a bundle (no manifest.json); give a folder written by `edgedistill export`")
    manifest = json.loads(manifest_path.read_text())
    timing = ["--threads", str(threads), "--warmup", str(warmup)]
    timing += ["--iterations", str(iterations)] if iterations else ["--min-seconds", str(min_seconds)]
    jobs = [(entry["file"], ["--artifact", entry["file"]]) for entry in manifest["artifacts"]]
    checkpoint = student_checkpoint(manifest)
    if checkpoint is not None:
        jobs.append((f"pytorch-eager ({checkpoint.name})", ["--eager", str(checkpoint)]))
    out.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, dict | str]] = []
    for index, (name, target) in enumerate(jobs):
        if index and pause:
            time.sleep(pause)  # let the CPU cool between models, against thermal throttling
        result_path = out / f"host-{name.split(' ')[0]}.json"
        command = [sys.executable, str(HARNESS), str(bundle), *target, "--out", str(result_path), *timing]
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            lines = [line for line in finished.stderr.strip().splitlines() if line.startswith("error:")]
            results.append((name, lines[-1].removeprefix("error: ") if lines else finished.stderr.strip()[-300:]))
            continue
        results.append((name, json.loads(result_path.read_text())))
    if checkpoint is None:
        results.append(("pytorch-eager", "the student checkpoint named in manifest.json is not on this machine"))
    return results
