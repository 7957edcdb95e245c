"""``--device ssh://user@host[:port]``: a remote Linux board (Raspberry Pi, Jetson, any box with the
runtimes installed) driven with the system's OpenSSH client.

The harness and the bundle are copied into a fresh temporary folder on the board, each model is
run there in its own process exactly as on the host, and the result JSON is copied back. Files
travel as a tar stream through ssh itself, not scp: scp needs the board's sftp subsystem, which
minimal images (dropbear, Yocto) often leave out, while every board has tar. Login
must work without a password prompt (keys or an agent): the driver runs ssh in batch mode so a
prompt can never hang it. ``--ssh-option`` passes ``-o`` settings through (an identity file, a
known-hosts file) for setups without an ``~/.ssh/config`` entry.
"""

import shlex
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from edgedistill.devices import harness
from edgedistill.devices.bench import Job, Timing, harness_error, read_manifest, user_errors
from edgedistill.devices.host import HARNESS
from edgedistill.errors import UserError, setting
from edgedistill.fileio import write_text_atomic

SSH_UNREACHABLE = 255  # ssh's exit status for its own failures (connection, authentication)
EXIT_MARK = "edgedistill-exit:"


class SshDevice:
    formats = ("executorch", "tflite")
    runs_eager = False  # the baseline needs edgedistill and the checkpoint; the board has only runtimes

    def __init__(self, url: str, options: list[str], python: str = "python3", connect_timeout: int = 10):
        if shutil.which("ssh") is None:
            raise UserError("no OpenSSH client here; install it, e.g. apt install openssh-client")
        parts = urlsplit(url)
        try:
            port = parts.port or 22
        except ValueError:
            raise UserError(f"bad port in {url}; write ssh://user@host:PORT") from None
        if parts.scheme != "ssh" or not parts.hostname:
            raise UserError(f"cannot read the device {url!r}; write ssh://user@host or ssh://user@host:port")
        self.destination = f"{parts.username}@{parts.hostname}" if parts.username else parts.hostname
        self.label = f"ssh-{self.destination}" + (f":{port}" if port != 22 else "")
        # ssh keeps the first value it is given, so the user's settings go before the driver's defaults.
        # Keep-alives end a run whose board dropped off the network instead of hanging on it.
        defaults = [
            "BatchMode=yes",
            f"ConnectTimeout={connect_timeout}",
            "ServerAliveInterval=15",
            "ServerAliveCountMax=4",
        ]
        settings = [*options, *defaults]
        self.options = [flag for setting in settings for flag in ("-o", setting)]
        self.port = str(port)
        self.python = python
        self.workdir: str | None = None

    def prepare(self, bundle: Path, jobs: list[Job], timing: Timing) -> None:
        made = self._ssh('d=$(mktemp -d /tmp/edgedistill.XXXXXX) && mkdir "$d/bundle" && echo "$d"')
        if made.returncode == SSH_UNREACHABLE:
            raise UserError(
                f"cannot reach {self.destination} on port {self.port}: {_last_line(made.stderr)}; check the address, "
                f"that sshd runs there and that `ssh -p {self.port} {self.destination} true` logs in without a prompt"
            )
        if made.returncode:
            raise UserError(f"cannot make a folder in /tmp on {self.destination}: {_last_line(made.stderr)}")
        self.workdir = made.stdout.strip().splitlines()[-1]  # after anything the board's login prints
        probe = self._ssh(f"{shlex.quote(self.python)} -c 'import numpy'")
        if probe.returncode:
            raise UserError(
                f"{self.python} on {self.destination} cannot run the harness ({_last_line(probe.stderr)}); "
                f"install Python 3 with numpy there, or name the board's interpreter with {setting('remote_python')}"
            )
        names = ["manifest.json", read_manifest(bundle)["golden"]["file"], *(job.artifact["file"] for job in jobs)]
        with user_errors():
            files = {f"bundle/{name}": harness.bundle_file(bundle, name) for name in names}
        self._send({HARNESS.name: HARNESS, **files})

    def run(self, bundle: Path, job: Job, timing: Timing, result: Path) -> str | None:
        remote_result = f"{self.workdir}/{job.result_stem}.json"
        command = [self.python, f"{self.workdir}/{HARNESS.name}", f"{self.workdir}/bundle"]
        command += ["--artifact", job.artifact["file"], "--out", remote_result, *timing.harness_args()]
        # The harness's own exit status, printed by the board's shell: ssh exits 255 both when the
        # connection fails and when the remote process is killed, and the two need different advice.
        finished = self._ssh(f"{shlex.join(command)}; echo {EXIT_MARK}$? >&2")
        marks = [line for line in finished.stderr.splitlines() if line.startswith(EXIT_MARK)]
        if not marks:
            return f"lost the connection to {self.destination}: {_last_line(finished.stderr)}"
        status = int(marks[-1].removeprefix(EXIT_MARK))
        if status > 128:
            return f"the harness was killed on {self.destination} by signal {status - 128} (out of memory?)"
        if status:
            return harness_error(finished.stderr)
        fetched = self._ssh(f"cat {shlex.quote(remote_result)}")
        if fetched.returncode:
            return f"cannot copy the result back: {_last_line(fetched.stderr)}"
        write_text_atomic(result, fetched.stdout)
        return None

    def close(self) -> None:
        if self.workdir:
            self._ssh(f"rm -rf {shlex.quote(self.workdir)}")

    def _ssh(self, command: str, stdin: IO[bytes] | None = None) -> subprocess.CompletedProcess:
        ssh = ["ssh", "-p", self.port, *self.options, self.destination, command]
        if stdin is None:
            return subprocess.run(ssh, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        finished = subprocess.run(ssh, capture_output=True, stdin=stdin)
        return subprocess.CompletedProcess(ssh, finished.returncode, "", finished.stderr.decode(errors="replace"))

    def _send(self, files: dict[str, Path]) -> None:
        """Unpack ``files`` (name in the work folder -> local path) into the work folder on the board."""
        with tempfile.TemporaryFile() as stream:
            with tarfile.open(fileobj=stream, mode="w") as archive:
                for name, path in files.items():
                    archive.add(path, arcname=name)
            stream.seek(0)
            copied = self._ssh(f"tar -xf - -C {shlex.quote(self.workdir)}", stdin=stream)
        if copied.returncode:
            raise UserError(f"cannot copy the bundle to {self.destination}: {_last_line(copied.stderr)}")


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else "no message"
