"""Atomic writes: a file a long job writes is either the old one or the complete new one."""

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

FULL_BELOW = 1 << 20  # free bytes under which a failed write is put down to a full disk


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` and rename tmp over ``path``; an interrupt leaves the old file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; give them the user's usual mode
        os.replace(tmp, path)
    except BaseException as error:
        full = isinstance(error, Exception) and shutil.disk_usage(path.parent).free < FULL_BELOW
        Path(tmp).unlink(missing_ok=True)
        if full:  # torch and safetensors report a full disk as RuntimeError or SafetensorError
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from error
        if isinstance(error, OSError) and error.filename is None:
            error.filename = str(path)  # so the user is told which file
        raise


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the temp files of writes that a killed process never finished (``write_atomic`` names
    them ``.NAME.XXXX.tmp``); the files they were to replace are intact. Returns what was removed."""
    stale = [p for p in Path(folder).rglob(".*.tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text))


def write_json_atomic(path: str | Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
