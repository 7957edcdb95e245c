"""Teachers trained elsewhere: TorchScript and Hugging Face folders give the original model's logits, bring or
are given their preprocessing, and distil from the command line."""

import json

import pytest
import torch
from conftest import run_cli
from torch import nn

from edgedistill.config import TrainConfig
from edgedistill.data import load_data
from edgedistill.errors import UserError
from edgedistill.run import load_given_teacher

CLASSES = ["blue", "green", "red"]  # the image_folder fixture's, in name order


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, len(CLASSES))

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


def loaded(image_folder, tmp_path, teacher, **settings):
    cfg = TrainConfig(out=str(tmp_path / "run"), data=str(image_folder), teacher=str(teacher), **settings)
    return load_given_teacher(cfg, load_data(str(image_folder), 32), torch.device("cpu"))


def test_a_torchscript_teacher_gives_the_original_logits(image_folder, tmp_path):
    torch.manual_seed(0)
    original = Tiny().eval()
    torch.jit.save(torch.jit.script(original), tmp_path / "teacher.pt")
    model, info = loaded(
        image_folder, tmp_path, tmp_path / "teacher.pt", teacher_mean=[0.5] * 3, teacher_std=[0.25] * 3
    )
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), original(images), rtol=0, atol=0)
    assert (info.mean, info.std, info.classes) == ((0.5,) * 3, (0.25,) * 3, CLASSES)


def test_a_hugging_face_folder_gives_the_original_logits_and_brings_its_preprocessing(image_folder, tmp_path):
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=3, id2label=dict(enumerate(CLASSES)),
        label2id={c: i for i, c in enumerate(CLASSES)},
    )  # fmt: skip
    torch.manual_seed(0)
    original = ViTForImageClassification(config).eval()
    original.save_pretrained(tmp_path / "vit")
    ViTImageProcessor(image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.2, 0.2]).save_pretrained(tmp_path / "vit")
    model, info = loaded(image_folder, tmp_path, tmp_path / "vit")
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), original(pixel_values=images).logits, rtol=0, atol=0)
    assert info.mean == (0.5, 0.4, 0.3) and info.std == (0.2, 0.2, 0.2) and info.arch == "ViTForImageClassification"

    labels = json.loads((tmp_path / "vit" / "config.json").read_text())
    labels["id2label"] = {"0": "red", "1": "green", "2": "blue"}  # the same names in another order
    (tmp_path / "vit" / "config.json").write_text(json.dumps(labels))
    with pytest.raises(UserError, match="the labels must be the class folder names, in the same order"):
        loaded(image_folder, tmp_path, tmp_path / "vit")


def test_an_exported_program_teacher_gives_the_original_logits_at_every_batch_size(image_folder, tmp_path):
    torch.manual_seed(0)
    original = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3)).eval()
    example = torch.rand(2, 3, 32, 32)
    original(example)
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(original, (example,), dynamic_shapes=({0: batch},)), tmp_path / "t.pt2")
    model, info = loaded(image_folder, tmp_path, tmp_path / "t.pt2")
    model.eval()  # torch refuses eval() on an exported graph; the teacher's wrapper must not pass it on
    images = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), original(images), rtol=0, atol=0)
    assert info.arch == "t" and info.mean == (0.485, 0.456, 0.406)


def test_plain_weights_given_as_a_teacher_file_say_what_to_pass(image_folder, tmp_path):
    torch.save(Tiny().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(UserError, match="is not a TorchScript model .* --teacher timm:NAME --teacher-weights FILE"):
        loaded(image_folder, tmp_path, tmp_path / "weights.pt")


def test_distillation_from_a_torchscript_teacher(image_folder, tmp_path):
    torch.jit.save(torch.jit.script(Tiny().eval()), tmp_path / "teacher.pt")
    out = tmp_path / "run"
    result = run_cli(
        "train", "--data", str(image_folder), "--teacher", str(tmp_path / "teacher.pt"), "--teacher-mean", "0.5",
        "0.5", "0.5", "--epochs", "1", "--batch-size", "8", "--workers", "0", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["teacher_mean"] == [0.5, 0.5, 0.5] and metrics["teacher"]["arch"] == "Tiny"
