"""The CIFAR-10 field benchmark's --quick mode end to end (train runs per seed, export, bench, grading),
on the demo data so it needs no download. About two minutes: run with `pytest -m slow`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "cifar10_field.py"


@pytest.mark.slow
def test_quick_benchmark_writes_every_variant_artifact_and_claim(tmp_path):
    out = tmp_path / "result.json"
    command = [sys.executable, str(SCRIPT), "--data", "demo", "--quick", "--work", str(tmp_path / "work")]
    finished = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["settings"]["seeds"] == [0, 1] and result["wall_time_s"] > 0
    summary = result["summary"]
    for key in ("teacher", "student_scratch_clean", "student_scratch", "student_kd_clean", "student_kd"):
        for split in ("clean_acc", "field_acc", "heldout_acc"):
            assert 0.0 <= summary[key][split]["mean"] <= 1.0 and summary[key][split]["std"] >= 0.0, (key, split)
    assert len(summary["student_kd"]["by_corruption"]) == 12  # nine field corruptions and three held out
    assert summary["teacher"]["field_acc"]["std"] == 0.0  # one teacher, shared by every seed
    exported = {row["model"]: row for row in result["exported"]}
    assert set(exported) == {"executorch fp32", "tflite fp32", "executorch int8", "tflite int8"}
    assert all(row["p50_ms"] > 0 for row in exported.values())
    # the two fp32 artifacts are one model: graded on the same thousands of images, they must agree
    assert exported["executorch fp32"]["field_acc"] == pytest.approx(exported["tflite fp32"]["field_acc"], abs=0.005)
    assert [type(check["holds"]) for check in result["checks"]] == [bool] * 5
    assert "Claims" in finished.stdout
