"""The Python API: the README's example runs as written, and a teacher from Python code is checked first."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import edgedistill
from edgedistill.errors import UserError

README = Path(__file__).parent.parent / "README.md"


def test_the_readme_python_example_runs_as_written(tmp_path):
    section = README.read_text().split("## Python API", 1)[1]
    example = re.search(r"```python\n(.*?)```", section, re.S)[1]
    (tmp_path / "example.py").write_text(example)  # a script, as a user runs it: worker processes import it again
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "runs" / "from-python"
    assert (run_dir / "metrics.json").is_file() and (run_dir / "student_kd.safetensors").is_file()
    assert (run_dir / "export" / "android-fp32" / "manifest.json").is_file()  # passed its verification
    assert str(run_dir.relative_to(tmp_path)) in done.stdout
    timed = sorted(path.name for path in (run_dir / "export" / "android-fp32" / "bench").glob("*.json"))
    assert timed == ["host-executorch-model.pte.json", "host-pytorch-eager.json", "host-tflite-model.tflite.json"]
    assert re.search(r"executorch-model.pte [0-9.]+ ms", done.stdout)


class Tiny(nn.Module):
    def __init__(self, classes: int):
        super().__init__()
        self.conv, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Linear(8, classes)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


def arrays(count: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 40, 40, 3), dtype=np.uint8), np.arange(count) % 2


def test_a_teacher_module_is_used_as_given_and_the_run_reuses_the_converted_data(tmp_path):
    teacher = Tiny(2).eval()
    images = edgedistill.Images(arrays(32, 0), arrays(8, 1), ["a", "b"])
    settings = dict(epochs=1, batch_size=8, workers=0, image_size=32)
    first = edgedistill.distill(teacher, images, "timm:lcnet_050", out=tmp_path / "one", **settings)
    again = edgedistill.distill(teacher, images, "timm:lcnet_050", out=tmp_path / "two", **settings)
    assert first.metrics["config"]["data"] == again.metrics["config"]["data"]  # converted once, by content
    assert first.metrics["config"]["teacher"] == "python:Tiny" and first.metrics["teacher"]["arch"] == "Tiny"
    assert first.metrics["teacher"]["params"] == sum(p.numel() for p in teacher.parameters())
    assert first.info.classes == ["a", "b"] and not first.student.training
    resumed = subprocess.run(
        [sys.executable, "-m", "edgedistill", "train", "--resume", "--out", str(tmp_path / "one")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert resumed.returncode == 1 and "continue the run from Python" in resumed.stderr


@pytest.mark.parametrize("teacher,problem", [
    (Tiny(5), r"answers a batch of 2 images with \(2, 5\), not \(2, 2\) logits"),
    (nn.Linear(3, 2), r"cannot run on 32x32 images \(RuntimeError"),
])  # fmt: skip
def test_a_teacher_that_cannot_serve_is_refused_before_training(tmp_path, teacher, problem):
    images = edgedistill.Images(arrays(16, 0), arrays(4, 1), ["a", "b"])
    with pytest.raises(UserError, match=problem):
        edgedistill.distill(teacher, images, out=tmp_path / "run", epochs=1, batch_size=8, workers=0)
    assert not (tmp_path / "run").exists()


def test_images_in_every_form_give_the_same_pixels(tmp_path):
    from PIL import Image

    from edgedistill.data import load_data
    from edgedistill.own_data import save_images

    pixels, labels = arrays(6, 3)
    tensors = [
        (torch.from_numpy(p).permute(2, 0, 1).float() / 255, int(y)) for p, y in zip(pixels, labels, strict=True)
    ]
    pil = [(Image.fromarray(p), int(y)) for p, y in zip(pixels, labels, strict=True)]
    folders = {
        save_images(edgedistill.Images(split, split, ["a", "b"]), 32) for split in ((pixels, labels), tensors, pil)
    }
    assert len(folders) == 1  # one content, one folder
    data = load_data(str(folders.pop()), 32)
    assert data.train.images.shape == (6, 32, 32, 3) and data.classes == ["a", "b"]
    with pytest.raises(UserError, match="labels outside 0..1"):
        save_images(edgedistill.Images((pixels, labels + 1), (pixels, labels), ["a", "b"]), 32)
    with pytest.raises(UserError, match="holds images of 32 px, not 48"):
        load_data(str(save_images(edgedistill.Images((pixels, labels), (pixels, labels), ["a", "b"]), 32)), 48)


def test_library_errors_name_the_parameter_the_caller_typed(tmp_path):
    images = edgedistill.Images(arrays(16, 0), arrays(4, 1), ["a", "b"])
    with pytest.raises(UserError, match=r"^epochs must be at least 1, got 0$"):  # not --epochs: that is the CLI's
        edgedistill.distill(Tiny(2), images, out=tmp_path / "run", epochs=0)
    with pytest.raises(UserError, match=r"distill\(\) has no setting \['epoch'\]"):
        edgedistill.distill(Tiny(2), images, out=tmp_path / "run", epoch=3)
    assert not (tmp_path / "run").exists()


class SmallNet(nn.Module):
    """A student from the user's own code: batch norm, so train and eval modes differ."""

    def __init__(self, classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Linear(8, classes)

    def forward(self, x):
        return self.head(self.body(x).mean((2, 3)))


def test_a_student_module_is_trained_exported_and_benched_without_the_users_code(tmp_path):
    torch.manual_seed(0)
    student, teacher = SmallNet(2), Tiny(2).eval()
    given = {k: v.clone() for k, v in student.state_dict().items()}
    images = edgedistill.Images(arrays(32, 0), arrays(8, 1), ["a", "b"])
    settings = dict(epochs=1, batch_size=8, workers=0, image_size=32)
    result = edgedistill.distill(teacher, images, student, out=tmp_path / "run", student_mean=(0.5,) * 3, **settings)
    assert all(torch.equal(v, given[k]) for k, v in student.state_dict().items())  # the caller's module is untouched
    assert isinstance(result.student, SmallNet) and result.info.arch == "python:SmallNet"
    assert result.info.mean == (0.5, 0.5, 0.5) and result.metrics["student_kd"]["arch"] == "python:SmallNet"
    start = edgedistill.models.load_checkpoint(tmp_path / "run" / "student_init.safetensors", student)[0]
    assert all(torch.equal(v, given[k]) for k, v in start.state_dict().items())  # every stage starts from these

    # without the user's code: the graph saved beside the weights, in export and in the bench's eager baseline
    rebuilt, info = edgedistill.models.load_checkpoint(tmp_path / "run" / "student_kd.safetensors")
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), result.student(x), atol=1e-6) and info == result.info
    bundle = edgedistill.export_bundle(tmp_path / "run", target="android", golden=16, calibration=8)["android"]
    assert bundle.name == "android-fp32", (bundle / "verification.md").read_text()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["source"]["arch"] == "python:SmallNet"
    timed = edgedistill.bench(bundle, iterations=3, warmup=1, min_seconds=0)
    eager = timed["pytorch-eager (student_kd.safetensors)"]["agreement"]
    assert eager["top1_agreement_student"] == 1.0 and eager["max_abs_logit_diff_student"] < 1e-5

    # a resumed stage starts from the weights the run started with, whatever the module holds by then
    for name in ("student_kd.safetensors", "student_kd.pt2", "checkpoints/student_kd.pt"):
        (tmp_path / "run" / name).unlink()
    with torch.no_grad():
        for parameter in student.parameters():
            parameter.add_(1.0)
    again = edgedistill.distill(
        teacher, images, student, out=tmp_path / "run", resume=True, student_mean=(0.5,) * 3, **settings
    )
    assert again.metrics["student_kd"]["field_acc"] == result.metrics["student_kd"]["field_acc"]
    resumed, first = again.student.state_dict(), result.student.state_dict()
    assert all(torch.equal(resumed[name], first[name]) for name in first)  # trained again, to the same weights
    with pytest.raises(UserError, match=r"started with student_mean=\[0.5, 0.5, 0.5\] .* not \[0.485, 0.456"):
        edgedistill.distill(teacher, images, student, out=tmp_path / "run", resume=True)  # ImageNet's, by default
    resumed = subprocess.run(
        [sys.executable, "-m", "edgedistill", "train", "--resume", "--out", str(tmp_path / "run")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert resumed.returncode == 1 and "continue the run from Python" in resumed.stderr


class Untraceable(SmallNet):
    def forward(self, x):
        if x.mean() > 0.5:  # control flow on the data: torch.export cannot follow it
            return super().forward(x)
        return super().forward(x) * 2


def test_a_student_module_the_phone_runtimes_cannot_take_is_refused_before_training(tmp_path):
    images = edgedistill.Images(arrays(16, 0), arrays(4, 1), ["a", "b"])
    with pytest.raises(UserError, match="cannot be captured by torch.export"):
        edgedistill.distill(Tiny(2), images, Untraceable(2), out=tmp_path / "run", epochs=1, workers=0)
    with pytest.raises(UserError, match=r"the student answers a batch of 2 images with \(2, 3\)"):
        edgedistill.distill(Tiny(2), images, SmallNet(3), out=tmp_path / "run", epochs=1, workers=0)
    assert not (tmp_path / "run").exists()
