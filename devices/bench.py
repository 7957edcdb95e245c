"""``edgedistill bench``: one loop over a bundle's models for every kind of device.

A device only knows how to get the bundle there and run one job; which models run, in what
order, with what pauses, and where the results land is decided here, once for all of them.
"""

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgedistill.devices import harness
from edgedistill.errors import UserError
from edgedistill.fileio import write_json_atomic


@dataclass(frozen=True)
class Timing:
    threads: int
    warmup: int
    iterations: int | None  # None: time for min_seconds instead
    min_seconds: float

    def harness_args(self) -> list[str]:
        """The same settings as arguments of ``devices/harness.py``."""
        args = ["--threads", str(self.threads), "--warmup", str(self.warmup)]
        return args + (
            ["--iterations", str(self.iterations)] if self.iterations else ["--min-seconds", str(self.min_seconds)]
        )


@dataclass(frozen=True)
class Job:
    name: str  # what the user reads in the table
    artifact: dict | None  # the manifest's entry; None for the PyTorch eager baseline
    checkpoint: Path | None = None  # the student checkpoint, for the eager baseline

    @property
    def result_stem(self) -> str:
        return self.artifact["file"] if self.artifact else "pytorch-eager"


class Device(Protocol):
    label: str  # prefix of result files and title of the table: host, ssh-pi@board, adb-SERIAL, ios-UDID
    formats: tuple[str, ...]  # runtimes the device can run
    runs_eager: bool  # whether the PyTorch baseline can run there

    def prepare(self, bundle: Path, jobs: list[Job], timing: Timing) -> None:
        """Copy what the jobs need to the device; raise UserError when the device cannot be used at all."""

    def run(self, bundle: Path, job: Job, timing: Timing, result: Path) -> str | None:
        """Run one job and write its result JSON to ``result``; return why not, in one line, on failure."""

    def close(self) -> None:
        """Remove what ``prepare`` put on the device."""


def read_manifest(bundle: Path) -> dict:
    """The bundle's manifest.json, or one error that says what a bundle is."""
    path = bundle / "manifest.json"
    if not path.is_file():
        raise UserError(f"{bundle} is not a bundle (no manifest.json); give a folder written by `edgedistill export`")
    return json.loads(path.read_text())


def student_checkpoint(manifest: dict) -> Path | None:
    """The checkpoint the bundle was exported from, if it is still on this machine, unchanged."""
    source = manifest["source"]
    path = Path(source["run"]) / source["student"] if "run" in source else Path(source.get("checkpoint", ""))
    return path if path.is_file() and harness.sha256_of(path) == source.get("sha256") else None


def plan_jobs(manifest: dict, device: Device) -> tuple[list[Job], list[tuple[str, str]]]:
    """The jobs the device can run, and (name, reason) for the models it cannot."""
    jobs, skipped = [], []
    for entry in manifest["artifacts"]:
        if "sha256" not in entry:  # the exporter failed on it: the manifest keeps its figures, there is no file
            skipped.append((entry["file"], "not exported (see verification.md)"))
        elif entry["format"] in device.formats:
            jobs.append(Job(entry["file"], entry))
        else:
            skipped.append((entry["file"], f"{entry['format']} does not run on {device.label}"))
    if device.runs_eager:
        checkpoint = student_checkpoint(manifest)
        if checkpoint is None:
            skipped.append(("pytorch-eager", "the student checkpoint named in manifest.json is not on this machine"))
        else:
            jobs.append(Job(f"pytorch-eager ({checkpoint.name})", None, checkpoint))
    return jobs, skipped


def bench_bundle(bundle: Path, out: Path, device: Device, timing: Timing, pause: float) -> list[tuple[str, dict | str]]:
    """Run every model the device can take; returns (model, result) pairs, or (model, reason) for the
    ones that did not run. Each result is also written to ``out/<device>-<model>.json``, with the
    driver's label added under ``device.driver`` so results of two boards with one host name stay apart."""
    bundle = bundle.resolve()  # "." has no name to stage under
    jobs, skipped = plan_jobs(read_manifest(bundle), device)
    if not jobs:
        return skipped
    out.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, dict | str]] = []
    try:
        device.prepare(bundle, jobs, timing)
        for index, job in enumerate(jobs):
            if index and pause:
                time.sleep(pause)  # let the device cool between models, against thermal throttling
            result_path = out / f"{safe_name(device.label)}-{job.result_stem}.json"
            reason = device.run(bundle, job, timing, result_path)
            if reason:
                results.append((job.name, reason))
                continue
            result = json.loads(result_path.read_text())
            result["device"]["driver"] = device.label
            write_json_atomic(result_path, result)
            results.append((job.name, result))
    finally:
        device.close()
    return results + skipped


def safe_name(text: str) -> str:
    """``text`` as a file-name part: ssh://pi@board:2222 gives ssh-pi_board_2222."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def harness_error(stderr: str) -> str:
    """The harness's one ``error:`` line, or the tail of whatever went wrong."""
    lines = [line for line in stderr.strip().splitlines() if line.startswith("error:")]
    return lines[-1].removeprefix("error: ") if lines else stderr.strip()[-300:]
