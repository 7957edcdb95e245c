"""The phone drivers on a machine without phones: real adb says no device is attached, the iOS
driver says it needs a Mac, the staged bundle the phone harnesses read holds exactly the bundle's
golden set and settings, and the Android harness's runtime-free Java core, compiled here, computes
what the Python harness computes."""

import json
import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import run_cli

from edgedistill.devices import adb, harness
from edgedistill.devices.bench import Job, Timing, bench_bundle
from edgedistill.devices.ios import parse_results
from edgedistill.devices.staging import stage_bundle
from edgedistill.errors import UserError


@pytest.fixture
def adb_server():
    if shutil.which("adb") is None:
        pytest.skip("no adb here; .ci/run installs Debian's adb package")
    yield
    subprocess.run(["adb", "kill-server"], capture_output=True)


def test_adb_with_no_phone_attached_says_so(adb_server, tmp_path):
    make_bundle(tmp_path / "bundle")
    result = run_cli("bench", str(tmp_path / "bundle"), "--device", "adb")
    assert result.returncode == 1
    assert "no Android device attached (`adb devices` lists none)" in result.stderr
    result = run_cli("bench", str(tmp_path / "bundle"), "--device", "adb:R58M12345")
    assert result.returncode == 1 and "no Android device attached" in result.stderr
    result = run_cli("bench", str(tmp_path), "--device", "adb")
    assert result.returncode == 1 and "is not a bundle" in result.stderr  # the path is checked before the phone


@pytest.mark.parametrize(
    "attached,serial,message",
    [
        ({"A1": "device", "B2": "device"}, None, r"several Android devices attached \(A1, B2\); pick one: adb:SERIAL"),
        ({"A1": "device"}, "C3", "no Android device C3 attached; attached: A1"),
        ({"A1": "unauthorized"}, None, "A1 is unauthorized; unlock it and accept the USB debugging prompt"),
    ],
)
def test_adb_names_the_phone_problem(monkeypatch, attached, serial, message):
    monkeypatch.setattr(adb, "attached_devices", lambda: attached)
    with pytest.raises(UserError, match=message):
        adb.choose_device(serial)
    monkeypatch.setattr(adb, "attached_devices", lambda: {"A1": "device", "B2": "device"})
    assert adb.choose_device("B2") == "B2"


FAKE_ADB = """#!/usr/bin/env python3
# A stand-in for adb with one phone attached: logs each call and keeps what is pushed in a folder.
import json, os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_ADB_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args == ["devices"]:
    print("List of devices attached\\nEMU123\\tdevice\\n")
elif args[:2] == ["-s", "EMU123"] and args[2] == "push":
    shutil.copytree(args[3], Path(os.environ["FAKE_PHONE"]) / Path(args[3]).name, dirs_exist_ok=True)
elif args[:2] == ["-s", "EMU123"] and args[2] == "shell" and args[3].startswith("am instrument"):
    print("INSTRUMENTATION_STATUS_CODE: -1\\nOK (1 test)")
elif args[:2] == ["-s", "EMU123"] and args[2] == "pull":
    shutil.copy(os.environ["FAKE_ADB_RESULT"], args[4])
"""


def test_adb_driver_installs_pushes_runs_and_pulls_with_safe_paths(tmp_path, monkeypatch):
    """The whole adb flow against a stand-in adb (no phone here): a bundle folder with a space in its
    name never reaches the phone's shell, the staged bundle lands in one fixed place, and the pulled
    result is stored with the driver's label."""
    golden, artifact = make_bundle(tmp_path / "my bundle")
    fake = tmp_path / "bin" / "adb"
    fake.parent.mkdir()
    fake.write_text(FAKE_ADB)
    fake.chmod(0o755)
    for apk in adb.APKS:
        (tmp_path / "harness" / apk).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "harness" / apk).write_bytes(b"apk")
    result = {"schema_version": 1, "device": {"name": "Pixel", "threads": 1}, "latency_ms": {}}
    (tmp_path / "result.json").write_text(json.dumps(result))
    (tmp_path / "phone").mkdir()
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ADB_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("FAKE_PHONE", str(tmp_path / "phone"))
    monkeypatch.setenv("FAKE_ADB_RESULT", str(tmp_path / "result.json"))
    device = adb.AdbDevice(None, tmp_path / "harness")
    results = bench_bundle(tmp_path / "my bundle", tmp_path / "out", device, Timing(1, 2, 10, 0.0), pause=0)
    assert results == [("tflite-model.tflite", {**result, "device": {**result["device"], "driver": "adb-EMU123"}})]
    calls = [json.loads(line) for line in (tmp_path / "log").read_text().splitlines()]
    shell = [call[3] for call in calls if call[2:3] == ["shell"]]
    assert shell[0] == "rm -rf /data/local/tmp/edgedistill/bundle && mkdir -p /data/local/tmp/edgedistill"
    assert shell[2] == (
        "am instrument -w -e bundle /data/local/tmp/edgedistill/bundle -e job jobs/tflite-model.tflite.properties "
        "org.edgedistill.harness.test/androidx.test.runner.AndroidJUnitRunner"
    )
    assert shell[-1] == "rm -rf /data/local/tmp/edgedistill/bundle"  # the phone is left clean
    assert [call[2] for call in calls if call[:2] == ["-s", "EMU123"]].count("install") == 2
    pushed = tmp_path / "phone" / "bundle"
    assert "artifact=tflite-model.tflite" in (pushed / "jobs" / "tflite-model.tflite.properties").read_text()
    assert np.array_equal(np.fromfile(pushed / "golden" / "inputs.f32", "<f4").reshape(5, 3, 8, 8), golden["inputs"])
    assert json.loads((tmp_path / "out" / "adb-EMU123-tflite-model.tflite.json").read_text())["device"]["driver"]


def test_ios_needs_a_mac(tmp_path):
    make_bundle(tmp_path / "bundle")
    result = run_cli("bench", str(tmp_path / "bundle"), "--device", "ios:00008110-000A")
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
    manifest = {
        "artifacts": [artifact],
        "passed": True,
        "input": {"shape": [1, 3, 8, 8]},
        "labels": ["a", "b", "c"],
        "golden": {"file": "golden.npz", "sha256": harness.sha256_of(folder / "golden.npz"), "count": 5},
        "source": {"arch": "timm:mobilenetv3_small_100", "checkpoint": "gone.safetensors"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
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
        **{f"{path.name}.sha256": harness.sha256_of(path) for path in raw.iterdir()},
    }
    assert len(job) == 17 + teacher  # one sha256 per staged golden file
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
