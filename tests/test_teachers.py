"""Teachers trained elsewhere: TorchScript, torch.export, ONNX and Hugging Face folders give the original model's
logits, bring or are given their preprocessing, and distil from the command line."""

import json
import shutil

import pytest
import timm
import torch
import torchvision
from conftest import run_cli
from torch import nn

from edgedistill.config import TrainConfig
from edgedistill.data import load_data
from edgedistill.errors import UserError
from edgedistill.models import count_macs, count_params
from edgedistill.run import load_given_teacher
from edgedistill.teacher_cache import weights_digest

CLASSES = ["blue", "green", "red"]  # the image_folder fixture's, in name order


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, len(CLASSES))

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


def save_hugging_face(folder) -> nn.Module:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    config = ViTConfig(
        image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, num_labels=3, id2label=dict(enumerate(CLASSES)),
        label2id={c: i for i, c in enumerate(CLASSES)},
    )  # fmt: skip
    torch.manual_seed(0)
    original = ViTForImageClassification(config).eval()
    original.save_pretrained(folder)
    ViTImageProcessor(image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.2, 0.2]).save_pretrained(folder)
    return original


def save_exported_program(path) -> nn.Module:
    torch.manual_seed(0)
    original = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3)).eval()
    example = torch.rand(2, 3, 32, 32)
    original(example)
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(original, (example,), dynamic_shapes=({0: batch},)), path)
    return original


def save_torchvision(path) -> nn.Module:
    torch.manual_seed(0)
    original = torchvision.models.mobilenet_v3_small(num_classes=3).eval()
    torch.save(original.state_dict(), path)
    return original


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
    original = save_hugging_face(tmp_path / "vit")
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
    original = save_exported_program(tmp_path / "t.pt2")
    model, info = loaded(image_folder, tmp_path, tmp_path / "t.pt2")
    model.eval()  # torch refuses eval() on an exported graph; the teacher's wrapper must not pass it on
    images = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), original(images), rtol=0, atol=0)
    assert info.arch == "t" and info.mean == (0.485, 0.456, 0.406)


def test_plain_weights_given_as_a_teacher_file_say_what_to_pass(image_folder, tmp_path):
    torch.save(Tiny().state_dict(), tmp_path / "weights.pt")
    refused = "is not a TorchScript model .* teacher='timm:NAME' with teacher_weights='FILE'"
    with pytest.raises(UserError, match=refused):
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


def export_onnx(model: nn.Module, path, size: int = 32) -> None:
    batch = torch.export.Dim("batch")
    torch.onnx.export(model, (torch.rand(2, 3, size, size),), path, dynamic_shapes=({0: batch},), verbose=False)


def test_an_onnx_teacher_gives_the_original_logits_and_counts_its_size(image_folder, tmp_path):
    torch.manual_seed(0)
    original = Tiny().eval()
    export_onnx(original, tmp_path / "tiny.onnx")
    model, info = loaded(image_folder, tmp_path, tmp_path / "tiny.onnx", teacher_std=[0.5] * 3)
    images = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), original(images), rtol=0, atol=1e-4)
    assert info.arch == "tiny" and info.std == (0.5,) * 3 and info.mean == (0.485, 0.456, 0.406)
    assert count_params(model) == count_params(original)
    assert count_macs(model, 32) == count_macs(original, 32) > 0


def test_an_onnx_teacher_of_a_real_network_counts_the_macs_torch_counts(image_folder, tmp_path):
    original = timm.create_model("resnet18", num_classes=3).eval()
    export_onnx(original, tmp_path / "resnet.onnx")
    model, _ = loaded(image_folder, tmp_path, tmp_path / "resnet.onnx")
    assert count_macs(model, 32) == count_macs(original, 32)
    images = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), original(images), rtol=0, atol=1e-4)


