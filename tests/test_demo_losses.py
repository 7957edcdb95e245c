"""The per-loss benchmark: the other losses' runs take the given run's teacher and settings, and only the loss
differs."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import train_tiny_run

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "demo_losses.py"


def test_each_other_loss_is_a_run_that_differs_only_by_its_loss(image_folder, tmp_path):
    run = train_tiny_run(image_folder, tmp_path / "run")
    out, work = tmp_path / "losses.json", tmp_path / "losses"
    command = [sys.executable, str(SCRIPT), "--run", str(run), "--losses", "kd", "dist", "--work", str(work)]
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["loss"]: row for row in json.loads(out.read_text())["rows"]}
    kit, dist = (json.loads((folder / "metrics.json").read_text()) for folder in (run, work / "dist"))
    assert rows["kd"]["field_acc"] == kit["student_kd"]["field_acc"] and not (work / "kd").exists()
    assert rows["dist"]["field_acc"] == dist["student_kd"]["field_acc"] and dist["distillation"]["loss"] == "dist"
    assert dist["teacher"] == kit["teacher"]  # the run's teacher file, not one trained again
    mine, theirs = kit["config"], dist["config"]
    differing = {key for key in mine if mine[key] != theirs[key]}
    assert differing == {"out", "teacher", "loss"}, differing
    assert "dist" in done.stdout and "gap recovered" in done.stdout
