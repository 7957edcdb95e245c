"""What runs on a GPU, checked on a GPU: parity with the CPU, and where a distillation step's time goes.

    python benchmarks/accelerator_check.py --device cuda      # on a GPU box: parity + throughput at 224 px
    python benchmarks/accelerator_check.py --device cpu --quick   # the same code path on a CPU, small

Parity: one seeded student gives logits on the CPU (fp32) and on ``--device`` (fp32, then under its
autocast); the fp32 logits must agree within 1e-3 and the autocast ones on top-1. Then the same short
distillation (demo data, 32 px, same seed) is trained on both, and their field accuracy is printed
side by side (equal within seed noise is the expectation, bit-equality is not: GPU kernels sum in
another order). Throughput: images/s of each stage of a distillation step at ``--image-size``
(teacher ``--teacher``, student ``--student``), measured apart after a warm-up: augmentation in the
DataLoader workers, the host-to-device copy, the teacher's forward pass, the student's training step,
and whole steps of the real trainer. Prints a table and writes benchmarks/results/accelerator_check.json.
"""

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from edgedistill.accelerator import CPU, Accelerator, resolve
from edgedistill.augment import build_train_transform
from edgedistill.data import AugmentedViews, load_data, to_model_input
from edgedistill.evaluate import accuracy, predict_logits
from edgedistill.field import CAMERA_CORRUPTIONS, build_field_split
from edgedistill.fileio import write_json_atomic
from edgedistill.losses import DistillationLoss
from edgedistill.models import create_model, model_info
from edgedistill.provenance import provenance
from edgedistill.trainer import StageSettings, Teacher, fit, train_one_epoch

RESULTS = Path(__file__).parent / "results" / "accelerator_check.json"


def parity(where: Accelerator, images: np.ndarray) -> dict:
    """A seeded student's logits on the CPU against the device, in fp32 and under the device's autocast."""
    torch.manual_seed(0)
    model = create_model("regnetx_002", 10).eval()
    info = model_info(model, "regnetx_002", [str(i) for i in range(10)], images.shape[1])
    on_cpu = predict_logits(model, images, info.mean, info.std)
    on_device = predict_logits(model.to(where.device), images, info.mean, info.std)
    with torch.no_grad(), where.autocast():
        batch = torch.from_numpy(images).permute(0, 3, 1, 2).to(where.device)
        mixed = model(to_model_input(batch, info.mean, info.std)).float().cpu()
    return {
        "max_abs_logit_diff_fp32": float((on_cpu - on_device).abs().max()),
        "top1_agreement_autocast": float((on_cpu.argmax(1) == mixed.argmax(1)).float().mean()),
    }


def short_distillation(where: Accelerator, epochs: int, work: Path) -> float:
    """Field accuracy of a student distilled for ``epochs`` on the demo at 32 px, teacher trained alike."""
    data = load_data("demo", 32)
    field = build_field_split(data.test, CAMERA_CORRUPTIONS)
    views = AugmentedViews(data.train.images, data.train.labels, build_train_transform("phone", 32), seed=0)
    settings = StageSettings(epochs, 128, 3e-3, 0.05, 0, 2, accelerator=where, optimizer="adamw")
    torch.manual_seed(0)
    teacher = create_model("resnet18", len(data.classes))
    teacher_info = model_info(teacher, "resnet18", data.classes, 32)
    fit("teacher", teacher, teacher_info, views, settings, work / f"{where.device.type}-teacher.pt")
    torch.manual_seed(0)
    student = create_model("regnetx_002", len(data.classes))
    info = model_info(student, "regnetx_002", data.classes, 32)
    teacher = Teacher(teacher, teacher_info, DistillationLoss(4.0, 0.9))
    fit("student", student, info, views, settings, work / f"{where.device.type}-student.pt", teacher)
    return accuracy(predict_logits(student, field.images, info.mean, info.std), field.labels)


def timed(run, steps: int, batch: int, device: torch.device) -> float:
    """Images/s of ``run()`` over ``steps`` calls after two warm-up calls, the device synchronised."""
    for _ in range(2):
        run()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    started = time.perf_counter()
    for _ in range(steps):
        run()
    sync()
    return steps * batch / (time.perf_counter() - started)


