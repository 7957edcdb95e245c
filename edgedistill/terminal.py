"""The two consoles every command writes to, and the one way a command fails."""

import typer
from rich.console import Console

console = Console()
errors = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(message: str) -> None:
    """Print one line naming the problem (and its fix) and exit 1."""
    errors.print(f"error: {message}")
    raise typer.Exit(1)
