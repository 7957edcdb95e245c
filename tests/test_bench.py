"""`edgedistill bench`: the harness runs every model of a real bundle with its real runtime in its own
process, on this machine and on a board reached through a real sshd, and writes results that follow
the published schema."""

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import run_cli
from PIL import Image
from test_export import make_run

from edgedistill.device_report import Measurement, gather_measurements, pareto_front, recommendation
from edgedistill.devices.bench import safe_name


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


def test_runners_read_transposed_inputs_by_value_not_by_memory_order(benched):
    """A channels-last array viewed as NCHW has the right values but not NCHW memory; each runner must
    give it the same logits as the contiguous array (ExecuTorch once read the raw buffer)."""
    from edgedistill.devices.harness import RUNNERS

    bundle, _ = benched
    golden = np.load(bundle / "golden.npz")
    contiguous = golden["inputs"][:8]
    transposed = np.ascontiguousarray(contiguous.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    for artifact in json.loads((bundle / "manifest.json").read_text())["artifacts"]:
        run = RUNNERS[artifact["format"]](bundle / artifact["file"], 1)
        expected = np.concatenate([run(contiguous[i : i + 1]).copy() for i in range(8)])
        given = np.concatenate([run(transposed[i : i + 1]).copy() for i in range(8)])
        np.testing.assert_allclose(given, expected, atol=1e-6, err_msg=artifact["file"])


def test_a_model_that_fails_its_checksum_is_not_run(benched, tmp_path):
    """The whole bench stops before any model runs (exit 1): a bundle changed on the way is not measured."""
    bundle, _ = benched
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns("bench"))
    with (copy / "tflite-model.tflite").open("r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02\x03")
    result = run_cli("bench", str(copy), "--iterations", "5", "--warmup", "1")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "does not match its sha256" in result.stderr
    assert not (copy / "bench" / "host-tflite-model.tflite.json").exists()


