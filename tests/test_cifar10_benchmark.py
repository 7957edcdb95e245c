"""The CIFAR-10 field benchmark's --quick mode end to end (train runs per loss and seed, the textbook loop,
export, bench, grading), on the demo data so it needs no download. Several minutes: run with `pytest -m slow`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "cifar10_field.py"


@pytest.mark.slow
def test_quick_benchmark_writes_every_loss_variant_artifact_and_claim(tmp_path):
    out, work = tmp_path / "result.json", tmp_path / "work"
    command = [sys.executable, str(SCRIPT), "--data", "demo", "--quick", "--work", str(work), "--out", str(out)]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert finished.returncode == 0, finished.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["settings"]["seeds"] == [0, 1] and result["wall_time_s"] > 0
    assert set(result["summary"]) == {"kd", "dkd", "dist"}
    for loss, summary in result["summary"].items():
        for key in ("teacher", "student_scratch_clean", "student_scratch", "student_kd_clean", "student_kd"):
            for split in ("clean_acc", "field_acc", "heldout_acc"):
                assert 0.0 <= summary[key][split]["mean"] <= 1.0 and summary[key][split]["std"] >= 0.0, (loss, key)
        assert len(summary["student_kd"]["by_corruption"]) == 12  # nine field corruptions and three held out
        assert summary["teacher"] == result["summary"]["kd"]["teacher"]  # one teacher, shared by every run
        assert summary["teacher"]["field_acc"]["std"] == 0.0
        assert summary["student_scratch"] == result["summary"]["kd"]["student_scratch"]  # shared, not retrained
    for seed in (0, 1):  # the later losses' students alone are the first loss's, and their distilled ones are not
        kd, dist = work / "kd" / f"seed{seed}", work / "dist" / f"seed{seed}"
        assert (kd / "student_scratch.safetensors").read_bytes() == (dist / "student_scratch.safetensors").read_bytes()
        assert set(load_file(kd / "student_kd.safetensors")) == set(load_file(dist / "student_kd.safetensors"))
        assert (kd / "student_kd.safetensors").read_bytes() != (dist / "student_kd.safetensors").read_bytes()
        assert json.loads((dist / "metrics.json").read_text())["distillation"]["loss"] == "dist"
    assert (work / "teacher-cache" / "seed1" / "phone" / "meta.json").is_file()  # built once, replayed by each loss
    loop = result["textbook"]
    assert all(0.0 <= loop[split]["mean"] <= 1.0 for split in ("clean_acc", "field_acc", "heldout_acc"))
    assert loop["train_s"]["mean"] > 0 and sorted(p.name for p in (work / "textbook").iterdir()) == [
        "seed0.json",
        "seed1.json",
    ]
    exported = {row["model"]: row for row in result["exported"]}
    assert set(exported) == {"executorch fp32", "tflite fp32", "executorch int8", "tflite int8"}
    assert all(row["p50_ms"] > 0 for row in exported.values())
    # the two fp32 artifacts are one model: graded on the same thousands of images, they must agree
    assert exported["executorch fp32"]["field_acc"] == pytest.approx(exported["tflite fp32"]["field_acc"], abs=0.005)
    best = result["best"]["loss"]
    claims = {loss: [check["claim"] for check in rows] for loss, rows in result["checks"].items()}
    assert any("textbook" in claim for claim in claims["kd"]) and not any("textbook" in c for c in claims["dkd"])
    assert any("int8" in claim for claim in claims[best])
    assert all(type(check["holds"]) is bool for rows in result["checks"].values() for check in rows)
    assert "Claims, --loss dist" in finished.stdout and "textbook KD loop" in finished.stdout
    done = sorted([*work.glob("*/seed*/metrics.json"), *work.glob("textbook/*.json")])
    stamps = [path.stat().st_mtime_ns for path in done]
    again = subprocess.run(command, capture_output=True, text=True, timeout=1800)  # everything done: read back
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(done) == 8 and [path.stat().st_mtime_ns for path in done] == stamps  # nothing trained again
    assert json.loads(out.read_text())["summary"] == result["summary"]
