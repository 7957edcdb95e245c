"""Export with the real converters and runtimes: ExecuTorch, LiteRT and Core ML (spec only off
macOS), bundles, manifests and the verifier's contract."""

import importlib.util
import json
import platform
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_cli
from safetensors.torch import save_file

from edgedistill.config import TrainConfig
from edgedistill.devices.harness import sha256_of
from edgedistill.errors import UserError
from edgedistill.export.exporter import FORMATS, check_request, export_int8, export_one
from edgedistill.export.golden import Golden, build_golden, calibration_batches, fine_tuning_batches
from edgedistill.export.quantize import FineTuning, quantizable_layers
from edgedistill.export.source import ExportSource, load_source
from edgedistill.export.verify import Verdict, score_outputs
from edgedistill.models import create_model, load_checkpoint, model_info, save_checkpoint

CLASSES = [f"c{i}" for i in range(10)]
MATRIX_STUDENTS = ("mobilenetv3_small_100", "mobilenetv4_conv_small", "lcnet_050", "efficientnet_b0")


def make_run(run_dir, arch="mobilenetv3_small_100", with_student=True):
    """A run directory as `edgedistill train` leaves it, with untrained weights (fast to make)."""
    run_dir.mkdir(parents=True)
    TrainConfig(out=str(run_dir), student=f"timm:{arch}", image_size=32).save(run_dir)
    torch.manual_seed(0)
    teacher = create_model("resnet18", len(CLASSES)).eval()
    save_checkpoint(run_dir / "teacher.safetensors", teacher, model_info(teacher, "resnet18", CLASSES, 32))
    if with_student:
        student = create_model(arch, len(CLASSES)).eval()
        save_checkpoint(run_dir / "student_kd.safetensors", student, model_info(student, arch, CLASSES, 32))
    return run_dir