def throughput(where: Accelerator, args, images: np.ndarray) -> dict:
    size, batch = args.image_size, args.batch_size
    views = AugmentedViews(images, np.zeros(len(images), np.int64), build_train_transform("phone", size), seed=0)
    pin = where.device.type == "cuda"
    pairs = [(index, 0) for index in range(len(views))]  # every image's first view, as epoch 0 of the trainer
    loader = DataLoader(views, batch, sampler=pairs, num_workers=args.workers, pin_memory=pin, drop_last=True)
    started = time.perf_counter()
    count = sum(len(b[0]) for b in loader)
    augment = count / (time.perf_counter() - started)
    host = next(iter(loader))[0]
    layout = torch.channels_last if where.channels_last else torch.contiguous_format
    teacher = create_model(args.teacher, 10).to(where.device, memory_format=layout).eval()
    student = create_model(args.student, 10).to(where.device, memory_format=layout)
    info = model_info(student, args.student, [str(i) for i in range(10)], size)
    teacher_info = model_info(teacher, args.teacher, info.classes, size)
    on_device = host.to(where.device)
    inputs = to_model_input(on_device, info.mean, info.std).contiguous(memory_format=layout)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    scaler = where.grad_scaler()
    labels = torch.zeros(batch, dtype=torch.int64, device=where.device)

    def teacher_forward():
        with torch.no_grad(), where.autocast():
            teacher(inputs)

    def student_step():
        with where.autocast():
            loss = torch.nn.functional.cross_entropy(student(inputs).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    stages = {
        "augmentation (workers)": augment,
        "host-to-device copy": timed(lambda: host.to(where.device, non_blocking=pin), args.steps, batch, where.device),
        f"teacher forward ({args.teacher})": timed(teacher_forward, args.steps, batch, where.device),
        f"student step ({args.student})": timed(student_step, args.steps, batch, where.device),
    }
    steps = DataLoader(views, batch, sampler=pairs, num_workers=args.workers, pin_memory=pin, drop_last=True)
    loss = DistillationLoss(4.0, 0.9)
    started = time.perf_counter()
    train_one_epoch(
        "bench", 0, 0, student, info, steps, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0),
        where.grad_scaler(), Teacher(teacher, teacher_info, loss), where, None,
    )  # fmt: skip
    stages["whole distillation step (trainer)"] = len(steps) * batch / (time.perf_counter() - started)
    return {name: round(value, 1) for name, value in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", default="auto")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--teacher", default="resnet50")
    parser.add_argument("--student", default="mobilenetv3_large_100")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the short distillation on each device")
    parser.add_argument("--quick", action="store_true", help="64 px, 4 steps, 1 epoch: a check of the code path")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.image_size, args.steps, args.epochs, args.batch_size = 64, 4, 1, 32
    started = time.perf_counter()
    where = resolve(args.device, args.amp)
    demo = load_data("demo", 32).train.images
    count = args.batch_size * (args.steps + 2)
    images = np.stack(
        [np.asarray(Image.fromarray(demo[i % len(demo)]).resize((args.image_size,) * 2)) for i in range(count)]
    )
    work = Path(tempfile.mkdtemp(prefix="accelerator-check-"))
    result = {
        "accelerator": where.describe(),
        "parity_with_cpu": parity(where, images[:64]),
        "field_acc_short_distillation": {"cpu": short_distillation(CPU, args.epochs, work)},
        "images_per_s": throughput(where, args, images),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    if where != CPU:
        key = f"{where.device}, amp {where.describe()['amp']}"
        result["field_acc_short_distillation"][key] = short_distillation(where, args.epochs, work)
    result["provenance"] = provenance(started, cuda=torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    table = Table("stage", "images/s", title=f"{where.describe()} at {args.image_size} px, batch {args.batch_size}")
    for stage, value in result["images_per_s"].items():
        table.add_row(stage, f"{value:,.0f}")
    Console().print(table)
    Console().print(json.dumps({k: result[k] for k in ("parity_with_cpu", "field_acc_short_distillation")}))
    write_json_atomic(args.out, result)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
