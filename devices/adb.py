"""``--device adb[:SERIAL]``: an Android phone or emulator, through adb and the instrumentation
harness of devices/android/ (the official ExecuTorch and LiteRT Android runtimes).

The driver installs the harness's two APKs, pushes the staged bundle to /data/local/tmp (where
ExecuTorch's own Android demos keep models), runs one instrumentation per model (``am instrument
-w`` blocks until it is done) and pulls the result JSON from the app's external files folder.
"""

import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgedistill.devices.bench import Job, Timing
from edgedistill.devices.staging import stage_bundle
from edgedistill.errors import UserError, setting

PACKAGE = "org.edgedistill.harness"
RUNNER = f"{PACKAGE}.test/androidx.test.runner.AndroidJUnitRunner"
APKS = (
    "app/build/outputs/apk/debug/app-debug.apk",
    "app/build/outputs/apk/androidTest/debug/app-debug-androidTest.apk",
)
DEVICE_ROOT = "/data/local/tmp/edgedistill"
DEVICE_BUNDLE = f"{DEVICE_ROOT}/bundle"  # a fixed name: the phone's shell never sees the user's folder names
RESULTS = f"/sdcard/Android/data/{PACKAGE}/files/results"


class AdbDevice:
    formats = ("executorch", "tflite")
    runs_eager = False

    def __init__(self, serial: str | None, harness: Path | None):
        if shutil.which("adb") is None:
            raise UserError("no adb here; install Android's platform-tools (or Debian's adb package) and retry")
        self.serial = choose_device(serial)
        self.label = f"adb-{self.serial}"
        self.harness = harness or Path(__file__).parent / "android"
        self.pushed = False
        self.staged: Path | None = None

    def prepare(self, bundle: Path, jobs: list[Job], timing: Timing) -> None:
        apks = [self.harness / apk for apk in APKS]
        missing = [str(apk) for apk in apks if not apk.is_file()]
        if missing:
            raise UserError(
                f"the Android harness is not built ({missing[0]} is missing); build it as devices/android/README.md "
                f"says (it ships in a source checkout, not in the wheel), or point {setting('harness')} at the built "
                "project"
            )
        for apk in apks:
            self._adb("install", "-r", "-t", str(apk), problem="cannot install the harness")
        self.staged = Path(tempfile.mkdtemp(prefix="edgedistill-adb-"))
        local = stage_bundle(bundle, jobs, timing, self.staged / "bundle")
        self.pushed = True
        self._adb(
            "shell", f"rm -rf {DEVICE_BUNDLE} && mkdir -p {DEVICE_ROOT}", problem="cannot prepare /data/local/tmp"
        )
        self._adb("push", str(local), f"{DEVICE_ROOT}/", problem="cannot push the bundle")  # lands as DEVICE_BUNDLE

    def run(self, bundle: Path, job: Job, timing: Timing, result: Path) -> str | None:
        name = job.artifact["file"]
        device_result = f"{RESULTS}/{name}.json"
        self._adb("shell", shlex.join(["rm", "-f", device_result]), problem="cannot clear an old result")
        instrument = ["am", "instrument", "-w", "-e", "bundle", DEVICE_BUNDLE, "-e", "job", f"jobs/{name}.properties"]
        finished = self._call("shell", shlex.join([*instrument, RUNNER]))
        if "OK (1 test)" not in finished.stdout:
            return instrumentation_failure(finished.stdout + finished.stderr)
        pulled = self._call("pull", device_result, str(result))
        return f"cannot pull the result: {pulled.stderr.strip()[-200:]}" if pulled.returncode else None

    def close(self) -> None:
        if self.pushed:
            self._call("shell", f"rm -rf {DEVICE_BUNDLE}")
        if self.staged:
            shutil.rmtree(self.staged, ignore_errors=True)

    def _call(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["adb", "-s", self.serial, *args], capture_output=True, text=True)

    def _adb(self, *args: str, problem: str) -> None:
        done = self._call(*args)
        if done.returncode:
            raise UserError(f"{problem} on {self.serial}: {(done.stderr or done.stdout).strip()[-300:]}")


def attached_devices() -> dict[str, str]:
    """Serial -> state (device, unauthorized, offline) as ``adb devices`` lists them."""
    # The server is started on its own first: started by a captured call, the daemon would inherit
    # the pipes and keep them open.
    subprocess.run(["adb", "start-server"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    listing = subprocess.run(["adb", "devices"], capture_output=True, text=True)
    if listing.returncode:
        raise UserError(f"adb cannot list devices: {listing.stderr.strip()[-300:]}")
    rows = [line.split() for line in listing.stdout.splitlines()[1:] if line.strip()]
    return {row[0]: row[1] for row in rows if len(row) >= 2}


def choose_device(serial: str | None) -> str:
    """The one phone to use, or an error that says what is attached and what to do."""
    devices = attached_devices()
    if not devices:
        raise UserError(
            "no Android device attached (`adb devices` lists none); connect a phone with USB debugging on, "
            "or start an emulator, then retry"
        )
    if serial and serial not in devices:
        raise UserError(f"no Android device {serial} attached; attached: {', '.join(sorted(devices))}")
    if not serial:
        if len(devices) > 1:
            raise UserError(f"several Android devices attached ({', '.join(sorted(devices))}); pick one: adb:SERIAL")
        serial = next(iter(devices))
    if devices[serial] != "device":
        raise UserError(f"Android device {serial} is {devices[serial]}; unlock it and accept the USB debugging prompt")
    return serial


def instrumentation_failure(output: str) -> str:
    """The harness's one-line message from ``am instrument`` output (JUnit prints the exception first)."""
    for line in output.splitlines():
        if "Exception:" in line or "Error:" in line:
            return line.split(":", 1)[1].strip()[:300]
    return output.strip()[-300:] or "the instrumentation printed nothing"
