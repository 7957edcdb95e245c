"""``--device host``: the harness on this machine, one fresh process per model.

A process per model keeps one runtime's memory and thread pools out of the next one's figures,
and is what the harness does on a remote board too.
"""

import subprocess
import sys
from pathlib import Path

from edgedistill.devices import harness
from edgedistill.devices.bench import Job, Timing, harness_error

HARNESS = Path(harness.__file__)


class HostDevice:
    label = "host"
    formats = ("executorch", "tflite", "coreml")
    runs_eager = True

    def prepare(self, bundle: Path, jobs: list[Job], timing: Timing) -> None:
        pass  # the bundle is already here

    def run(self, bundle: Path, job: Job, timing: Timing, result: Path) -> str | None:
        target = ["--artifact", job.artifact["file"]] if job.artifact else ["--eager", str(job.checkpoint)]
        command = [sys.executable, str(HARNESS), str(bundle), *target, "--out", str(result), *timing.harness_args()]
        finished = subprocess.run(command, capture_output=True, text=True)
        return harness_error(finished.stderr) if finished.returncode else None

    def close(self) -> None:
        pass
