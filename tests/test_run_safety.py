"""Run directories under hostile-but-fair use: nothing a user made is lost, nothing outside the run is
touched, and every refusal is one line. Each case runs the real command in a child process."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
import yaml
from conftest import make_image_folder, run_cli, train_tiny_run

from edgedistill.fileio import remove_stale_temp_files
from edgedistill.rundir import MARKER
from edgedistill.terminal import one_line_errors

QUICK = ["--epochs", "1", "--teacher-epochs", "1", "--batch-size", "8", "--workers", "0"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones included) with its bytes: equal snapshots, nothing changed."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line(result: subprocess.CompletedProcess, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    """A finished one-epoch run on a small ImageFolder, and that folder."""
    root = tmp_path_factory.mktemp("safety")
    data = make_image_folder(root)
    return train_tiny_run(data, root / "run"), data


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def test_force_never_replaces_the_current_folder_a_parent_or_a_folder_that_is_not_a_run(tmp_path):
    work = tmp_path / "project" / "sub"
    work.mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    (tmp_path / "project" / "data.csv").write_text("1,2")
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"not really a cat")
    before = snapshot(tmp_path)
    one_line(run_cli("train", "--out", ".", "--force", cwd=work), "--force would replace .", "current folder")
    one_line(run_cli("train", "--out", "..", "--force", cwd=work), "holds the current folder")
    one_line(run_cli("train", "--out", str(other), "--force", cwd=work), "is not an edgedistill run", MARKER)
    # the first reported failure: a typo in another option must not get as far as the disk
    one_line(run_cli("train", "--out", ".", "--force", "--domain", "typo", cwd=work), "unknown domain 'typo'")
    assert snapshot(tmp_path) == before


def test_force_never_follows_a_symbolic_link(finished_run, tmp_path):
    run, _ = finished_run
    target = copy_run(run, tmp_path / "target")
    link = tmp_path / "link"
    link.symlink_to(target)
    before = snapshot(target)
    one_line(run_cli("train", "--out", str(link), "--force"), "is a symbolic link")
    assert snapshot(target) == before and link.is_symlink()


def test_force_with_bad_input_keeps_the_old_run(finished_run, tmp_path):
    run, data = finished_run
    old = copy_run(run, tmp_path / "old")
    before = snapshot(old)
    one_line(run_cli("train", "--out", str(old), "--force", "--data", str(tmp_path / "nope")), "does not exist")
    assert snapshot(old) == before
    # an input that fails only once it is read, after the old run was moved aside: the old run comes back
    broken = shutil.copytree(data, tmp_path / "broken")
    (broken / "train" / "red" / "zz.png").write_bytes(b"not an image")
    one_line(run_cli("train", "--out", str(old), "--force", "--data", str(broken), *QUICK), "cannot read image")
    assert snapshot(old) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken", "old"]  # no half-made run, nothing aside


def test_force_replaces_a_run_and_removes_the_old_one(finished_run, tmp_path):
    run, data = finished_run
    old = copy_run(run, tmp_path / "old")
    (old / "student_kd.safetensors").write_bytes(b"old weights")
    result = run_cli("train", "--out", str(old), "--force", "--data", str(data), *QUICK, "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert (old / MARKER).is_file() and (old / "student_kd.safetensors").read_bytes() != b"old weights"
    assert json.loads((old / "metrics.json").read_text())["config"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]


def test_a_run_that_fails_before_it_starts_leaves_nothing_so_the_fixed_command_just_works(finished_run, tmp_path):
    _, data = finished_run
    broken = shutil.copytree(data, tmp_path / "broken")
    (broken / "test" / "blue" / "zz.png").write_bytes(b"not an image")
    out = tmp_path / "new"
    one_line(run_cli("train", "--out", str(out), "--data", str(broken), *QUICK), "cannot read image")
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line(run_cli("train", "--out", str(empty), "--data", str(broken), *QUICK), "cannot read image")
    assert empty.is_dir() and not any(empty.iterdir())  # the user's empty folder stays, empty
    (broken / "test" / "blue" / "zz.png").unlink()
    fixed = run_cli("train", "--out", str(out), "--data", str(broken), *QUICK)
    assert fixed.returncode == 0, fixed.stderr


def test_resume_reopens_the_folder_given_not_the_one_saved_inside_it(finished_run, tmp_path):
    run, _ = finished_run
    original = copy_run(run, tmp_path / "original")
    copy = copy_run(original, tmp_path / "copy")
    before = snapshot(original)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (copy / "metrics.json").unlink()
    resumed = run_cli("train", "--resume", "--out", str(copy), "--workers", "0", cwd=elsewhere)
    assert resumed.returncode == 0, resumed.stderr
    assert (copy / "metrics.json").is_file()
    assert snapshot(original) == before
    assert not any(elsewhere.iterdir())  # nothing retrained into ./runs
    assert json.loads((copy / "metrics.json").read_text())["config"]["out"] == str(copy)


def test_resume_refuses_options_that_contradict_the_run(finished_run, tmp_path):
    run, data = finished_run
    copy = copy_run(run, tmp_path / "copy")
    before = snapshot(copy)
    refused = run_cli("train", "--resume", "--out", str(copy), "--epochs", "5", "--lr", "0.1", "--data", str(data))
    one_line(refused, "--epochs 5 (the run has 1)", "--lr 0.1 (the run has 0.0125)")
    assert "--data" not in refused.stderr  # the same data folder, given again, agrees with the run
    assert snapshot(copy) == before
    one_line(run_cli("train", "--resume", "--force", "--out", str(copy)), "pass one of them")


def test_resume_refuses_data_that_changed_since_the_run_started(finished_run, tmp_path):
    """The same path holding other photos (added, or replaced): the finished stages were trained on the old ones."""
    run, data = finished_run
    changed = shutil.copytree(data, tmp_path / "data")
    photos = sorted((changed / "train").rglob("*.png"))
    shutil.copy(photos[0], photos[0].with_name("added.png"))
    copy = copy_run(run, tmp_path / "copy")
    (copy / "metrics.json").unlink()
    settings = yaml.safe_load((copy / "config.yaml").read_text())
    moved = {**settings, "out": str(copy), "data": str(changed)}  # as --resume writes it back: nothing to change
    (copy / "config.yaml").write_text(yaml.safe_dump(moved, sort_keys=False))
    before = snapshot(copy)
    refused = run_cli("train", "--resume", "--out", str(copy))
    one_line(refused, "the data changed since this run started (train, distillation, sha256", "data.json records train")
    assert snapshot(copy) == before
    photos[0].with_name("added.png").unlink()  # restored: the run goes on
    resumed = run_cli("train", "--resume", "--out", str(copy))
    assert resumed.returncode == 0, resumed.stderr


def test_resume_removes_the_temp_file_a_killed_write_left(finished_run, tmp_path):
    run, _ = finished_run
    copy = copy_run(run, tmp_path / "copy")
    stale = copy / "checkpoints" / ".teacher.pt.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    resumed = run_cli("train", "--resume", "--out", str(copy))
    assert resumed.returncode == 0, resumed.stderr
    assert not stale.exists() and (copy / "checkpoints" / "teacher.pt").is_file()


@pytest.mark.parametrize("args,message", [
    (["--image-size", "16"], "--image-size must be at least 32 (the field split's corruptions need at least 32 px)"),
    (["--seed", "-1"], "--seed must be between 0 and 4294967295, got -1"),
    (["--alpha", "nan"], "--alpha must be a finite number or 'auto', got nan"),
    (["--temperature", "nan"], "--temperature must be a finite number or 'auto', got nan"),
    (["--lr", "inf"], "--lr must be a finite number, got inf"),
    (["--unlabeled-ratio", "nan"], "--unlabeled-ratio must be a finite number, got nan"),
    (["--epochs", "0"], "--epochs must be at least 1, got 0"),
    (["--batch-size", "1"], "--batch-size must be at least 2, got 1"),
])  # fmt: skip
def test_numbers_are_checked_before_any_work(args, message, tmp_path):
    out = tmp_path / "run"
    one_line(run_cli("train", *args, "--out", str(out)), message)
    assert not out.exists()


def test_unwritable_places_get_one_line(tmp_path):
    afile = tmp_path / "a-file"
    afile.write_text("mine")
    one_line(run_cli("train", "--out", str(afile)), "is a file, not a folder")
    assert afile.read_text() == "mine"
    if Path("/proc/self").is_dir():
        one_line(run_cli("train", "--out", "/proc/edgedistill-run"), "cannot write the run directory", "writable")


def test_a_full_disk_is_named_as_one(capsys):
    """A full disk is raised deep inside torch or numpy as a bare OSError; it reaches the user as one line
    naming the file and the disk, while an OSError that is not the machine's doing stays a visible bug."""
    with pytest.raises(typer.Exit) as stopped, one_line_errors():
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/checkpoints/teacher.pt")
    assert stopped.value.exit_code == 1
    assert capsys.readouterr().err.strip() == (
        "error: No space left on device at /runs/x/checkpoints/teacher.pt: the disk is full; free space there "
        "or choose a place on another disk"
    )
    with pytest.raises(FileNotFoundError), one_line_errors():
        raise FileNotFoundError(errno.ENOENT, "gone", "x")


