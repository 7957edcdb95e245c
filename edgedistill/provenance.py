"""Where a measured result came from, recorded beside its figures: a number in the README is only
worth as much as the command that reproduces it and the machine it was measured on."""

import os
import platform
import sys
import time
from pathlib import Path


def provenance(started: float, **machine: object) -> dict:
    """The command line, the machine (plus ``machine`` facts the caller controls, such as the cores it
    used), the date, and the wall time since ``started`` (a ``time.perf_counter()`` reading)."""
    return {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "os": platform.platform(),
            "python": platform.python_version(),
            **machine,
        },
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
