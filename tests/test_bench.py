"""`edgedistill bench --device host`: the harness runs every model of a real bundle with its real
runtime in its own process, and writes results that follow the published schema."""

import json
import shutil
from importlib import resources

import jsonschema
import pytest
from conftest import run_cli
from test_export import make_run


@pytest.fixture(scope="module")
def benched(tmp_path_factory):
    run_dir = make_run(tmp_path_factory.mktemp("runs") / "r")
    exported = run_cli("export", str(run_dir), "--target", "android", "--golden", "32")
    assert exported.returncode == 0, exported.stderr[-2000:]
    bundle = run_dir / "export" / "android-fp32"
    result = run_cli("bench", str(bundle), "--iterations", "30", "--warmup", "3")
    return bundle, result


def test_bench_writes_schema_valid_results_for_each_runtime_and_eager(benched):
    bundle, result = benched
    assert result.returncode == 0, result.stderr[-2000:]
    schema = json.loads(resources.files("edgedistill.devices").joinpath("result.schema.json").read_text())
    results = {path.name: json.loads(path.read_text()) for path in (bundle / "bench").glob("host-*.json")}
    assert set(results) == {
        "host-executorch-model.pte.json",
        "host-tflite-model.tflite.json",
        "host-pytorch-eager.json",
    }
    for name, payload in results.items():
        jsonschema.validate(payload, schema)
        assert payload["latency_ms"]["iterations"] == 30 and payload["latency_ms"]["warmup"] == 3, name
    assert "p50 vs eager" in result.stdout


def test_bench_agreement_matches_the_export_verifier(benched):
    bundle, _ = benched
    manifest = json.loads((bundle / "manifest.json").read_text())
    for artifact in manifest["artifacts"]:
        measured = json.loads((bundle / "bench" / f"host-{artifact['file']}.json").read_text())["agreement"]
        assert measured["top1_agreement_student"] == artifact["top1_agreement_student"]
        assert measured["field_acc"] == artifact["field_acc"]
        assert measured["max_abs_logit_diff_student"] == pytest.approx(artifact["max_abs_logit_diff"], abs=1e-6)


def test_a_model_that_fails_its_checksum_is_not_run(benched, tmp_path):
    bundle, _ = benched
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns("bench"))
    with (copy / "tflite-model.tflite").open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02\x03")
    result = run_cli("bench", str(copy), "--iterations", "5", "--warmup", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "does not match its sha256" in result.stdout
    assert not (copy / "bench" / "host-tflite-model.tflite.json").exists()


def test_not_a_bundle_and_remote_devices_are_refused(tmp_path):
    result = run_cli("bench", str(tmp_path))
    assert result.returncode == 1 and "is not a bundle" in result.stderr
    result = run_cli("bench", str(tmp_path), "--device", "ssh://pi@raspberrypi")
    assert result.returncode == 2 and "issue #6" in result.stderr
