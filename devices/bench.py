"""``edgedistill bench``: one loop over a bundle's models for every kind of device.

A device only knows how to get the bundle there and run one job; which models run, in what
order, with what pauses, and where the results land is decided here, once for all of them.
"""

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from edgedistill.devices import harness
from edgedistill.errors import UserError, setting
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


# Every key of manifest.json that bench and the harnesses read, with its type: [T] is a list of T,
# and a key ending in "?" may be absent or null. Artifacts the export failed on have no sha256 (no file).
MANIFEST_KEYS = {
    "passed": bool,
    "labels": [str],
    "input": dict,
    "input.shape": [int],
    "golden": dict,
    "golden.file": str,
    "golden.sha256": str,
    "source": dict,
    "source.arch": str,
    "source.stem?": str,
    "source.run?": str,
    "source.student?": str,
    "source.checkpoint?": str,
    "source.sha256?": str,
    "artifacts": [dict],
}
ARTIFACT_KEYS = {"file": str, "format": str, "precision": str, "size_bytes": int, "sha256?": str, "delegate?": str}
JSON_TYPES = {bool: "true or false", int: "an integer", str: "a string", dict: "an object"}


@contextmanager
def user_errors() -> Iterator[None]:
    """The harness's BundleError as the CLI's UserError: the harness runs alone on boards and cannot
    import edgedistill, so it has its own exception with the same one-line message."""
    try:
        yield
    except harness.BundleError as error:
        raise UserError(str(error)) from None


def read_manifest(bundle: Path) -> dict:
    """The bundle's manifest.json, with every key bench and the harnesses read, of the right type; or
    one error that names what is wrong, before any of it is used."""
    if not (bundle / "manifest.json").is_file():
        raise UserError(f"{bundle} is not a bundle (no manifest.json); give a folder written by `edgedistill export`")
    with user_errors():
        path = harness.bundle_file(bundle, "manifest.json")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # ValueError: not UTF-8, or not JSON
        raise UserError(f"{path} is not JSON ({error}); export the bundle again or copy it whole") from None
    problem = manifest_problem(manifest)
    if problem:
        raise UserError(f"{path} {problem}; export the bundle again (`edgedistill export` writes every key)")
    return manifest


def manifest_problem(manifest: object) -> str | None:
    """What is wrong with the shape of a parsed manifest.json, in words, or None."""
    if not isinstance(manifest, dict):
        return f"holds {json.dumps(manifest)[:40]}, not a JSON object"
    problem = shape_problem(manifest, MANIFEST_KEYS, "")
    for index, entry in enumerate(manifest["artifacts"] if problem is None else []):
        problem = problem or shape_problem(entry, ARTIFACT_KEYS, f"artifacts[{index}].")
    return problem


def shape_problem(value: dict, keys: dict, prefix: str) -> str | None:
    """The first of ``keys`` (dotted: golden.sha256) that ``value`` lacks or holds with another type."""
    for key, kind in keys.items():
        found = value
        for part in key.removesuffix("?").split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if found is None and key.endswith("?"):
            continue
        name = prefix + key.removesuffix("?")
        if found is None:
            return f"has no {name}"
        if not has_type(found, kind):
            expected = f"a list, each {JSON_TYPES[kind[0]]}" if isinstance(kind, list) else JSON_TYPES[kind]
            return f"has {name} = {json.dumps(found)[:40]}, not {expected}"
    return None


def has_type(value: object, kind: type | list) -> bool:
    if isinstance(kind, list):
        return isinstance(value, list) and all(has_type(item, kind[0]) for item in value)
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))  # JSON's true is no integer


def student_checkpoint(manifest: dict) -> Path:
    """The checkpoint the bundle was exported from, if it is still on this machine, unchanged; else
    BundleError with the reason (the eager baseline is then left out, the rest still runs)."""
    source = manifest["source"]
    path = Path(source["run"]) / source.get("student", "") if "run" in source else Path(source.get("checkpoint", ""))
    if not path.is_file():
        raise harness.BundleError(f"the student checkpoint named in manifest.json ({path}) is not on this machine")
    harness.check_sha256(path, source.get("sha256"))
    return path


def plan_jobs(bundle: Path, manifest: dict, device: Device) -> tuple[list[Job], list[tuple[str, str]]]:
    """The jobs the device can run, and (name, reason) for the models it cannot. Every artifact's name
    must be a plain file of the bundle, even of a model not run: the manifest is refused as a whole."""
    jobs, skipped = [], []
    for entry in manifest["artifacts"]:
        with user_errors():
            harness.bundle_file(bundle, entry["file"])
        if "sha256" not in entry:  # the exporter failed on it: the manifest keeps its figures, there is no file
            skipped.append((entry["file"], "not exported (see verification.md)"))
        elif entry["format"] in device.formats:
            jobs.append(Job(entry["file"], entry))
        else:
            skipped.append((entry["file"], f"{entry['format']} does not run on {device.label}"))
    if device.runs_eager:
        try:
            checkpoint = student_checkpoint(manifest)
            jobs.append(Job(f"pytorch-eager ({checkpoint.name})", None, checkpoint))
        except harness.BundleError as error:
            skipped.append(("pytorch-eager", str(error)))
    return jobs, skipped


def check_files(bundle: Path, manifest: dict, jobs: list[Job]) -> None:
    """The golden set and each job's model against their sha256 in manifest.json, before any job runs:
    a bundle changed on the way stops the bench (exit 1) instead of giving figures for other data."""
    named = [(manifest["golden"]["file"], manifest["golden"]["sha256"])]
    named += [(job.artifact["file"], job.artifact["sha256"]) for job in jobs if job.artifact]
    with user_errors():
        for name, sha256 in named:
            harness.check_sha256(harness.bundle_file(bundle, name), sha256)


def result_files(bundle: Path, out: Path, device: Device, jobs: list[Job]) -> list[Path]:
    """Where each job's result goes: ``out/<device>-<model>.json``, a plain name that stays inside
    ``out``. A bundle can carry its own bench/ folder, or a result file in it, as a link to elsewhere."""
    if out.parent.resolve().is_relative_to(bundle) and not out.resolve().is_relative_to(bundle):
        raise UserError(
            f"{out} is a link to {out.resolve()}, outside the bundle; remove the link or choose {setting('out')}"
        )
    with user_errors():
        return [
            harness.bundle_file(out, f"{safe_name(device.label)}-{safe_name(job.result_stem)}.json") for job in jobs
        ]


def bench_bundle(bundle: Path, out: Path, device: Device, timing: Timing, pause: float) -> list[tuple[str, dict | str]]:
    """Run every model the device can take; returns (model, result) pairs, or (model, reason) for the
    ones that did not run. Each result is also written to ``out/<device>-<model>.json``, with the
    driver's label added under ``device.driver`` so results of two boards with one host name stay apart.
    Everything the manifest names is checked before the device is touched."""
    bundle = bundle.resolve()  # "." has no name to stage under
    manifest = read_manifest(bundle)
    jobs, skipped = plan_jobs(bundle, manifest, device)
    if not jobs:
        return skipped
    check_files(bundle, manifest, jobs)
    paths = result_files(bundle, out, device, jobs)
    out.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, dict | str]] = []
    try:
        device.prepare(bundle, jobs, timing)
        for index, (job, result_path) in enumerate(zip(jobs, paths, strict=True)):
            if index and pause:
                time.sleep(pause)  # let the device cool between models, against thermal throttling
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
