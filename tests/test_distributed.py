"""torchrun scale-out: 2 processes over gloo train the same model as 1 process with the whole batch,
and `torchrun -m edgedistill train` runs end to end with rank 0 alone writing and printing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parent / "distributed_fit.py"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]


def test_two_processes_train_what_one_process_trains(tmp_path):
    for name, launcher in (("one", [sys.executable]), ("two", TORCHRUN)):
        (tmp_path / name).mkdir()
        done = subprocess.run(
            [*launcher, str(SCRIPT), str(tmp_path / name)], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
    one, two = (torch.load(tmp_path / name / "result.pt", weights_only=True) for name in ("one", "two"))
    for a, b in zip(one["history"], two["history"], strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4) and b["train_acc"] == a["train_acc"]
    for name, weights in one["state"].items():
        torch.testing.assert_close(two["state"][name], weights, atol=1e-4, rtol=1e-3, msg=name)


def test_torchrun_train_end_to_end_writes_once(image_folder, tmp_path):
    out = tmp_path / "run"
    args = ["-m", "edgedistill", "train", "--data", str(image_folder), "--epochs", "1", "--teacher-epochs", "1"]
    args += ["--batch-size", "8", "--workers", "0", "--out", str(out)]
    done = subprocess.run([*TORCHRUN, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("run directory:") == 1  # rank 0 alone prints the summary
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"teacher", "student_scratch", "student_kd", "student_kd_clean"} <= set(metrics)
    assert (out / "student_kd.safetensors").exists()


def test_torchrun_train_with_a_teacher_cache_that_both_ranks_build(image_folder, tmp_path):
    """Each rank builds its share of the cache's chunks (here one chunk: rank 1 has none and finishes at
    once), and no rank reads the cache before every chunk is written; `cache-teacher` under torchrun builds
    the same cache the run built, and rank 0 alone prints."""
    out = tmp_path / "run"
    args = ["-m", "edgedistill", "train", "--data", str(image_folder), "--epochs", "1", "--teacher-epochs", "1"]
    args += ["--batch-size", "8", "--workers", "0", "--cache-teacher", "--views", "1", "--out", str(out)]
    done = subprocess.run([*TORCHRUN, *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (out / "teacher-cache" / "phone" / "done").iterdir()) == ["0"]
    cache = tmp_path / "cache"
    build = ["-m", "edgedistill", "cache-teacher", "--teacher", str(out / "teacher.safetensors"), "--data"]
    build += [str(image_folder), "--views", "1", "--batch-size", "8", "--workers", "0", "--out", str(cache)]
    built = subprocess.run([*TORCHRUN, *build], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    assert built.stdout.count("teacher cache:") == 1
    for name in ("meta.json", "logits.f16", "digests.u64"):
        assert (cache / "phone" / name).read_bytes() == (out / "teacher-cache" / "phone" / name).read_bytes(), name