def test_stale_temp_files_are_only_write_atomic_ones(tmp_path):
    (tmp_path / "sub").mkdir()
    stale = [tmp_path / ".a.json.x1.tmp", tmp_path / "sub" / ".b.pt.y2.tmp"]
    kept = [tmp_path / "notes.tmp", tmp_path / "sub" / "b.pt", tmp_path / ".hidden"]
    for path in stale + kept:
        path.write_text("x")
    assert sorted(remove_stale_temp_files(tmp_path)) == sorted(stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


def interrupt_after(args: list[str], ready: Path, ignore_sigint: bool) -> subprocess.CompletedProcess:
    """Start ``edgedistill train``, wait for ``ready`` to appear, send SIGINT, and wait for the end. With
    ``ignore_sigint`` the child starts with SIGINT ignored, as a shell's background job does."""

    def start_ignoring() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    child = subprocess.Popen(
        [sys.executable, "-m", "edgedistill", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=start_ignoring if ignore_sigint else None,
    )
    deadline = time.time() + 180
    while not ready.exists():
        assert child.poll() is None and time.time() < deadline, child.communicate()[1]
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    stdout, stderr = child.communicate(timeout=60)
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


@pytest.mark.parametrize("workers", [0, 2])
def test_ctrl_c_stops_a_run_started_in_the_background_and_it_resumes(finished_run, tmp_path, workers):
    """A run started with SIGINT ignored (a shell's background job, a CI runner) still stops on SIGINT, with and
    without DataLoader workers (which receive the signal too)."""
    _, data = finished_run
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--epochs", "1", "--teacher-epochs", "100", "--batch-size", "8"]
    args += ["--teacher", "timm:lcnet_050"]  # small: its checkpoint every epoch is 7 MB, not resnet18's 134 MB
    stopped = interrupt_after(
        [*args, "--workers", str(workers), "--out", str(out)], out / "checkpoints" / "teacher.pt", ignore_sigint=True
    )
    assert stopped.returncode == 130, stopped.stderr
    assert f"Resume with: edgedistill train --resume --out {out}" in stopped.stderr
    assert not (out / "teacher.safetensors").exists() and not (out / "metrics.json").exists()
    if workers == 0:  # and the run goes on from its last checkpoint
        resumed = run_cli("train", "--resume", "--out", str(out))
        assert resumed.returncode == 0, resumed.stderr
        assert json.loads((out / "metrics.json").read_text())["config"]["teacher_epochs"] == 100


@pytest.mark.parametrize("text,problem", [
    ("epochs: [1\n", "is damaged (while parsing"),
    ("- just\n- a list\n", "is damaged (not a mapping of settings)"),
    ("out: x\nepochs: -3\n", "--epochs must be at least 1, got -3"),
    ("out: x\nseed: !!python/object/apply:os.system ['touch pwned']\n", "could not determine a constructor"),
])  # fmt: skip
def test_a_damaged_config_is_refused_in_one_line(finished_run, tmp_path, text, problem):
    run, _ = finished_run
    copy = copy_run(run, tmp_path / "copy")
    (copy / "config.yaml").write_text(text)
    before = snapshot(copy)
    one_line(run_cli("train", "--resume", "--out", str(copy), cwd=tmp_path), problem)
    assert snapshot(copy) == before and not (tmp_path / "pwned").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB file system of its own (tmpfs), so a write can really run out of space."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_checkpoint_write_that_fills_the_disk_is_named_as_a_full_disk(tiny_disk):
    """torch.save and safetensors report a full disk as RuntimeError and SafetensorError; the atomic write
    turns both into ENOSPC naming the file, leaves no temp file, and keeps the previous file intact."""
    import torch

    from edgedistill.fileio import write_atomic
    from edgedistill.models import ModelInfo, save_checkpoint

    target = tiny_disk / "teacher.pt"
    target.write_bytes(b"last good epoch")
    with pytest.raises(OSError) as raised:
        write_atomic(target, lambda tmp: torch.save(torch.zeros(1 << 20), tmp))
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert target.read_bytes() == b"last good epoch" and sorted(p.name for p in tiny_disk.iterdir()) == ["teacher.pt"]
    info = ModelInfo("resnet18", ["a", "b"], 32, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))
    with pytest.raises(OSError) as raised:
        save_checkpoint(tiny_disk / "teacher.safetensors", torch.nn.Linear(1024, 1024), info)
    assert raised.value.errno == errno.ENOSPC and "teacher.safetensors" in raised.value.filename


def test_force_refuses_to_replace_a_run_that_holds_one_of_the_new_runs_inputs(finished_run, tmp_path):
    run, data = finished_run
    old = copy_run(run, tmp_path / "old")
    before = snapshot(old)
    teacher = str(old / "teacher.safetensors")
    refused = run_cli("train", "--out", str(old), "--force", "--data", str(data), "--teacher", teacher, *QUICK)
    one_line(refused, f"--teacher {teacher} lies inside", "copy it out of that folder first")
    assert snapshot(old) == before
