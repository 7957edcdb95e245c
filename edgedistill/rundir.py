"""Run directories: what ``--force`` may replace, what ``--resume`` reopens, and what a run that never
started leaves behind (nothing).

A run directory carries a marker file, so ``--force`` can tell a run from any other folder: it
replaces runs only, never the current folder or one above it, never through a symbolic link. The
old run is moved aside, not deleted, until the new run has loaded its inputs; a new run that
fails before that is removed and the old one moved back. ``--resume`` reopens the folder it is
given (never the ``out`` saved inside it, which may point at the original of a copied run) and
refuses options that contradict the saved settings.
"""

import json
import os
import shutil
from dataclasses import fields
from pathlib import Path

from edgedistill import __version__
from edgedistill.config import PYTHON_MODULE, TORCHVISION_TEACHER, TrainConfig
from edgedistill.errors import UserError, setting
from edgedistill.fileio import remove_stale_temp_files, write_text_atomic

MARKER = ".edgedistill-run"
INPUTS = (
    "data",
    "teacher",
    "teacher_weights",
    "student_weights",
    "teacher_cache",
    "unlabeled",
    "domain",
)  # may be paths
CHANGEABLE_ON_RESUME = ("workers", "device")  # where and how fast it runs, not what it learns


def is_run_dir(path: Path) -> bool:
    return (path / MARKER).is_file()


class RunClaim:
    """The run directory this command made, until the run has started; ``rollback`` undoes it."""

    def __init__(self, run_dir: Path, made: bool, aside: Path | None):
        self.run_dir, self.made, self.aside = run_dir, made, aside
        self.started = False

    def start(self) -> None:
        """The new run's inputs loaded: the run it replaced can go."""
        self.started = True
        if self.aside is not None:
            shutil.rmtree(self.aside)
            self.aside = None

    def rollback(self) -> bool:
        """Undo a run that failed before it started: remove what this command wrote and put back the run
        it replaced. Returns whether there was anything to undo."""
        if self.started:
            return False
        if self.made:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        else:  # the folder was there, empty: leave it empty
            for name in ("config.yaml", MARKER):
                (self.run_dir / name).unlink(missing_ok=True)
        if self.aside is not None:
            self.aside.rename(self.run_dir)
        return True


def prepare_run_dir(cfg: TrainConfig, force: bool) -> RunClaim:
    """Make the run directory ``cfg.out`` for a new run; an existing run is replaced only with ``force``."""
    run_dir = Path(cfg.out)
    aside = None
    if run_dir.is_symlink() and force:
        raise UserError(
            f"{setting('out', run_dir)} is a symbolic link; {setting('force', True)} never replaces through one, give "
            "its target"
        )
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{setting('out', run_dir)} is a file, not a folder; choose another {setting('out')}")
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not force:
            raise UserError(
                f"run directory {run_dir} already exists; pass {setting('resume', True)} to continue it, "
                f"{setting('force', True)} to replace it, or choose another {setting('out')}"
            )
        _refuse_inputs_inside(cfg, run_dir)
        aside = _move_aside(run_dir)
    made = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / MARKER, json.dumps({"edgedistill": __version__}) + "\n")
        cfg.save(run_dir)
    except OSError as error:
        RunClaim(run_dir, made, aside).rollback()
        raise UserError(
            f"cannot write the run directory {run_dir} ({error.strerror or error}); choose a writable {setting('out')}"
        ) from None
    return RunClaim(run_dir, made, aside)


def _refuse_inputs_inside(cfg: TrainConfig, run_dir: Path) -> None:
    """An input kept in the run that --force replaces (its teacher, a cache, a preset) would be gone by the
    time the new run reads it."""
    inside = run_dir.resolve()
    for name in INPUTS:
        value = getattr(cfg, name)
        if value and _is_path(name, value) and Path(value).resolve().is_relative_to(inside):
            raise UserError(
                f"{setting(name, value)} lies inside {run_dir}, the run {setting('force', True)} would replace; "
                f"copy it out of that folder first, or choose another {setting('out')}"
            )


def _move_aside(run_dir: Path) -> Path:
    """Check that ``--force`` may replace ``run_dir`` and move it to a hidden sibling."""
    here = Path.cwd().resolve()
    if here == run_dir.resolve() or here.is_relative_to(run_dir.resolve()):
        raise UserError(
            f"{setting('force', True)} would replace {run_dir}, which holds the current folder; choose another "
            f"{setting('out')}"
        )
    if not is_run_dir(run_dir):
        raise UserError(
            f"{run_dir} is not an edgedistill run (no {MARKER} file), so {setting('force', True)} leaves it alone; "
            f"choose another {setting('out')}, or empty or delete it yourself"
        )
    aside = run_dir.with_name(f".{run_dir.name}.replaced")
    if aside.exists():
        raise UserError(
            f"{aside} holds a run that an earlier {setting('force', True)} replaced and did not finish replacing; "
            f"move it back to {run_dir} or delete it, then retry"
        )
    run_dir.rename(aside)
    return aside


def resume_config(run_dir: Path, requested: TrainConfig, given: set[str]) -> TrainConfig:
    """The saved config of ``run_dir``, reopened where it is now. ``given`` names the settings the user
    set for this command (``requested`` holds their values): a different value is refused unless it
    cannot change what the run computes."""
    saved = TrainConfig.load(run_dir)
    contradicting = []
    for field in fields(TrainConfig):
        name = field.name
        if name == "out" or name not in given:
            continue
        new, old = getattr(requested, name), getattr(saved, name)
        if new == old:
            continue
        if name in CHANGEABLE_ON_RESUME:
            setattr(saved, name, new)
        else:
            contradicting.append(f"{setting(name, new)} (the run has {old})")
    if contradicting:
        raise UserError(
            f"{setting('resume')} continues {run_dir} with its saved settings, and these settings contradict them: "
            f"{', '.join(contradicting)}; drop them, or start a new run with another {setting('out')}"
        )
    saved.out = str(run_dir)
    return saved


def reopen_run_dir(cfg: TrainConfig) -> None:
    """Write the resumed config back (its folder and any changed worker count) and remove the temp files of
    writes that a killed run never finished; called once every check has passed."""
    run_dir = Path(cfg.out)
    remove_stale_temp_files(run_dir)
    cfg.save(run_dir)


def absolute_inputs(cfg: TrainConfig) -> TrainConfig:
    """The config with its input paths made absolute, so the saved config.yaml means the same from any
    working folder (``--resume`` and a re-run from elsewhere read the same data)."""
    for name in INPUTS:
        value = getattr(cfg, name)
        if value and _is_path(name, value):
            setattr(cfg, name, os.path.abspath(value))
    return cfg


def _is_path(name: str, value: str) -> bool:
    if name == "data":
        return value not in ("demo", "cifar10")
    if name == "teacher":
        return not value.startswith(("timm:", TORCHVISION_TEACHER, PYTHON_MODULE))
    if name == "domain":
        return value.endswith((".yaml", ".yml"))  # as augment.preset_path tells a file from a shipped name
    return True
