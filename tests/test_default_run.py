"""The README's main job, run as a user runs it. Heavy (about 12 minutes): `pytest -m slow`."""

import json

import pytest
from conftest import run_cli


@pytest.mark.slow
def test_default_phone_run_distillation_beats_training_alone(tmp_path):
    out = tmp_path / "default"
    result = run_cli("train", "--domain", "phone", "--out", str(out), timeout=1800)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    # the README's claim: distilled on phone views (with the demo's unlabeled pool) clearly ahead of alone
    assert metrics["student_kd"]["field_acc"] >= metrics["student_scratch"]["field_acc"] + 0.05
    assert metrics["student_kd"]["heldout_acc"] > metrics["student_scratch"]["heldout_acc"]
    assert metrics["unlabeled"]["images"] == 8000 and metrics["unlabeled"]["field_acc_gain"] > 0
    assert "gap recovered on the field split" in result.stdout