def test_report_plots_every_result_and_names_the_artifact_to_ship(benched):
    bundle, _ = benched
    run_dir = bundle.parent.parent
    result = run_cli("report", str(run_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    report = (run_dir / "report.md").read_text()
    for model in ("executorch fp32", "tflite fp32", "pytorch eager fp32"):
        assert f"| {model} |" in report
    assert "ship `executorch-model.pte`" in report or "ship `tflite-model.tflite`" in report
    for name in ("accuracy_vs_latency", "model_size", "agreement"):
        image = Image.open(run_dir / "plots" / f"{name}.png")
        assert image.size[0] > 600 and image.size[1] > 200
        assert f"plots/{name}.png" in report


def test_report_keeps_devices_and_thread_counts_apart(benched, tmp_path):
    """Two boards with one host name, and one model at two thread counts, are four measurements; a file
    in bench/ that is not a result is named and left out."""
    bundle, _ = benched
    run_dir = tmp_path / "run"
    bench_dir = run_dir / "export" / "android-fp32" / "bench"
    bench_dir.mkdir(parents=True)
    original = json.loads((bundle / "bench" / "host-tflite-model.tflite.json").read_text())
    for driver in ("ssh-pi@board1", "ssh-pi@board2"):
        for threads in (1, 4):
            result = json.loads(json.dumps(original))
            result["device"].update(driver=driver, name="raspberrypi", cpu="aarch64", threads=threads)
            (bench_dir / f"{driver}-{threads}.json").write_text(json.dumps(result))
    (bench_dir / "notes.json").write_text('{"mine": true}')
    measurements, unreadable = gather_measurements(run_dir)
    assert len({m.device for m in measurements}) == 4 and len(measurements) == 4
    assert "ssh-pi@board2: raspberrypi (aarch64), 4 threads" in {m.device for m in measurements}
    assert unreadable == [bench_dir / "notes.json"]
    result = run_cli("report", str(run_dir))
    assert result.returncode == 0, result.stderr
    report = (run_dir / "report.md").read_text()
    assert report.count("ship `tflite-model.tflite`") == 4 and "`export/android-fp32/bench/notes.json`" in report


def test_pareto_front_and_recommendation():
    def model(name, p50, acc, fmt="tflite", device="phone"):
        return Measurement(device, 1, "b", fmt, "fp32", name, 1.0, p50, p50, 1, None, acc, None, 1.0, "t")

    fast, accurate, dominated = model("fast", 1.0, 0.60), model("accurate", 3.0, 0.70), model("slow", 4.0, 0.65)
    eager, other_device = model("eager", 20.0, 0.71, fmt="pytorch"), model("board", 9.0, 0.50, device="pi")
    measured = [fast, accurate, dominated, eager, other_device]
    assert pareto_front(measured) == {fast, accurate, eager, other_device}
    assert recommendation(measured, "phone") == accurate  # fast is 10 points worse
    assert recommendation(measured, "phone", tolerance=0.2) == fast
    assert recommendation([eager], "phone") is None
    failed = Measurement(
        "phone", 1, "android-int8.FAILED", "tflite", "int8", "q", 1.0, 0.1, 0.1, 1, None, 0.7, None, 1, "t"
    )
    assert recommendation([*measured, failed], "phone") == accurate  # fastest and as accurate, but failed its checks
    passed = Measurement("phone", 1, "android-int8", "tflite", "int8", "q", 1.0, 0.1, 0.1, 1, None, 0.695, None, 1, "t")
    assert recommendation([*measured, failed, passed], "phone") == passed  # int8 that passed: faster, within a point


def test_not_a_bundle_and_unknown_devices_are_refused(benched, tmp_path):
    result = run_cli("bench", str(tmp_path))
    assert result.returncode == 1 and "is not a bundle" in result.stderr
    result = run_cli("bench", str(benched[0]), "--device", "usb:phone")
    assert result.returncode == 1 and "unknown --device 'usb:phone'" in result.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real OpenSSH server on 127.0.0.1 that lets this user in with a throwaway key, as a board would."""
    server = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(server).exists():
        pytest.skip("no sshd here; .ci/run installs Debian's openssh-server")
    home = tmp_path_factory.mktemp("sshd")
    for key in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / key)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    os.chmod(home / "authorized_keys", 0o600)
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder, made at boot on a real board
    port = free_port()
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nPidFile {home / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
    )
    process = subprocess.Popen([server, "-D", "-e", "-f", str(config)], stderr=(home / "sshd.log").open("w"))
    options = [
        f"IdentityFile={home / 'client_key'}",
        "IdentitiesOnly=yes",
        f"UserKnownHostsFile={home / 'known_hosts'}",
        "StrictHostKeyChecking=accept-new",
    ]
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        login = ["ssh", "-p", str(port), *(f"-o{option}" for option in options), "-oBatchMode=yes"]
        if subprocess.run([*login, f"{getpass.getuser()}@127.0.0.1", "true"], capture_output=True).returncode == 0:
            break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"sshd did not let the test in: {(home / 'sshd.log').read_text()[-1000:]}")
    yield url, [flag for option in options for flag in ("--ssh-option", option)], home
    process.terminate()
    process.wait(timeout=10)


def bench_over_ssh(bundle: Path, url: str, options: list[str], *extra: str) -> subprocess.CompletedProcess:
    return run_cli("bench", str(bundle), "--device", url, *options, "--iterations", "10", "--warmup", "2", *extra)


def test_bench_over_ssh_runs_each_model_on_the_board(benched, sshd, tmp_path):
    bundle, _ = benched
    url, options, _ = sshd
    result = bench_over_ssh(bundle, url, options, "--remote-python", sys.executable, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    schema = json.loads(resources.files("edgedistill.devices").joinpath("result.schema.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    prefix = safe_name("ssh-" + url.removeprefix("ssh://"))  # ssh-USER_127.0.0.1_PORT
    for artifact in manifest["artifacts"]:
        payload = json.loads((tmp_path / f"{prefix}-{artifact['file']}.json").read_text())
        jsonschema.validate(payload, schema)
        assert payload["model"]["sha256"] == artifact["sha256"]
        assert payload["agreement"]["top1_agreement_student"] == artifact["top1_agreement_student"]
        assert payload["latency_ms"]["iterations"] == 10
        assert payload["device"]["driver"] == "ssh-" + url.removeprefix("ssh://")
    assert "pytorch-eager" not in "".join(p.name for p in tmp_path.iterdir())  # the baseline is a host measurement
    assert_board_clean()


def assert_board_clean():
    """The driver's work folders on the board (here: this machine's /tmp) are gone."""
    remote_folders = [p for p in Path("/tmp").glob("edgedistill.*") if p.is_dir()]
    assert not remote_folders, f"the board was left with {remote_folders}"


def test_ssh_names_an_unreachable_board(benched, tmp_path):
    bundle, _ = benched
    result = bench_over_ssh(bundle, f"ssh://nobody@127.0.0.1:{free_port()}", [], "--out", str(tmp_path))
    assert result.returncode == 1
    assert "cannot reach nobody@127.0.0.1" in result.stderr and "without a prompt" in result.stderr
    assert not list(tmp_path.iterdir())


def test_ssh_names_a_runtime_missing_on_the_board(benched, sshd, tmp_path):
    """The board's Python has numpy and ExecuTorch but no LiteRT: a package that fails to import on it
    stands in for the missing one, and everything else (ssh, copy, remote harness) is real."""
    bundle, _ = benched
    url, options, home = sshd
    shadow = home / "no-litert" / "ai_edge_litert"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ai_edge_litert'\")\n")
    python = home / "board-python"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={shadow.parent} exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    result = bench_over_ssh(bundle, url, options, "--remote-python", str(python), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "tflite-model.tflite not run: the tflite runtime is not installed" in " ".join(result.stdout.split())
    assert "pip install ai-edge-litert there" in " ".join(result.stdout.split())
    assert [p.name.endswith("executorch-model.pte.json") for p in tmp_path.iterdir()] == [True]


def test_ssh_refuses_a_board_without_numpy(benched, sshd, tmp_path):
    bundle, _ = benched
    url, options, home = sshd
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home / "bare")], check=True)
    result = bench_over_ssh(bundle, url, options, "--remote-python", str(home / "bare/bin/python"))
    assert result.returncode == 1
    assert "cannot run the harness" in result.stderr and "install Python 3 with numpy" in result.stderr
    assert_board_clean()


def test_ssh_board_checks_the_sha256_of_what_it_received(benched, sshd, tmp_path):
    """The host checks the bundle before sending it, so the file is changed on the board, after the copy:
    the board's Python stand-in alters the model in the received bundle, then runs the harness."""
    bundle, _ = benched
    url, options, home = sshd
    python = home / "altering-python"
    python.write_text(
        '#!/bin/sh\ncase "$1" in *harness.py) printf "\\377\\376" | dd of="$2/executorch-model.pte" bs=1 seek=200 '
        f'conv=notrunc 2>/dev/null;; esac\nexec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    result = bench_over_ssh(bundle, url, options, "--remote-python", str(python), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "does not match its sha256" in " ".join(result.stdout.split())
