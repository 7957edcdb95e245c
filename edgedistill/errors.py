"""The one exception type the CLI turns into a single line for the user, and the operating-system
errors that are the user's to fix."""

import errno

_flags = False  # whether messages name settings as command-line flags


def name_settings_as_flags(flags: bool = True) -> None:
    """Called by the command line before it runs a command: its users set ``--image-size``, while Python
    callers pass ``image_size``, and each should read the name they typed."""
    global _flags
    _flags = flags


def setting(name: str, value: object = None) -> str:
    """How a message names setting ``name``, or sets it to ``value``: ``--image-size 64`` on the command line,
    ``image_size=64`` in Python. A switch is the bare flag (``--force``) or its negation (``--no-pretrained``),
    and a list is its values in a row (``--teacher-mean 0.5 0.5 0.5``), as typed on the command line."""
    if not _flags:
        return name if value is None else f"{name}={value!r}"
    flag = "--" + name.replace("_", "-")
    if value is None or value is True:
        return flag
    if value is False:
        return f"--no-{name.replace('_', '-')}"
    if isinstance(value, list | tuple):
        return f"{flag} {' '.join(map(str, value))}"
    return f"{flag} {value}"


class UserError(Exception):
    """Bad input or a state the user can fix.

    The CLI prints the message alone (no traceback) and exits 1, so the message must name
    the problem and the fix. Raising it must never leave a half-written file behind.
    """


PLACE_PROBLEMS = {
    errno.ENOSPC: "the disk is full; free space there or choose a place on another disk",
    errno.EDQUOT: "the disk quota is used up; free space there or choose a place on another disk",
    errno.EROFS: "that file system is read-only; choose a writable place",
    errno.EACCES: "permission denied; fix its permissions or choose a place you may use",
    errno.EPERM: "the operation is not permitted there; fix its permissions or choose a place you may use",
}


def place_problem(error: OSError) -> str | None:
    """One line for an OS error that comes from the machine rather than from edgedistill (a full disk,
    a read-only or forbidden folder), naming the file; None for any other error, which is a bug to show."""
    advice = PLACE_PROBLEMS.get(error.errno)
    if advice is None:
        return None
    where = f" at {error.filename}" if error.filename else ""
    return f"{error.strerror or error}{where}: {advice}"