def test_an_onnx_teacher_runs_where_the_run_put_it_not_wherever_a_gpu_is(image_folder, tmp_path, monkeypatch):
    """onnxruntime-gpu offers its CUDA provider whatever --device says: a run told to use the CPU must not take it."""
    import onnxruntime

    requested, real = [], onnxruntime.InferenceSession

    def recording(path, providers):
        requested.append([p if isinstance(p, str) else p[0] for p in providers])
        return real(path, providers=["CPUExecutionProvider"])  # this machine has no GPU to run the CUDA one

    monkeypatch.setattr(
        onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(onnxruntime, "InferenceSession", recording)
    export_onnx(Tiny().eval(), tmp_path / "tiny.onnx")
    model, _ = loaded(image_folder, tmp_path, tmp_path / "tiny.onnx")
    model(torch.rand(2, 3, 32, 32))
    assert requested == [["CPUExecutionProvider"]]  # one session, on the CPU, where the module is
    model._session(torch.device("cuda", 1))  # as after model.to("cuda:1")
    assert requested[-1] == ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_an_onnx_teacher_for_another_size_or_a_fixed_batch_is_refused_with_the_fix(image_folder, tmp_path):
    torch.onnx.export(Tiny().eval(), (torch.rand(1, 3, 32, 32),), tmp_path / "fixed.onnx", verbose=False)
    with pytest.raises(UserError, match="batches of exactly 1; export it with a dynamic batch dimension"):
        loaded(image_folder, tmp_path, tmp_path / "fixed.onnx")
    export_onnx(Tiny().eval(), tmp_path / "big.onnx", size=48)
    with pytest.raises(UserError, match="takes 48x48 images but the run's image size is 32; set image_size=48"):
        loaded(image_folder, tmp_path, tmp_path / "big.onnx")


def test_distillation_from_an_onnx_teacher_caches_its_answers_under_the_file_digest(image_folder, tmp_path):
    export_onnx(Tiny().eval(), tmp_path / "teacher.onnx")
    out = tmp_path / "run"
    result = run_cli(
        "train", "--data", str(image_folder), "--teacher", str(tmp_path / "teacher.onnx"), "--epochs", "1",
        "--batch-size", "8", "--workers", "0", "--cache-teacher", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["teacher"]["arch"] == "teacher" and metrics["teacher"]["macs"] > 0
    metas = (out / "teacher-cache").rglob("meta.json")
    cached = {json.loads(meta.read_text())["fingerprint"]["teacher_sha256"] for meta in metas}
    model, _ = loaded(image_folder, tmp_path, tmp_path / "teacher.onnx")
    assert cached == {weights_digest(model)}
    # torch.onnx.export keeps the weights beside the graph, in teacher.onnx.data: the same graph file with other
    # weights there is another teacher, and must not reuse this one's cache
    (tmp_path / "other").mkdir()
    export_onnx(Tiny().eval(), tmp_path / "other" / "teacher.onnx")
    (tmp_path / "retrained").mkdir()
    shutil.copy(tmp_path / "teacher.onnx", tmp_path / "retrained" / "teacher.onnx")
    shutil.copy(tmp_path / "other" / "teacher.onnx.data", tmp_path / "retrained" / "teacher.onnx.data")
    assert (tmp_path / "teacher.onnx.data").read_bytes() != (tmp_path / "retrained" / "teacher.onnx.data").read_bytes()
    retrained, _ = loaded(image_folder, tmp_path, tmp_path / "retrained" / "teacher.onnx")
    assert weights_digest(retrained) != weights_digest(model)


def test_a_torchvision_teacher_with_its_weights_gives_the_original_logits(image_folder, tmp_path):
    original = save_torchvision(tmp_path / "mine.pt")
    model, info = loaded(
        image_folder, tmp_path, "torchvision:mobilenet_v3_small", teacher_weights=str(tmp_path / "mine.pt")
    )
    images = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(images), original(images), rtol=0, atol=0)
    assert info.arch == "torchvision:mobilenet_v3_small" and info.classes == CLASSES


def test_a_torchvision_teacher_is_refused_without_weights_or_with_a_wrong_name(image_folder, tmp_path):
    from edgedistill.run import check_inputs

    cfg = TrainConfig(out=str(tmp_path / "run"), data=str(image_folder), teacher="torchvision:resnet18")
    with pytest.raises(UserError, match="a torchvision teacher is loaded, not trained: .* teacher_weights='FILE'"):
        check_inputs(cfg)
    cfg.teacher = "torchvision:resnet_18"
    with pytest.raises(UserError, match="'torchvision:resnet_18' is not a torchvision classification model"):
        check_inputs(cfg)


@pytest.mark.parametrize("kind", ["hugging-face", "exported-program", "torchvision"])
def test_distillation_from_each_teacher_format(image_folder, tmp_path, kind):
    """A smoke run from the command line for each format (TorchScript's and ONNX's are above)."""
    if kind == "hugging-face":
        save_hugging_face(tmp_path / "vit")
        teacher = ["--teacher", str(tmp_path / "vit")]
    elif kind == "exported-program":
        save_exported_program(tmp_path / "t.pt2")
        teacher = ["--teacher", str(tmp_path / "t.pt2")]
    else:
        save_torchvision(tmp_path / "mine.pt")
        teacher = ["--teacher", "torchvision:mobilenet_v3_small", "--teacher-weights", str(tmp_path / "mine.pt")]
    out = tmp_path / "run"
    result = run_cli(
        "train", "--data", str(image_folder), *teacher, "--epochs", "1", "--batch-size", "8", "--workers", "0",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["teacher"]["macs"] > 0 and 0 <= metrics["student_kd"]["field_acc"] <= 1
