"""`edgedistill bench` on bundles someone changed: names that lead out of the bundle, files that fail
their sha256, a broken manifest.json, result names and folders that lead elsewhere. Each is refused
with one line and exit 1 before anything runs, and nothing outside the bundle's results folder
changes. Also: a bundle exported from plain weights gets its PyTorch eager baseline."""

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import test_device_drivers as drivers
import torch
from conftest import run_cli
from safetensors.torch import save_file

from edgedistill.devices import harness
from edgedistill.devices.bench import Job, Timing, student_checkpoint
from edgedistill.devices.ssh import SshDevice
from edgedistill.devices.staging import stage_bundle
from edgedistill.errors import UserError
from edgedistill.models import create_model

ARCH = "lcnet_050"
android_core = drivers.android_core  # the Android core compiled with javac, as in the driver tests


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """One real bundle, exported from plain weights (a timm state dict without edgedistill metadata), and
    its bench on the host."""
    root = tmp_path_factory.mktemp("plain")
    torch.manual_seed(0)
    model = create_model(ARCH, 10)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(root / "weights.safetensors"))
    exported = run_cli(
        "export", str(root / "weights.safetensors"), "--student", f"timm:{ARCH}", "--target", "android",
        "--image-size", "32", "--golden", "16", "--out", str(root / "export"),
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    bundle = root / "export" / "android-fp32"
    return bundle, run_cli("bench", str(bundle), "--iterations", "5", "--warmup", "1")


@pytest.fixture
def case(plain, tmp_path):
    """A copy of the real bundle at CASE/bundle (without results), in a folder of its own to watch."""
    shutil.copytree(plain[0], tmp_path / "bundle", ignore=shutil.ignore_patterns("bench"))
    return tmp_path


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under ``folder``: a file's sha256, a link's target, or "dir"."""
    return {
        str(path.relative_to(folder)): f"-> {os.readlink(path)}"
        if path.is_symlink()
        else (harness.sha256_of(path) if path.is_file() else "dir")
        for path in sorted(folder.rglob("*"))
    }


def edit_manifest(bundle: Path, change) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def refused(case: Path) -> str:
    """Bench CASE/bundle, expecting exit 1 with one line and no change anywhere under CASE; returns the line."""
    before = snapshot(case)
    result = run_cli("bench", str(case / "bundle"), "--iterations", "3", "--warmup", "0")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert snapshot(case) == before
    return lines[0]


def first_artifact(manifest: dict) -> dict:
    return next(entry for entry in manifest["artifacts"] if entry["format"] == "executorch")


@pytest.mark.parametrize("name", ["../outside.pte", "ABSOLUTE"])
def test_artifact_names_outside_the_bundle_are_refused(case, name):
    """The outside file is the real model, with its real sha256: only its place can refuse it."""
    outside = case / "outside.pte"
    shutil.copy(case / "bundle" / "executorch-model.pte", outside)
    name = str(outside) if name == "ABSOLUTE" else name
    edit_manifest(case / "bundle", lambda manifest: first_artifact(manifest).update(file=name))
    line = refused(case)
    assert (
        f"{(case / 'bundle').resolve() / 'manifest.json'} names the file {name!r}, which is not a plain file name"
        in line
    )
    assert "export the bundle again" in line


def test_a_link_out_of_the_bundle_is_refused(case):
    bundle = case / "bundle"
    (bundle / "executorch-model.pte").rename(case / "elsewhere.pte")
    (bundle / "executorch-model.pte").symlink_to(case / "elsewhere.pte")
    line = refused(case)
    assert f"{bundle.resolve() / 'executorch-model.pte'} is a link to {(case / 'elsewhere.pte').resolve()}" in line
    assert "outside" in line and "copy the file in" in line


def test_a_golden_set_that_fails_its_sha256_is_refused(case):
    bundle = case / "bundle"
    with np.load(bundle / "golden.npz") as golden:
        arrays = {key: golden[key] for key in golden.files}
    arrays["student_logits"] = arrays["student_logits"] + 1
    np.savez_compressed(bundle / "golden.npz", **arrays)
    line = refused(case)
    assert "golden.npz does not match its sha256 in manifest.json; export the bundle again or copy it whole" in line
    assert not (bundle / "bench").exists()  # no result, not even an empty results folder


def test_a_model_that_fails_its_sha256_is_refused(case):
    with (case / "bundle" / "executorch-model.pte").open("r+b") as handle:
        handle.seek(300)
        handle.write(b"\x00\x01\x02")
    line = refused(case)
    assert "executorch-model.pte does not match its sha256 in manifest.json" in line
    assert not (case / "bundle" / "bench").exists()


def artifact_size(manifest: dict, size: object) -> dict:
    return {**manifest, "artifacts": [{**manifest["artifacts"][0], "size_bytes": size}, *manifest["artifacts"][1:]]}


@pytest.mark.parametrize(
    "rewrite,problem",
    [
        (lambda m: '{"artifacts": [', "is not JSON (Expecting value: line 1 column 16 (char 15)); "),
        (lambda m: "[1, 2]", "holds [1, 2], not a JSON object; "),
        (lambda m: json.dumps({**m, "golden": {"file": "golden.npz"}}), "has no golden.sha256; "),
        (
            lambda m: json.dumps({**m, "artifacts": "model.pte"}),
            'has artifacts = "model.pte", not a list, each an object',
        ),
        (lambda m: json.dumps({**m, "passed": "yes"}), 'has passed = "yes", not true or false; '),
        (lambda m: json.dumps(artifact_size(m, "big")), 'has artifacts[0].size_bytes = "big", not an integer; '),
    ],
    ids=["not-json", "not-an-object", "missing-key", "wrong-type", "wrong-type-bool", "wrong-type-in-artifact"],
)
def test_a_broken_manifest_is_one_line(case, rewrite, problem):
    path = case / "bundle" / "manifest.json"
    path.write_text(rewrite(json.loads(path.read_text())))
    line = refused(case)
    assert line.startswith(f"error: {path.resolve()} {problem}"), line
    assert line.endswith(("export the bundle again or copy it whole", "(`edgedistill export` writes every key)"))


def test_a_crafted_name_cannot_put_a_result_outside_the_results_folder(case):
    """With bench/host-x present, the name x/../../../escaped.pte once made the result land beside the bundle."""
    (case / "bundle" / "bench" / "host-x").mkdir(parents=True)
    edit_manifest(case / "bundle", lambda manifest: first_artifact(manifest).update(file="x/../../../escaped.pte"))
    line = refused(case)
    assert "'x/../../../escaped.pte', which is not a plain file name" in line
    assert not list(case.glob("escaped*"))


def test_a_result_file_or_folder_that_links_elsewhere_is_refused(case):
    """A bundle may carry its own bench/: a result name in it, or bench/ itself, linked to elsewhere."""
    (case / "victim.json").write_text("keep me\n")
    (case / "bundle" / "bench").mkdir()
    (case / "bundle" / "bench" / "host-executorch-model.pte.json").symlink_to(case / "victim.json")
    line = refused(case)
    assert "host-executorch-model.pte.json is a link to" in line and "victim.json" in line
    shutil.rmtree(case / "bundle" / "bench")
    (case / "elsewhere").mkdir()
    (case / "bundle" / "bench").symlink_to(case / "elsewhere")
    line = refused(case)
    assert "bench is a link to" in line and "outside the bundle; remove the link or choose --out" in line
    assert not list((case / "elsewhere").iterdir())


def test_plain_weights_bundle_runs_the_eager_baseline(plain):
    """No edgedistill metadata in the weights: the model is rebuilt from the manifest's arch, labels and
    input size, and, being the student itself, answers exactly as the golden set's student logits."""
    bundle, result = plain
    assert result.returncode == 0, result.stderr[-2000:]
    assert "edgedistill metadata" not in result.stdout + result.stderr
    payload = json.loads((bundle / "bench" / "host-pytorch-eager.json").read_text())
    schema = json.loads(resources.files("edgedistill.devices").joinpath("result.schema.json").read_text())
    jsonschema.validate(payload, schema)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert (
        payload["model"]["file"] == "weights.safetensors" and payload["model"]["sha256"] == manifest["source"]["sha256"]
    )
    assert payload["agreement"]["top1_agreement_student"] == 1.0
    assert payload["agreement"]["max_abs_logit_diff_student"] < 1e-4
    assert {path.name for path in (bundle / "bench").iterdir()} == {
        "host-executorch-model.pte.json",
        "host-tflite-model.tflite.json",
        "host-pytorch-eager.json",
    }


def test_a_changed_checkpoint_is_no_baseline(plain, tmp_path):
    manifest = json.loads((plain[0] / "manifest.json").read_text())
    copy = tmp_path / "weights.safetensors"
    copy.write_bytes(Path(manifest["source"]["checkpoint"]).read_bytes() + b"\0")
    with pytest.raises(harness.BundleError, match="weights.safetensors does not match its sha256 in manifest.json"):
        student_checkpoint({**manifest, "source": {**manifest["source"], "checkpoint": str(copy)}})
    assert student_checkpoint(manifest) == Path(manifest["source"]["checkpoint"])


def test_bundle_file_takes_only_plain_names_that_stay_inside(tmp_path):
    bundle, outside = tmp_path / "bundle", tmp_path / "outside"
    (bundle / "model.mlpackage").mkdir(parents=True)
    outside.mkdir()
    (bundle / "model.pte").write_bytes(b"pte")
    (outside / "secret").write_text("secret")
    assert harness.bundle_file(bundle, "model.pte") == (bundle / "model.pte").resolve()
    (bundle / "alias.pte").symlink_to("model.pte")  # a link that stays inside is followed
    assert harness.bundle_file(bundle, "alias.pte") == (bundle / "model.pte").resolve()
    names = ["../outside/secret", str(outside / "secret"), "a/b", "a\\b", "C:secret", "", ".", "..", "x\0", None, 5]
    for name in names:
        with pytest.raises(harness.BundleError, match="not a plain file name inside the bundle"):
            harness.bundle_file(bundle, name)
    (bundle / "out.pte").symlink_to(outside / "secret")
    (bundle / "model.mlpackage" / "weights.bin").symlink_to(outside / "secret")  # a link deep in a package
    (bundle / "root").symlink_to(bundle)
    (bundle / "loop").symlink_to("loop")
    for name, problem in [
        ("out.pte", "is a link to"),
        ("model.mlpackage", "weights.bin is a link to"),
        ("root", "is a link to"),
        ("loop", "cannot follow the links"),
    ]:
        with pytest.raises(harness.BundleError, match=problem):
            harness.bundle_file(bundle, name)


def test_the_harness_on_a_board_refuses_a_golden_set_that_fails_its_sha256(tmp_path):
    """devices/harness.py alone, as a board runs it: the golden set is checked there too."""
    drivers.make_bundle(tmp_path / "bundle")
    np.savez_compressed(tmp_path / "bundle" / "golden.npz", inputs=np.zeros((1, 3, 8, 8), np.float32))
    command = [sys.executable, str(Path(harness.__file__)), str(tmp_path / "bundle"), "--artifact"]
    finished = subprocess.run(
        [*command, "tflite-model.tflite", "--out", str(tmp_path / "r.json")], capture_output=True, text=True
    )
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        f"error: {(tmp_path / 'bundle' / 'golden.npz').resolve()} does not match its sha256 in manifest.json; "
        "export the bundle again or copy it whole"
    ]
    assert not (tmp_path / "r.json").exists()


