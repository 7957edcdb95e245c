"""The console entry point, run as a real child process, as a user runs it."""

import json
import shutil
from dataclasses import fields

import pytest
import typer
import yaml
from conftest import run_cli

from edgedistill.cli import app
from edgedistill.config import DEFAULT_STUDENT, TrainConfig
from edgedistill.errors import name_settings_as_flags, setting
from edgedistill.models import count_macs, create_model, load_checkpoint

METRIC_KEYS = ("clean_acc", "field_acc", "heldout_acc", "params", "macs")


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("train", "export", "bench", "report", "augment"):
        assert command in result.stdout


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke run: one epoch of everything on the demo data, with the full 2x2 of students."""
    out = tmp_path_factory.mktemp("runs") / "smoke"
    result = run_cli(
        "train", "--domain", "phone", "--data", "demo", "--epochs", "1", "--teacher-epochs", "1", "--alone-on-clean",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out, result


def test_smoke_run_writes_metrics_report_and_checkpoints(smoke_run):
    out, result = smoke_run
    metrics = json.loads((out / "metrics.json").read_text())
    for model in ("teacher", "student_scratch", "student_scratch_clean", "student_kd", "student_kd_clean"):
        for key in METRIC_KEYS:
            assert key in metrics[model], (model, key)
        assert 0.0 <= metrics[model]["clean_acc"] <= 1.0
    assert 0.0 <= metrics["student_kd"]["agreement_field"] <= 1.0
    assert "gap_recovered_field" in metrics
    assert metrics["config"]["domain"] == "phone"
    assert metrics["teacher"]["macs"] > 5 * metrics["student_kd"]["macs"]
    assert metrics["macs_ratio_teacher_to_student"] == metrics["teacher"]["macs"] / metrics["student_kd"]["macs"]
    assert metrics["data"]["field"] == 9 * metrics["data"]["test"]
    assert metrics["data"]["held_out"] == 3 * metrics["data"]["test"]
    assert set(metrics["teacher"]["heldout_acc_by_corruption"]) == {"speckle_noise", "gaussian_blur", "saturate"}
    report = (out / "report.md").read_text()
    assert "gap recovered on the field split" in report
    assert "| alone, clean views |" in report and "saturate (held out)" in report
    assert "gap recovered" in result.stdout
    _, info = load_checkpoint(out / "student_kd.safetensors")
    assert f"timm:{info.arch}" == DEFAULT_STUDENT and len(info.classes) == 10


def test_existing_run_is_not_overwritten(smoke_run):
    out, _ = smoke_run
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = run_cli("train", "--epochs", "1", "--teacher-epochs", "1", "--out", str(out))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: run directory {out} already exists; pass --resume to continue it, --force to replace it, or "
        "choose another --out"
    ]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_teacher_with_other_classes_is_refused(smoke_run, image_folder, tmp_path):
    out, _ = smoke_run
    result = run_cli(
        "train",
        "--data",
        str(image_folder),
        "--teacher",
        str(out / "teacher.safetensors"),
        "--out",
        str(tmp_path / "r"),
    )
    assert result.returncode == 1
    assert "predicts 10 classes" in result.stderr and "has 3" in result.stderr and "Traceback" not in result.stderr


def test_checkpoint_that_is_not_one_is_refused(image_folder, tmp_path):
    fake = tmp_path / "teacher.safetensors"
    fake.write_text("definitely not weights")
    result = run_cli("train", "--data", str(image_folder), "--teacher", str(fake), "--out", str(tmp_path / "r"))
    assert result.returncode == 1
    assert "not a safetensors checkpoint" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--data", "/no/such/folder"], "does not exist"),
    (["--domain", "fone"], "unknown domain 'fone'"),
    (["--student", "timm:mobilenet_v3_tiny"], "is not a timm model"),
    (["--temperature", "hot"], "--temperature must be a number or 'auto', got 'hot'"),
    (["--alpha", "2"], "--alpha must be between 0.0 and 1.0 or 'auto', got 2.0"),
    (["--stem", "small", "--student", "timm:convnext_atto"], "timm:convnext_atto has no stride-2 first convolution"),
    (["--stem", "small", "--teacher", "timm:convnext_atto"], "LCNet, or --teacher-stem standard"),
    (["--teacher-stem", "small", "--teacher", "x.onnx"], "--teacher-stem small builds a timm teacher"),
    (["--stem", "tiny"], "--stem must be one of ['standard', 'small'], got 'tiny'"),
])  # fmt: skip
def test_bad_input_gets_one_line(args, message, tmp_path):
    result = run_cli("train", *args, "--out", str(tmp_path / "r"))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_report_of_a_run_without_device_results(smoke_run, tmp_path):
    out, _ = smoke_run
    result = run_cli("report", str(out))
    assert result.returncode == 0, result.stderr
    report = (out / "report.md").read_text()
    assert "| student alone |" in report and "No device results yet" in report
    assert not (out / "plots").exists()
    empty = run_cli("report", str(tmp_path))
    assert empty.returncode == 1 and "neither metrics.json nor bench results" in empty.stderr


def test_auto_loss_and_temperature_sweep_on_validation_views_with_a_teacher_cache(image_folder, tmp_path):
    """--loss auto --temperature auto trains one short student per (loss, T), scores each on field-domain
    views of held-out training images (this folder has no val/), and distils with the best; the run's
    students read the teacher from a cache that a later run reuses only when its inputs match."""
    out = tmp_path / "run"
    common = ["--data", str(image_folder), "--epochs", "2", "--batch-size", "8", "--workers", "0"]
    result = run_cli(
        "train", *common, "--teacher-epochs", "1", "--loss", "auto", "--temperature", "auto", "--sweep-epochs", "1",
        "--cache-teacher", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    tuning = json.loads((out / "metrics.json").read_text())["distillation"]
    rows = tuning["sweep"]["rows"]
    assert [(row["loss"], row["temperature"], row["alpha"]) for row in rows] == [
        (loss, t, 0.9) for loss in ("kd", "dkd", "dist") for t in (1, 2, 4, 8)
    ]
    chosen = tuning["sweep"]["chosen"]
    assert chosen in rows and (tuning["loss"], tuning["temperature"]) == (chosen["loss"], chosen["temperature"])
    assert chosen["val_field_acc"] == max(row["val_field_acc"] for row in rows)
    assert "held out of the sweep" in tuning["sweep"]["validation"]
    assert "## Loss, temperature and alpha sweep" in (out / "report.md").read_text()
    assert len(list((out / "sweep").glob("*.safetensors"))) == 12
    assert {p.name for p in (out / "teacher-cache").iterdir()} == {"phone", "clean"}

    teacher = out / "teacher.safetensors"
    cache = tmp_path / "cache"
    (image_folder / "unlabeled").mkdir()  # cache-teacher distils on the same set as train: labeled, then these
    for index, image in enumerate(sorted((image_folder / "test").rglob("*.png"))[:4]):
        shutil.copy(image, image_folder / "unlabeled" / f"{index}.png")
    built = run_cli("cache-teacher", "--teacher", str(teacher), "--data", str(image_folder), "--views", "2",
                    "--seed", "1", "--batch-size", "8", "--workers", "0", "--out", str(cache))  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert (cache / "phone" / "meta.json").exists()
    reuse = ["train", *common, "--teacher", str(teacher), "--teacher-cache", str(cache)]
    refused = run_cli(*reuse, "--out", str(tmp_path / "r0"))
    assert refused.returncode == 1 and "built for other inputs (seed: cache 1, now 0)" in refused.stderr
    reused = run_cli(*reuse, "--seed", "1", "--out", str(tmp_path / "r1"))
    assert reused.returncode == 0, reused.stderr


@pytest.mark.parametrize("flags,teacher_stem", [
    (["--stem", "small"], "small"),  # the teacher takes the students' stem unless told otherwise
    (["--stem", "small", "--teacher-stem", "standard"], "standard"),
])  # fmt: skip
def test_small_input_stems_are_built_and_recorded(image_folder, tmp_path, flags, teacher_stem):
    out = tmp_path / "run"
    result = run_cli(
        "train", "--data", str(image_folder), "--epochs", "1", "--teacher-epochs", "1", "--batch-size", "8",
        "--workers", "0", *flags, "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for name, arch, stem in (("teacher", "resnet18", teacher_stem), ("student_kd", "regnetx_002", "small")):
        assert load_checkpoint(out / f"{name}.safetensors")[1].stem == stem
        built = create_model(arch, len(metrics["data"]["classes"]), stem=stem)
        assert metrics[name]["macs"] == count_macs(built, 32)


def test_unlabeled_images_are_distilled_and_their_effect_reported(image_folder, tmp_path):
    """The data folder's own unlabeled/ and an --unlabeled folder, together."""
    unlabeled, own = tmp_path / "unlabeled", image_folder / "unlabeled" / "any" / "depth"
    unlabeled.mkdir()
    own.mkdir(parents=True)
    for index, image in enumerate(sorted((image_folder / "test").rglob("*.png"))):
        shutil.copy(image, (unlabeled if index % 2 else own) / f"{index}.png")  # no class folders
    out = tmp_path / "run"
    result = run_cli(
        "train", "--data", str(image_folder), "--epochs", "1", "--teacher-epochs", "1", "--batch-size", "8",
        "--workers", "0", "--unlabeled", str(unlabeled), "--unlabeled-ratio", "0.25", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unlabeled"]["images"] == 12 and metrics["unlabeled"]["ratio"] == 0.25
    assert metrics["unlabeled"]["source"] == f"the data's own (unlabeled/) and {unlabeled}"
    gain = metrics["student_kd"]["field_acc"] - metrics["student_kd_labeled_only"]["field_acc"]
    assert metrics["unlabeled"]["field_acc_gain"] == pytest.approx(gain)
    assert "12 unlabeled images (ratio 0.25) changed field accuracy by" in " ".join(result.stdout.split())
    assert "| KD, labeled only |" in (out / "report.md").read_text()
    missing = run_cli(
        "train", "--data", str(image_folder), "--unlabeled", str(tmp_path / "nope"), "--out", str(tmp_path / "r")
    )
    assert missing.returncode == 1 and "is not a folder" in missing.stderr


def test_messages_name_settings_as_the_caller_typed_them():
    assert setting("pretrained", False) == "pretrained=False" and setting("image_size", 64) == "image_size=64"
    name_settings_as_flags()
    assert setting("pretrained", False) == "--no-pretrained" and setting("force", True) == "--force"
    assert setting("teacher_mean", [0.5, 0.4, 0.3]) == "--teacher-mean 0.5 0.4 0.3"
    assert setting("image_size", 64) == "--image-size 64"


def test_every_setting_has_a_flag():
    """One definition of the settings: every field of a run's config.yaml can be given on the command line."""
    options = {param.name for param in typer.main.get_command(app).commands["train"].params}
    assert {setting.name for setting in fields(TrainConfig)} <= options


def test_a_config_file_runs_and_a_runs_own_config_reruns_to_the_same_figures(image_folder, tmp_path):
    settings = tmp_path / "run.yaml"
    settings.write_text(
        f"data: {image_folder}\nepochs: 3\nteacher_epochs: 1\nbatch_size: 8\nworkers: 0\nseed: 3\n"
        "teacher_lr: 2e-3\nweight_decay: 0.01\nfield_grid: full\nloss: dkd\n"  # 2e-3: text to YAML 1.1, a number
    )
    first = run_cli("train", "--config", str(settings), "--epochs", "1", "--out", str(tmp_path / "first"))
    assert first.returncode == 0, first.stderr
    saved = yaml.safe_load((tmp_path / "first" / "config.yaml").read_text())
    assert saved["epochs"] == 1 and saved["seed"] == 3 and saved["teacher_lr"] == 0.002  # option over file
    assert saved["field_grid"] == "full" and saved["weight_decay"] == 0.01 and saved["loss"] == "dkd"
    # without --out: a new run in the usual timestamped folder, never over the run the config came from
    again = run_cli("train", "--config", str(tmp_path / "first" / "config.yaml"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    (rerun,) = (tmp_path / "runs").iterdir()
    one, two = (json.loads((run / "metrics.json").read_text()) for run in (tmp_path / "first", rerun))
    for model in ("teacher", "student_scratch", "student_kd", "student_kd_clean"):
        for key in ("clean_acc", "field_acc", "heldout_acc"):
            assert one[model][key] == two[model][key], (model, key)
    assert {**one["config"], "out": None} == {**two["config"], "out": None}
    assert one["data"]["field"] == 45 * one["data"]["test"]  # the full grid: 9 corruptions x 5 severities


@pytest.mark.parametrize("text,problem", [
    ("epoch: 3\n", "has unknown settings ['epoch']; the settings are ['out', "),
    ("epochs: 0\n", "--epochs must be at least 1, got 0"),
    ("loss: hinton\n", "--loss must be one of ['kd', 'dkd', 'dist', 'auto'], got 'hinton'"),
])  # fmt: skip
def test_a_bad_config_file_gets_one_line(tmp_path, text, problem):
    settings = tmp_path / "run.yaml"
    settings.write_text(text)
    result = run_cli("train", "--config", str(settings), "--out", str(tmp_path / "run"))
    assert result.returncode != 0 and problem in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
