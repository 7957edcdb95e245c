"""The phone drivers on a machine without phones: real adb says no device is attached, the iOS
driver says it needs a Mac, the staged bundle the phone harnesses read holds exactly the bundle's
golden set and settings, and the Android harness's runtime-free Java core, compiled here, computes
what the Python harness computes."""

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import run_cli

from edgedistill.devices import harness
from edgedistill.devices.bench import Job, Timing
from edgedistill.devices.ios import parse_results
from edgedistill.devices.staging import stage_bundle


@pytest.fixture
def adb_server():
    if shutil.which("adb") is None:
        pytest.skip("no adb here; .ci/run installs Debian's adb package")
    yield
    subprocess.run(["adb", "kill-server"], capture_output=True)


def test_adb_with_no_phone_attached_says_so(adb_server, tmp_path):
    result = run_cli("bench", str(tmp_path), "--device", "adb")
    assert result.returncode == 1
    assert "no Android device attached (`adb devices` lists none)" in result.stderr
    result = run_cli("bench", str(tmp_path), "--device", "adb:R58M12345")
    assert result.returncode == 1 and "no Android device attached" in result.stderr


def test_ios_needs_a_mac(tmp_path):
    result = run_cli("bench", str(tmp_path), "--device", "ios:00008110-000A")
    assert result.returncode == 1
    assert "iOS devices are driven from macOS with Xcode" in result.stderr


def test_ios_results_are_read_from_the_test_output():
    payload = {"schema_version": 1, "latency_ms": {"p50": 0.5}}
    output = "\n".join(
        [
            "Test Case '-[HarnessTests.BenchTests testJobs]' started.",
            "EDGEDISTILL-RESULT-BEGIN coreml-model.mlpackage",
            json.dumps(payload),
            "EDGEDISTILL-RESULT-END",
            "EDGEDISTILL-RESULT-ERROR executorch-model.pte executorch-model.pte does not match its sha256",
        ]
    )
    assert parse_results(output) == {
        "coreml-model.mlpackage": payload,
        "executorch-model.pte": "executorch-model.pte does not match its sha256",
    }