def test_ssh_sends_the_files_the_manifest_names_and_links_as_their_files(tmp_path, monkeypatch):
    """The ssh driver with the board's shell run here (sshd tests need an sshd): the board receives
    manifest.json, the golden set the manifest names and the job's model, a link inside the bundle as
    the file it leads to, since its target is a path of this machine, not of the board."""
    bundle = tmp_path / "bundle"
    _, artifact = drivers.make_bundle(bundle)
    (bundle / "store").mkdir()
    (bundle / "tflite-model.tflite").rename(bundle / "store" / "model.bin")
    (bundle / "tflite-model.tflite").symlink_to(bundle / "store" / "model.bin")

    def board_shell(self, command, stdin=None):
        done = subprocess.run(["sh", "-c", command], capture_output=True, stdin=stdin or subprocess.DEVNULL)
        return subprocess.CompletedProcess(command, done.returncode, done.stdout.decode(), done.stderr.decode())

    monkeypatch.setattr(SshDevice, "_ssh", board_shell)
    device = SshDevice("ssh://pi@board", [], python=sys.executable)
    try:
        device.prepare(bundle, [Job("m", artifact)], Timing(1, 0, 5, 0.0))
        received = Path(device.workdir) / "bundle"
        assert sorted(path.name for path in received.iterdir()) == [
            "golden.npz",
            "manifest.json",
            "tflite-model.tflite",
        ]
        assert not (received / "tflite-model.tflite").is_symlink()
        assert (received / "tflite-model.tflite").read_bytes() == b"model bytes"
    finally:
        device.close()
    assert not Path(device.workdir).exists()


