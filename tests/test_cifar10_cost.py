"""The CIFAR-10 benchmark's cost projection: rates measured here, multiplied by the protocol's image passes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "cifar10_cost.py"


def test_the_projection_multiplies_measured_rates_by_the_protocols_passes(tmp_path):
    out = tmp_path / "cost.json"
    command = [
        sys.executable, str(SCRIPT), "--teacher", "timm:lcnet_050", "--student", "timm:lcnet_050", "--seeds", "0", "1",
        "--losses", "kd", "dist", "--train-per-class", "100", "--epochs", "4", "--teacher-epochs", "6",
        "--batch-size", "8", "--repeats", "1", "--out", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    rates, parts = result["rates_img_s"], {part["part"]: part for part in result["parts"]}
    assert all(rate > 0 for rate in rates.values())
    assert parts["teacher: training"]["passes"] == {"teacher_train": 6 * 1000, "phone_view": 6 * 1000}
    students = parts["students: 12 runs (cache replayed)"]["passes"]  # 2 seeds x (2 alone + 2 losses x 2 views)
    assert students == {"student_train": 12 * 4 * 1000, "phone_view": 2 * 3 * 4 * 1000}
    assert parts["teacher cache: 2 seeds x phone and clean views"]["passes"]["teacher_eval"] == 2 * 2 * 4 * 1000
    for part in result["parts"]:
        assert part["seconds"] == pytest.approx(sum(n / rates[kind] for kind, n in part["passes"].items()))
    assert result["projected_total_s"] == pytest.approx(sum(part["seconds"] for part in result["parts"]))
    assert "total" in done.stdout and "lcnet_050" in done.stdout