def tiny_golden(student: torch.nn.Module, count: int = 8) -> Golden:
    inputs = torch.randn(count, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = student(inputs).numpy()
    labels = logits.argmax(1)
    zeros = np.zeros(count, dtype=np.int64)
    return Golden(inputs.numpy(), labels, zeros, zeros + 1, ("none",), logits, None)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`edgedistill export RUN --target all --precision fp32` on a demo-data run."""
    run_dir = make_run(tmp_path_factory.mktemp("runs") / "r")
    result = run_cli("export", str(run_dir), "--target", "all", "--precision", "fp32", "--golden", "64")
    return run_dir, result


def test_fp32_export_writes_verified_bundles_for_every_format(exported):
    run_dir, result = exported
    assert result.returncode == 0, result.stderr[-3000:]
    for target, formats in (("android", {"executorch", "tflite"}), ("ios", {"coreml", "executorch"})):
        bundle = run_dir / "export" / f"{target}-fp32"
        manifest = json.loads((bundle / "manifest.json").read_text())
        assert manifest["passed"] and manifest["labels"] == CLASSES
        assert {a["format"] for a in manifest["artifacts"]} == formats
        for artifact in manifest["artifacts"]:
            assert artifact["sha256"] == sha256_of(bundle / artifact["file"])
            if artifact["format"] != "coreml" or platform.system() == "Darwin":
                assert artifact["top1_agreement_student"] == 1.0 and artifact["max_abs_logit_diff"] <= 1e-3
        with np.load(bundle / "golden.npz") as golden:
            assert golden["inputs"].shape == (64, 3, 32, 32) and golden["teacher_logits"].shape == (64, 10)
        assert manifest["golden"]["sha256"] == sha256_of(bundle / "golden.npz")
        assert "| executorch | fp32 |" in (bundle / "verification.md").read_text()
    assert "executorch fp32: pass" in result.stdout and "tflite fp32: pass" in result.stdout


def test_existing_bundles_are_kept_without_force(exported):
    run_dir, _ = exported
    manifest = run_dir / "export" / "android-fp32" / "manifest.json"
    before = manifest.read_text()
    result = run_cli("export", str(run_dir), "--target", "android")
    assert result.returncode == 1 and "--force" in result.stderr and manifest.read_text() == before


@pytest.mark.parametrize("make,args,message", [
    (lambda tmp: make_run(tmp / "r", with_student=False), [], "has no distilled student"),
    (lambda tmp: tmp, [], "is not a run directory"),
    (lambda tmp: make_run(tmp / "r"), ["--target", "android", "--precision", "fp16"], "does not offer fp16"),
    (lambda tmp: make_run(tmp / "r"), ["--target", "watch"], "unknown --target 'watch'"),
    (lambda tmp: make_run(tmp / "r"), ["--precision", "int8", "--qat", "sometimes"], "unknown --qat 'sometimes'"),
])  # fmt: skip
def test_bad_export_requests_get_one_line(make, args, message, tmp_path):
    result = run_cli("export", str(make(tmp_path)), *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("error:"), result.stderr[-2000:]


@pytest.mark.parametrize("stem", ["standard", "small"])
def test_plain_weights_with_student_export(tmp_path, stem):
    torch.manual_seed(0)
    model = create_model("lcnet_050", 10, stem=stem)
    weights = tmp_path / "mine.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    given = ["--student", "timm:lcnet_050", "--stem", stem]
    result = run_cli("export", str(weights), *given, "--target", "android", "--golden", "16")
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "mine-export" / "android-fp32" / "manifest.json").read_text())
    assert manifest["source"]["checkpoint"] == str(weights.resolve()) and manifest["source"]["arch"] == "timm:lcnet_050"
    assert manifest["source"]["stem"] == stem
    with np.load(tmp_path / "mine-export" / "android-fp32" / "golden.npz") as golden:
        with torch.no_grad():  # the golden answers are the model's own, so the stem was the one it was built with
            expected = model.eval()(torch.from_numpy(golden["inputs"][:4])).numpy()
        np.testing.assert_allclose(golden["student_logits"][:4], expected, atol=1e-4)


def test_int8_that_breaks_the_contract_is_marked_failed(tmp_path):
    """An untrained student's logits are nearly tied, so int8 flips many top-1 answers: the
    bundle must land as .FAILED with its figures, and the command must exit non-zero."""
    run_dir = make_run(tmp_path / "r")
    result = run_cli(
        "export", str(run_dir), "--target", "android", "--precision", "int8", "--calibration", "16", "--golden", "64",
        "--qat", "never", "--no-mixed-precision",
    )  # fmt: skip
    assert result.returncode == 1 and "failed verification" in result.stderr
    assert not (run_dir / "export" / "android-int8").exists()
    manifest = json.loads((run_dir / "export" / "android-int8.FAILED" / "manifest.json").read_text())
    assert not manifest["passed"]
    assert all(a["top1_agreement_student"] is not None for a in manifest["artifacts"])
    assert all(a["quantization"]["method"] == "ptq" and a["not_shipped"] == [] for a in manifest["artifacts"])
    assert all(a["quantization"]["calibration_views"] == 16 for a in manifest["artifacts"])
    assert all(a["flipped_margin_median"] <= a["golden_margin_median"] for a in manifest["artifacts"])
    assert (
        "top-2 margin of the changed inputs"
        in (run_dir / "export" / "android-int8.FAILED" / "verification.md").read_text()
    )


def test_a_failed_agreement_says_how_close_the_changed_answers_were():
    """Flips on near-ties (a low-confidence student) and flips on confident answers (a broken layer)
    fail the same tolerance; the margins in the verdict tell them apart."""
    reference = np.array([[5.0, 0.0, 0.0], [0.0, 4.0, 0.0], [1.0, 0.98, 0.0], [0.0, 2.0, 2.02]] * 25, np.float32)
    golden = Golden(reference, np.zeros(100, int), np.zeros(100, int), np.zeros(100, int), ("x",), reference, None)
    near_ties = reference.copy()
    near_ties[2::4, 1] += 0.05  # the 1.0-vs-0.98 inputs change their answer
    verdict = score_outputs(Verdict("tflite", "int8", "m.tflite", "LiteRT"), near_ties, golden)
    assert verdict.top1_agreement_student == pytest.approx(0.75)
    assert verdict.flipped_margin_median == pytest.approx(0.02, abs=1e-5)
    assert verdict.golden_margin_median == pytest.approx(2.01, abs=1e-5)  # margins 5, 4, 0.02, 0.02
    assert "margin of the changed inputs 0.02 logits, of all golden inputs 2.01" in verdict.problems[0]
    confident = reference.copy()
    confident[0::4, 0] -= 6.0  # the confident answers change
    verdict = score_outputs(Verdict("tflite", "int8", "m.tflite", "LiteRT"), confident, golden)
    assert verdict.flipped_margin_median == pytest.approx(5.0)
    agreeing = score_outputs(Verdict("tflite", "int8", "m.tflite", "LiteRT"), reference, golden)
    assert agreeing.passed and agreeing.flipped_margin_median is None


def test_fp32_logits_are_held_to_their_own_scale():
    """fp32 keeps about seven digits: logits near 1e5 differ by about 0.1 in a faithful export and must pass;
    at the same scale a difference of 10, and at a scale of 5 a difference of 0.01, must not."""
    reference = np.array([[1e5, -3e4, 2e3], [-5e4, 8e4, 1.0]] * 10, np.float32)
    golden = Golden(reference, np.zeros(20, int), np.zeros(20, int), np.zeros(20, int), ("x",), reference, None)
    rounded = reference + np.float32(0.12)
    assert score_outputs(Verdict("tflite", "fp32", "m.tflite", "LiteRT"), rounded, golden).passed
    off = score_outputs(Verdict("tflite", "fp32", "m.tflite", "LiteRT"), reference + np.float32(10.0), golden)
    assert not off.passed and "> 1.00e+00 (1e-03 + 1e-05 x the student's largest |logit|, 1e+05)" in off.problems[0]
    small = reference / np.float32(2e4)
    golden = Golden(small, np.zeros(20, int), np.zeros(20, int), np.zeros(20, int), ("x",), small, None)
    assert score_outputs(Verdict("tflite", "fp32", "m.tflite", "LiteRT"), small + np.float32(5e-4), golden).passed
    assert not score_outputs(Verdict("tflite", "fp32", "m.tflite", "LiteRT"), small + np.float32(0.01), golden).passed


@pytest.mark.parametrize("format_name", ["executorch", "tflite"])
def test_quantization_aware_fine_tuning_agrees_more_than_post_training_int8(format_name, tmp_path):
    """An untrained student answers on near-ties, so post-training int8 flips many of its answers; fine-tuned
    quantization-aware towards the fp32 student on field-domain views, the int8 model agrees more with it on
    the golden set (field test images it never saw), checked with the format's own runtime."""
    run_dir = make_run(tmp_path / "r")
    source = load_source(run_dir, None, None, None)
    golden = build_golden(source, 200)
    calibration = calibration_batches(source, 64)
    module = FORMATS[format_name]
    artifact = export_int8(
        module, source, golden, calibration, tmp_path / module.FILENAME, "always", FineTuning(epochs=2, images=512)
    )
    (ptq,) = artifact.alternatives
    assert artifact.quantization["method"] == "qat" and ptq.quantization["method"] == "ptq"
    assert artifact.quantization["fine_tuning"]["epochs"] == 2 and artifact.quantization["seconds"] > 0
    assert artifact.path == tmp_path / module.FILENAME and artifact.path.exists()
    assert artifact.verdict.top1_agreement_student > ptq.verdict.top1_agreement_student, (
        artifact.verdict.top1_agreement_student,
        ptq.verdict.top1_agreement_student,
    )


def test_layers_kept_in_fp32_run_in_fp32_in_the_program(tmp_path):
    """The quantizer's filter reaches the runtime: with every convolution and linear layer kept in fp32, XNNPACK's
    program stores fp32 weights and its logits stray a fraction of full int8's (what is left is int8 between the
    layers: residual adds and pooling belong to no layer)."""
    run_dir = make_run(tmp_path / "r", arch="test_resnet")
    source = load_source(run_dir, None, None, None)
    golden, calibration, module = build_golden(source, 32), calibration_batches(source, 16), FORMATS["executorch"]
    layers = quantizable_layers(source.student)
    kept = export_one(module, source, golden, "int8", calibration, tmp_path / "kept.pte", fp32_layers=layers)
    int8 = export_one(module, source, golden, "int8", calibration, tmp_path / "int8.pte")
    assert kept.quantization["method"] == "mixed" and kept.quantization["fp32_layers"] == layers
    assert kept.verdict.size_bytes > 3 * int8.verdict.size_bytes  # fp32 weights, four bytes each instead of one
    assert kept.verdict.max_abs_logit_diff < int8.verdict.max_abs_logit_diff / 2


def test_mixed_precision_is_the_fallback_where_the_runtime_has_it(tmp_path):
    """When post-training int8 misses the contract, ExecuTorch's export keeps the 1, 2, 4, then 8 layers int8 hurts
    most (ranked on field-domain training views) in fp32 until one passes, and records every attempt; LiteRT's
    quantizer cannot leave layers out, so its export does not try."""
    run_dir = make_run(tmp_path / "r", arch="test_efficientnet")  # untrained: near-ties, int8 misses
    source = load_source(run_dir, None, None, None)
    golden, calibration = build_golden(source, 64), calibration_batches(source, 16)
    shipped = export_int8(FORMATS["executorch"], source, golden, calibration, tmp_path / "model.pte", "never", None)
    attempts = [*shipped.alternatives, shipped]
    assert [a.quantization["method"] for a in attempts].count("ptq") == 1
    mixed = sorted(
        (a for a in attempts if a.quantization["method"] == "mixed"), key=lambda a: len(a.quantization["fp32_layers"])
    )
    ranking = mixed[0].quantization["sensitivity"]
    ranked = [row["layer"] for row in ranking["ranked"]]
    assert ranking["probe_views"] == 256 and set(ranked) <= set(quantizable_layers(source.student))
    counts = [len(a.quantization["fp32_layers"]) for a in mixed]
    assert counts == [1, 2, 4, 8][: len(counts)] and all(
        a.quantization["fp32_layers"] == ranked[:n] for a, n in zip(mixed, counts, strict=True)
    )
    assert mixed[-1].verdict.passed or counts[-1] == 8  # stops at the first that passes
    assert not any(a.verdict.passed for a in mixed[:-1])
    assert shipped.path == tmp_path / "model.pte" and shipped.path.exists()
    best = max(a.verdict.top1_agreement_student for a in attempts)
    assert shipped.verdict.passed or shipped.verdict.top1_agreement_student == best

    tflite = export_int8(FORMATS["tflite"], source, golden, calibration, tmp_path / "model.tflite", "never", None)
    assert tflite.alternatives == [] and tflite.quantization["method"] == "ptq"
    assert not export_int8(
        FORMATS["executorch"], source, golden, calibration, tmp_path / "off.pte", "never", None, mixed_precision=False
    ).alternatives


def test_fine_tuning_views_are_new_each_epoch_and_fit_a_small_split(tmp_path):
    """Each epoch is a new field-domain view of the same training images (view 0 calibrated), replayed
    exactly when asked again; fewer images than a batch still give one batch per epoch."""
    source = load_source(make_run(tmp_path / "r"), None, None, None)
    batches = fine_tuning_batches(source, count=10, batch_size=64)
    first, second = list(batches(0)), list(batches(1))
    assert [b.shape for b in first] == [(10, 3, 32, 32)] and len(second) == 1
    assert not torch.equal(first[0], second[0])
    assert torch.equal(next(iter(batches(0))), first[0])


@pytest.mark.parametrize("arch", MATRIX_STUDENTS)
def test_student_format_precision_matrix(arch, tmp_path):
    """Every phone student x every format x fp32/int8 on tiny inputs: each pair either exports to a
    file its runtime runs, or fails with a reason that names the format and the student."""
    torch.manual_seed(0)
    student = create_model(arch, 10).eval()
    info = model_info(student, arch, CLASSES, 32)
    golden = tiny_golden(student)
    source = ExportSource(student, info, None, None, "demo", "phone", {}, tmp_path)
    calibration = [torch.from_numpy(golden.inputs[i : i + 1]) for i in range(4)]
    outcome = {}
    for name, module in FORMATS.items():
        for precision in ("fp32", "int8"):
            artifact = export_one(
                module, source, golden, precision, calibration, tmp_path / f"{precision}-{module.FILENAME}"
            )
            verdict = artifact.verdict
            outcome[name, precision] = verdict.problems or "ok"
            if verdict.problems and verdict.size_bytes == 0:  # the converter refused: the reason must say who and why
                assert f"timm:{arch} to {name}" in verdict.problems[0]
                continue
            assert artifact.path.exists() and verdict.size_bytes > 0
            if verdict.checked_with == "spec":
                assert verdict.passed, verdict.problems
            else:
                assert verdict.max_abs_logit_diff is not None and np.isfinite(verdict.max_abs_logit_diff)
                if precision == "fp32":
                    assert verdict.passed, verdict.problems
    print(arch, outcome)


@pytest.mark.parametrize("arch", ["regnetx_002", "resnet18"])
def test_a_small_input_stem_exports_and_passes_on_every_format(arch, tmp_path):
    """The stride-1 stem changes every feature map's shape after it: the checkpoint's metadata rebuilds the same
    model, whose fp32 export still matches it on every format."""
    torch.manual_seed(0)
    model = create_model(arch, 10, stem="small").eval()
    save_checkpoint(tmp_path / "student.safetensors", model, model_info(model, arch, CLASSES, 32, "small"))
    student, info = load_checkpoint(tmp_path / "student.safetensors")
    inputs = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert info.stem == "small" and torch.equal(student.eval()(inputs), model(inputs))
    golden = tiny_golden(student)
    source = ExportSource(student, info, None, None, "demo", "phone", {}, tmp_path)
    for name, module in FORMATS.items():
        verdict = export_one(module, source, golden, "fp32", [], tmp_path / module.FILENAME).verdict
        assert verdict.passed, (name, verdict.problems)
        assert verdict.checked_with == "spec" or verdict.top1_agreement_student == 1.0


def determinant_model() -> tuple[torch.nn.Module, Golden, object]:
    """A model with an operation no phone runtime converts (a determinant), its golden set and its info."""

    class Determinant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 10)

        def forward(self, x):
            return self.fc(torch.linalg.det(x[:, :, :3, :3]))

    model = Determinant().eval()
    inputs = torch.randn(4, 3, 8, 8)
    logits = model(inputs).detach().numpy()
    golden = Golden(inputs.numpy(), logits.argmax(1), np.zeros(4, int), np.ones(4, int), ("none",), logits, None)
    return model, golden, model_info(model, "det", CLASSES, 8)