def test_staging_refuses_a_golden_set_that_fails_its_sha256(tmp_path):
    _, artifact = drivers.make_bundle(tmp_path / "bundle")
    np.savez_compressed(tmp_path / "bundle" / "golden.npz", inputs=np.zeros((1, 3, 8, 8), np.float32))
    with pytest.raises(UserError, match="golden.npz does not match its sha256"):
        stage_bundle(tmp_path / "bundle", [Job("m", artifact)], Timing(1, 0, 5, 0.0), tmp_path / "staged")
    assert not (tmp_path / "staged").exists()


@pytest.mark.parametrize("golden_file", ["inputs.f32", "labels.i32", "student_logits.f32", "teacher_logits.f32"])
def test_android_core_refuses_a_golden_file_that_fails_its_sha256(android_core, tmp_path, golden_file):
    """Same size, other bytes: only the sha256 in the job file can tell."""
    _, artifact = drivers.make_bundle(tmp_path / "bundle")
    staged = stage_bundle(tmp_path / "bundle", [Job("m", artifact)], Timing(1, 0, 5, 0.0), tmp_path / "staged")
    with (staged / "golden" / golden_file).open("r+b") as handle:
        handle.write(b"\x01\x02\x03\x04")
    finished = android_core("run", str(staged), "jobs/tflite-model.tflite.properties", str(tmp_path / "r.json"))
    assert finished.returncode == 1
    assert finished.stderr.strip().splitlines() == [
        f"error: {staged / 'golden' / golden_file} does not match its sha256 in the job file; "
        "stage and push the bundle again"
    ]
    assert not (tmp_path / "r.json").exists()
    job = staged / "jobs" / "tflite-model.tflite.properties"
    job.write_text("".join(line for line in job.read_text().splitlines(True) if not line.startswith(golden_file)))
    finished = android_core("run", str(staged), "jobs/tflite-model.tflite.properties", str(tmp_path / "r.json"))
    assert finished.returncode == 1 and f"has no '{golden_file}.sha256'; stage the bundle again" in finished.stderr