def make_bundle(folder, teacher: bool = True):
    """A bundle as `edgedistill export` writes it, with a stand-in model file (staging never opens it)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    golden = {
        "inputs": rng.normal(size=(5, 3, 8, 8)).astype(np.float32),
        "labels": np.array([0, 1, 2, 1, 0], dtype=np.int64),
        "student_logits": rng.normal(size=(5, 3)).astype(np.float32),
    }
    if teacher:
        golden["teacher_logits"] = rng.normal(size=(5, 3)).astype(np.float32)
    np.savez_compressed(folder / "golden.npz", **golden)
    (folder / "tflite-model.tflite").write_bytes(b"model bytes")
    artifact = {
        "file": "tflite-model.tflite",
        "format": "tflite",
        "delegate": "xnnpack",
        "precision": "int8",
        "sha256": harness.sha256_of(folder / "tflite-model.tflite"),
        "size_bytes": 11,
    }
    (folder / "manifest.json").write_text(json.dumps({"artifacts": [artifact]}))
    return golden, artifact


@pytest.mark.parametrize("teacher", [True, False])
def test_staged_bundle_holds_the_golden_set_as_raw_little_endian_arrays(tmp_path, teacher):
    golden, artifact = make_bundle(tmp_path / "bundle", teacher)
    staged = stage_bundle(tmp_path / "bundle", [Job("m", artifact)], Timing(4, 7, None, 2.5), tmp_path / "staged")
    raw = staged / "golden"
    assert np.array_equal(np.fromfile(raw / "inputs.f32", "<f4").reshape(5, 3, 8, 8), golden["inputs"])
    assert np.array_equal(np.fromfile(raw / "labels.i32", "<i4"), golden["labels"])
    assert np.array_equal(np.fromfile(raw / "student_logits.f32", "<f4").reshape(5, 3), golden["student_logits"])
    assert (raw / "teacher_logits.f32").exists() == teacher
    job = dict(line.split("=", 1) for line in (staged / "jobs/tflite-model.tflite.properties").read_text().splitlines())
    assert job == {
        "artifact": "tflite-model.tflite",
        "format": "tflite",
        "delegate": "xnnpack",
        "precision": "int8",
        "sha256": artifact["sha256"],
        "size_bytes": "11",
        "golden_count": "5",
        "input_shape": "1,3,8,8",
        "num_classes": "3",
        "has_teacher": str(teacher).lower(),
        "threads": "4",
        "warmup": "7",
        "iterations": "0",
        "min_seconds": "2.5",
    }
    assert (staged / "tflite-model.tflite").read_bytes() == b"model bytes"


ANDROID_CORE = Path(__file__).parent.parent / "devices" / "android" / "core"


@pytest.fixture(scope="module")
def android_core(tmp_path_factory):
    """The Android harness's plain-Java core, compiled with this machine's JDK."""
    if shutil.which("javac") is None:
        pytest.skip("no JDK here (javac); the Android core is checked where one is installed")
    classes = tmp_path_factory.mktemp("android-core")
    sources = [str(path) for path in ANDROID_CORE.rglob("*.java")]
    compiled = subprocess.run(["javac", "--release", "8", "-d", str(classes), *sources], capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr[-2000:]
    return lambda *args: subprocess.run(
        ["java", "-cp", str(classes), "org.edgedistill.harness.core.HostCheck", *args], capture_output=True, text=True
    )


def test_android_core_writes_the_python_harness_result(android_core, tmp_path):
    """The core runs a job with a runner that replays the fp32 student's logits: the Android-specific
    runtime is the only part left out, and the agreement must equal the Python harness's."""
    golden, artifact = make_bundle(tmp_path / "bundle")
    staged = stage_bundle(tmp_path / "bundle", [Job("m", artifact)], Timing(2, 3, 25, 0.0), tmp_path / "staged")
    finished = android_core("run", str(staged), "jobs/tflite-model.tflite.properties", str(tmp_path / "r.json"))
    assert finished.returncode == 0, finished.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    schema = json.loads(resources.files("edgedistill.devices").joinpath("result.schema.json").read_text())
    jsonschema.validate(result, schema)
    index = {golden["inputs"][i].tobytes(): i for i in range(len(golden["inputs"]))}
    replay = lambda batch: golden["student_logits"][index[batch[0].tobytes()]][None]  # noqa: E731
    assert result["agreement"] == harness.agreement(replay, golden)
    assert result["model"] == {k: artifact[k] for k in ("file", "sha256", "size_bytes", "precision")}
    assert result["latency_ms"]["iterations"] == 25 and result["latency_ms"]["warmup"] == 3
    assert result["device"]["threads"] == 2


@pytest.mark.parametrize("count", [1, 2, 10, 37])
def test_android_core_latency_summary_equals_numpys(android_core, count):
    milliseconds = np.random.default_rng(count).lognormal(0, 0.5, count).round(6)
    printed = android_core("stats", *(repr(float(ms)) for ms in milliseconds))
    assert printed.returncode == 0, printed.stderr
    expected = harness.latency_summary(list(milliseconds / 1000), warmup=0)
    assert json.loads(printed.stdout) == pytest.approx(expected, rel=1e-12)


def test_android_core_refuses_a_model_that_fails_its_sha256(android_core, tmp_path):
    _, artifact = make_bundle(tmp_path / "bundle")
    staged = stage_bundle(tmp_path / "bundle", [Job("m", artifact)], Timing(1, 0, 5, 0.0), tmp_path / "staged")
    (staged / "tflite-model.tflite").write_bytes(b"other bytes")
    finished = android_core("run", str(staged), "jobs/tflite-model.tflite.properties", str(tmp_path / "r.json"))
    assert finished.returncode == 1 and "does not match its sha256" in finished.stderr
    assert not (tmp_path / "r.json").exists()
