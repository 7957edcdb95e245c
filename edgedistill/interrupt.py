"""Ctrl-C that always stops a long job.

Two ways a SIGINT is lost in a plain Python program, both met here: a process started with SIGINT
ignored (a shell's background job, some CI runners) keeps ignoring it, and a KeyboardInterrupt
raised while DataLoader workers are forked is raised inside an at-fork hook (``logging``'s lock
release), where Python prints it and carries on. So the handler also records the request, and
the training and caching loops check it at every batch.
"""

import signal

_requested = False


def install() -> None:
    """Make SIGINT stop this process with KeyboardInterrupt, whatever disposition it was started with."""
    signal.signal(signal.SIGINT, _on_sigint)


def check() -> None:
    """Raise KeyboardInterrupt if a SIGINT arrived, even one whose first KeyboardInterrupt was swallowed."""
    if _requested:
        raise KeyboardInterrupt


def _on_sigint(signum: int, frame: object) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt
