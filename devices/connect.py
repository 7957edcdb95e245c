"""From ``--device`` to a driver: host, ssh://user@host[:port], adb[:SERIAL], ios:UDID."""

from pathlib import Path

from edgedistill.devices.bench import Device
from edgedistill.errors import UserError, setting


def open_device(
    spec: str, ssh_options: list[str], remote_python: str, harness: Path | None, team: str | None
) -> Device:
    """The driver for ``spec``; each checks on creation that its tools and the device are there."""
    kind, _, rest = spec.partition(":")
    if spec == "host":
        from edgedistill.devices.host import HostDevice

        return HostDevice()
    if spec.startswith("ssh://"):
        from edgedistill.devices.ssh import SshDevice

        return SshDevice(spec, ssh_options, remote_python)
    if kind == "adb":
        from edgedistill.devices.adb import AdbDevice

        return AdbDevice(rest or None, harness)
    if kind == "ios":
        from edgedistill.devices.ios import IosDevice

        return IosDevice(rest or None, harness, team)
    raise UserError(
        f"unknown {setting('device')} {spec!r}; choose host, ssh://user@host[:port], adb[:SERIAL] or ios:UDID"
    )
