"""The two consoles every command writes to, and the one way a command fails."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from edgedistill.errors import UserError, place_problem

# Piped output (logs, CI) gets wide tables instead of rich's 80-column default that truncates them.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str) -> None:
    """Print one line naming the problem (and its fix) and exit 1."""
    errors.print(f"error: {message}", markup=False)  # a path or a list in brackets is not markup
    raise typer.Exit(1)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn the errors a user can fix (bad input, a full disk, a read-only folder) into one line and exit 1."""
    try:
        yield
    except UserError as error:
        fail(str(error))
    except OSError as error:
        problem = place_problem(error)
        if problem is None:
            raise
        fail(problem)
