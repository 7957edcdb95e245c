"""The CIFAR-10 benchmark's cost projection: rates measured here, multiplied by the protocol's image passes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "cifar10_cost.py"


def project(out: Path, *flags: str) -> tuple[dict, str]:
    command = [
        sys.executable, str(SCRIPT), "--teacher", "timm:lcnet_050", "--student", "timm:lcnet_050", "--seeds", "0", "1",
        "--train-per-class", "100", "--epochs", "4", "--teacher-epochs", "6", "--batch-size", "8", "--repeats", "1",
        "--out", str(out), *flags,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_the_projection_multiplies_measured_rates_by_the_protocols_passes(tmp_path):
    result, printed = project(tmp_path / "cost.json", "--losses", "kd", "dist")
    rates, parts = result["rates_img_s"], {part["part"]: part["passes"] for part in result["parts"]}
    assert all(rate > 0 for rate in rates.values())
    graded = 10_000 * 13  # every run grades on the clean, nine field and three held-out copies of the test split
    assert parts == {
        "field and held-out splits (once)": {"corrupt": 10_000 * 12},
        "teacher: training (once)": {"teacher_train": 6 * 1000, "phone_view": 6 * 1000},
        "teacher cache: 2 seeds x phone and clean views": {
            "teacher_eval": 2 * 2 * 4 * 1000, "phone_view": 2 * 4 * 1000, "clean_view": 2 * 4 * 1000,
        },
        # per seed: alone on clean and phone views, then kd and dist on both; each domain's 3 render views
        "students: 12 trained (cache replayed)": {
            "student_train": 12 * 4 * 1000, "phone_view": 2 * 3 * 4 * 1000, "clean_view": 2 * 3 * 4 * 1000,
        },
        "grading: 4 runs x (teacher + 4 students)": {"teacher_eval": 4 * graded, "student_eval": 16 * graded},
        "textbook KD loop: 2 seeds + 5 learning rates": {  # 5 rates tuned for a quarter of the epochs on 90%
            "teacher_eval": 8000 + 4500, "student_train": 8000 + 4500, "clean_view": 8000 + 4500,
            "student_eval": 2 * graded,
        },
    }  # fmt: skip
    for part in result["parts"]:
        assert part["seconds"] == pytest.approx(sum(n / rates[kind] for kind, n in part["passes"].items()))
    assert result["projected_total_s"] == pytest.approx(sum(part["seconds"] for part in result["parts"]))
    assert "total" in printed and "lcnet_050" in printed

    without_kd, _ = project(tmp_path / "dist.json", "--losses", "dist")  # the textbook loop runs beside kd only
    assert not any(part["part"].startswith("textbook") for part in without_kd["parts"])
