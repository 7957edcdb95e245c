"""The two consoles every command writes to, and the one way a command fails."""

import sys

import typer
from rich.console import Console

# Piped output (logs, CI) gets wide tables instead of rich's 80-column default that truncates them.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str) -> None:
    """Print one line naming the problem (and its fix) and exit 1."""
    errors.print(f"error: {message}")
    raise typer.Exit(1)
