"""``--device ios:UDID``: an iPhone or iPad, from a Mac, through the XCTest harness of devices/ios/
(Core ML and the official ExecuTorch Swift package).

iOS has no shell to push files into, so the staged bundle goes into a copy of the harness
package as a test resource and ``xcodebuild test`` builds, signs, installs and runs it. The
test runs every job in one go (an xcodebuild round costs tens of seconds) and prints each
result between markers on its output, which this driver reads back.
"""

import json
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgedistill.devices.bench import Job, Timing
from edgedistill.devices.staging import stage_bundle
from edgedistill.errors import UserError, setting
from edgedistill.fileio import write_json_atomic

SCHEME = "EdgeDistillHarness"
STAGED = Path("Tests/HarnessTests/StagedBundle")
BEGIN, END, ERROR = "EDGEDISTILL-RESULT-BEGIN", "EDGEDISTILL-RESULT-END", "EDGEDISTILL-RESULT-ERROR"


class IosDevice:
    formats = ("coreml", "executorch")
    runs_eager = False

    def __init__(self, udid: str | None, harness: Path | None, team: str | None = None):
        if platform.system() != "Darwin":
            raise UserError(
                f"iOS devices are driven from macOS with Xcode (xcodebuild); this machine runs {platform.system()}. "
                "Run the same command on a Mac with the phone attached"
            )
        if shutil.which("xcodebuild") is None:
            raise UserError("no xcodebuild here; install Xcode 15 or newer and run `xcode-select --install`")
        if not udid:
            raise UserError(
                f"name the device: {setting('device', 'ios:UDID')} (`xcrun xctrace list devices` lists the UDIDs)"
            )
        self.udid = udid
        self.label = f"ios-{udid}"
        self.harness = harness or Path(__file__).parent / "ios"
        self.team = team
        self.workdir: Path | None = None
        self.outcomes: dict[str, dict | str] = {}

    def prepare(self, bundle: Path, jobs: list[Job], timing: Timing) -> None:
        if not (self.harness / "Package.swift").is_file():
            raise UserError(
                f"{self.harness} is not the iOS harness (no Package.swift); it ships in a source checkout of "
                f"edgedistill, not in the wheel: point {setting('harness')} at that checkout's devices/ios"
            )
        self.workdir = Path(tempfile.mkdtemp(prefix="edgedistill-ios-"))
        package = self.workdir / "harness"
        shutil.copytree(self.harness, package, ignore=shutil.ignore_patterns(".build", "*.xcodeproj"))
        shutil.rmtree(package / STAGED, ignore_errors=True)
        stage_bundle(bundle, jobs, timing, package / STAGED)
        command = ["xcodebuild", "test", "-scheme", SCHEME, "-destination", f"platform=iOS,id={self.udid}"]
        command += ["-configuration", "Release"]  # the harness's own per-call lines optimised, as in an app
        command += ["-allowProvisioningUpdates"] + ([f"DEVELOPMENT_TEAM={self.team}"] if self.team else [])
        finished = subprocess.run(command, cwd=package, capture_output=True, text=True)
        self.outcomes = parse_results(finished.stdout)
        if not self.outcomes:
            tail = (finished.stderr or finished.stdout).strip().splitlines()[-5:]
            raise UserError(f"xcodebuild ran no harness job on {self.udid}: {' | '.join(tail)}")

    def run(self, bundle: Path, job: Job, timing: Timing, result: Path) -> str | None:
        outcome = self.outcomes.get(job.artifact["file"], "the harness printed no result for it")
        if isinstance(outcome, str):
            return outcome
        write_json_atomic(result, outcome)
        return None

    def close(self) -> None:
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def parse_results(output: str) -> dict[str, dict | str]:
    """Artifact -> result dict, or -> the one-line error, from the markers the XCTest prints."""
    outcomes: dict[str, dict | str] = {}
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(BEGIN) and index + 2 < len(lines) and lines[index + 2].startswith(END):
            outcomes[line.removeprefix(BEGIN).strip()] = json.loads(lines[index + 1])
        elif line.startswith(ERROR):
            artifact, _, message = line.removeprefix(ERROR).strip().partition(" ")
            outcomes[artifact] = message
    return outcomes
