"""Weights from elsewhere: a timm teacher fine-tuned in the user's own code, and a student started from
pretrained weights (ImageNet's head of 1,000 classes left behind)."""

import json

import pytest
import timm
import torch
from conftest import run_cli
from safetensors.torch import save_file

from edgedistill.config import TrainConfig
from edgedistill.data import load_data
from edgedistill.errors import UserError
from edgedistill.models import start_from_weights
from edgedistill.run import load_given_teacher


def saved_lcnet(path, classes: int, seed: int = 1):
    torch.manual_seed(seed)
    model = timm.create_model("lcnet_050", num_classes=classes).eval()
    state = model.state_dict()
    if path.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return model


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_timm_teacher_from_plain_weights_gives_the_original_logits(image_folder, tmp_path, suffix):
    original = saved_lcnet(tmp_path / f"teacher{suffix}", classes=3)
    cfg = TrainConfig(
        out=str(tmp_path / "run"), data=str(image_folder), teacher="timm:lcnet_050",
        teacher_weights=str(tmp_path / f"teacher{suffix}"),
    )  # fmt: skip
    loaded, info = load_given_teacher(cfg, load_data(str(image_folder), 32), torch.device("cpu"))
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(images), original(images), rtol=0, atol=0)
    assert info.arch == "lcnet_050" and info.classes == ["blue", "green", "red"]


def test_teacher_weights_for_other_classes_are_refused(image_folder, tmp_path):
    saved_lcnet(tmp_path / "teacher.pt", classes=5)
    cfg = TrainConfig(
        out=str(tmp_path / "run"), data=str(image_folder), teacher="timm:lcnet_050",
        teacher_weights=str(tmp_path / "teacher.pt"),
    )  # fmt: skip
    with pytest.raises(UserError, match="do not fit timm:lcnet_050 with 3 classes"):
        load_given_teacher(cfg, load_data(str(image_folder), 32), torch.device("cpu"))


def test_a_student_starts_from_pretrained_weights_with_a_fresh_head(tmp_path):
    pretrained = saved_lcnet(tmp_path / "imagenet.safetensors", classes=1000)
    torch.manual_seed(0)
    student = timm.create_model("lcnet_050", num_classes=3)
    fresh = start_from_weights(student, "lcnet_050", tmp_path / "imagenet.safetensors")
    assert fresh == ["classifier.weight", "classifier.bias"]
    own, theirs = student.state_dict(), pretrained.state_dict()
    for key in own:
        if key not in fresh:
            torch.testing.assert_close(own[key], theirs[key], rtol=0, atol=0, msg=key)
    assert own["classifier.weight"].shape == (3, theirs["classifier.weight"].shape[1])


def test_weights_of_another_architecture_are_refused(tmp_path):
    torch.save(timm.create_model("resnet18", num_classes=3).state_dict(), tmp_path / "resnet.pt")
    with pytest.raises(UserError, match=r"weights do not fit timm:lcnet_050 \(\d+ tensors differ"):
        start_from_weights(timm.create_model("lcnet_050", num_classes=3), "lcnet_050", tmp_path / "resnet.pt")


def test_distillation_from_a_weights_teacher_into_a_pretrained_student(image_folder, tmp_path):
    saved_lcnet(tmp_path / "teacher.pt", classes=3)
    saved_lcnet(tmp_path / "imagenet.pt", classes=1000, seed=2)
    out = tmp_path / "run"
    result = run_cli(
        "train", "--data", str(image_folder), "--teacher", "timm:lcnet_050", "--teacher-weights",
        str(tmp_path / "teacher.pt"), "--student", "timm:lcnet_050", "--student-weights", str(tmp_path / "imagenet.pt"),
        "--epochs", "1", "--batch-size", "8", "--workers", "0", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert "teacher" not in metrics["wall_time_s"]  # loaded, not trained
    assert metrics["config"]["teacher_weights"] == str(tmp_path / "teacher.pt")


def test_teacher_weights_need_a_timm_teacher(image_folder, tmp_path):
    (tmp_path / "teacher.pt").write_bytes(b"")
    result = run_cli(
        "train", "--data", str(image_folder), "--teacher", str(tmp_path / "teacher.pt"), "--teacher-weights",
        str(tmp_path / "teacher.pt"), "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode != 0 and "set --teacher timm:NAME or --teacher torchvision:NAME with them" in result.stderr
    assert not (tmp_path / "run").exists()