def test_an_operator_a_format_cannot_take_is_named():
    """A model with an operation no phone runtime converts (a determinant): every converter refuses,
    and the verdict names the operator instead of a stack trace."""
    model, golden, info = determinant_model()
    source = ExportSource(model, info, None, None, "demo", "phone", {}, None)
    for name, module in FORMATS.items():
        verdict = export_one(module, source, golden, "fp32", [], Path(tempfile.mkdtemp()) / module.FILENAME).verdict
        assert len(verdict.problems) == 1 and "det" in verdict.problems[0], (name, verdict.problems)
        assert verdict.problems[0].startswith(f"cannot export timm:det to {name}")


@pytest.mark.parametrize("format_name", ["executorch", "tflite"])
def test_int8_of_a_model_the_converter_refuses_is_not_fine_tuned(format_name, tmp_path):
    """Fine-tuning cannot help an operator the runtime lacks: even with qat="always" the refusal is the verdict,
    named once, and the manifest's method says what was tried."""
    model, golden, info = determinant_model()
    source = ExportSource(model, info, None, None, "demo", "phone", {}, None)
    calibration = [torch.from_numpy(golden.inputs[i : i + 1]) for i in range(2)]
    module = FORMATS[format_name]
    artifact = export_int8(module, source, golden, calibration, tmp_path / module.FILENAME, "always", FineTuning())
    assert artifact.alternatives == [] and artifact.quantization["method"] == "ptq"
    assert len(artifact.verdict.problems) == 1 and "det" in artifact.verdict.problems[0]
    assert artifact.verdict.file == module.FILENAME


def test_a_target_whose_converter_is_not_installed_is_refused_before_any_work(monkeypatch):
    """Each format comes with its own extra: a user who installed [executorch] only hears which one to add."""
    installed = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "litert_torch" else installed(name))
    with pytest.raises(UserError, match=r"tflite export needs litert_torch.*pip install 'edgedistill\[tflite\]'"):
        check_request(["android"], "fp32")
    assert check_request(["ios"], "fp32") == ["coreml", "executorch"]
