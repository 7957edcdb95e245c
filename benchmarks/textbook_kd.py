"""The textbook KD loop beside the kit's distilled student: the same teacher file, student, images, epochs and
initial weights, graded on the same clean, field and held-out splits.

    edgedistill train --domain phone --out runs/demo                 # or any finished run of a timm student
    python benchmarks/textbook_kd.py --run runs/demo                 # about the time of one distilled stage x 2
    python benchmarks/textbook_kd.py --run runs/demo --quick         # one learning rate, one epoch

The loop is the one a user writes in an afternoon from Hinton et al. (2015) and the usual CIFAR recipes: random
crop with 4 px of zero padding and a horizontal flip, the teacher run on the same view, Hinton's loss at the run's
temperature and alpha, SGD with Nesterov momentum 0.9 and weight decay 5e-4 on a one-cycle schedule. Its peak
learning rate is tuned as such a user would: a short run (a quarter of the epochs) per candidate, trained without
a tenth of the labeled images and scored on them (clean), then the best one trained in full. It learns from the
run's distillation set (the labeled images, and as many unlabeled ones per epoch as the run's --unlabeled-ratio
draws, with the KL term only), so what differs from the kit's student is the views and the recipe.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from edgedistill.accelerator import resolve
from edgedistill.augment import build_train_transform
from edgedistill.config import PYTHON_MODULE, TrainConfig
from edgedistill.data import AugmentedViews, ImageSet, load_data, to_model_input
from edgedistill.evaluate import accuracy, predict_logits
from edgedistill.field import CAMERA_CORRUPTIONS, HELD_OUT_CORRUPTIONS, build_field_split
from edgedistill.fileio import write_json_atomic
from edgedistill.image_store import select
from edgedistill.losses import UNLABELED, make_loss
from edgedistill.models import create_model, load_checkpoint, model_info, parse_timm_spec
from edgedistill.provenance import provenance
from edgedistill.run import with_unlabeled
from edgedistill.stages import ALONE, DISTILLED, TEACHER
from edgedistill.trainer import epoch_order

LEARNING_RATES = (0.02, 0.05, 0.1, 0.2, 0.4)
SPLITS = ("clean_acc", "field_acc", "heldout_acc")


def crop_and_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(N, 3, S, S) uint8 -> a random S x S window of each image padded by 4 px, mirrored half the time."""
    count, _, size, _ = images.shape
    padded = F.pad(images, (4, 4, 4, 4))
    x, y = torch.randint(0, 9, (2, count), generator=generator).tolist()
    views = torch.stack([padded[i, :, y[i] : y[i] + size, x[i] : x[i] + size] for i in range(count)])
    mirrored = torch.rand(count, generator=generator) < 0.5
    views[mirrored] = views[mirrored].flip(-1)
    return views


def fit_textbook(
    student,
    info,
    teacher,
    teacher_info,
    train: ImageSet,
    cfg: TrainConfig,
    epochs: int,
    lr: float,
    domain_views=None,
    device: torch.device | str = "cpu",
) -> float:
    """Train ``student`` in place with the textbook loop; returns the seconds it took. ``cfg`` holds the
    temperature and alpha the run distilled with. ``domain_views`` (the kit's AugmentedViews of ``train``)
    replaces crop-and-flip, to tell the views' share of a difference from the recipe's. Both models move to
    ``device``; the views are made on the CPU, as a DataLoader's would be."""
    loss = make_loss("kd", cfg.temperature, cfg.alpha)
    steps = len(epoch_order(train.labels, cfg.seed, 0, cfg.unlabeled_ratio)) // cfg.batch_size
    optimizer = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps)
    generator = torch.Generator().manual_seed(cfg.seed)
    student.to(device)
    teacher.to(device).eval()
    started = time.perf_counter()
    for epoch in range(epochs):
        student.train()
        order = np.array(epoch_order(train.labels, cfg.seed, epoch, cfg.unlabeled_ratio))
        for step in range(steps):
            chosen = np.sort(order[step * cfg.batch_size : (step + 1) * cfg.batch_size])
            if domain_views is None:
                pixels = torch.from_numpy(np.ascontiguousarray(select(train.images, chosen)[:])).permute(0, 3, 1, 2)
                views = crop_and_flip(pixels, generator)
            else:
                views = torch.stack([domain_views.render(int(index), epoch) for index in chosen])
            views, labels = views.to(device), torch.from_numpy(train.labels[chosen]).to(device)
            with torch.no_grad():
                target = teacher(to_model_input(views, teacher_info.mean, teacher_info.std))
            logits = student(to_model_input(views, info.mean, info.std))
            value = loss(logits, target, labels)["loss"]
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            schedule.step()
    return time.perf_counter() - started


def fresh_student(cfg: TrainConfig, classes: list[str]):
    """The student the run's stages started from: same architecture, stem and seed."""
    arch = parse_timm_spec(cfg.student)
    torch.manual_seed(cfg.seed)
    model = create_model(arch, len(classes), stem=cfg.stem)
    return model, model_info(model, arch, classes, cfg.image_size, cfg.stem)


def tune_lr(
    cfg: TrainConfig, kd_set: ImageSet, teacher, teacher_info, classes: list[str], epochs: int, device: torch.device
) -> list[dict]:
    """One short run per candidate without a tenth of the labeled images, scored on them (clean views)."""
    labeled = np.flatnonzero(kd_set.labels != UNLABELED)
    held = np.random.default_rng([cfg.seed, 7]).permutation(labeled)[: max(1, len(labeled) // 10)]
    kept = np.setdiff1d(np.arange(len(kd_set.labels)), held)
    train = ImageSet(select(kd_set.images, kept), kd_set.labels[kept])
    validation = select(kd_set.images, held)[:]
    rows = []
    for lr in LEARNING_RATES:
        student, info = fresh_student(cfg, classes)
        fit_textbook(student, info, teacher, teacher_info, train, cfg, epochs, lr, device=device)
        logits = predict_logits(student, validation, info.mean, info.std)
        rows.append({"lr": lr, "val_clean_acc": accuracy(logits, kd_set.labels[held])})
        print(f"lr {lr}: validation {rows[-1]['val_clean_acc']:.1%}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished `edgedistill train` run")
    parser.add_argument("--quick", action="store_true", help="lr 0.1 untuned, one epoch: the whole path, fast")
    parser.add_argument("--lr", type=float, help="this peak learning rate instead of tuning one")
    parser.add_argument(
        "--domain-views", action="store_true", help="the run's domain views instead of crop-and-flip (an ablation)"
    )
    parser.add_argument("--device", default="auto", help="as edgedistill train's --device")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/textbook_kd_<run name>.json")
    args = parser.parse_args()
    started = time.perf_counter()
    cfg = TrainConfig.load(args.run)
    kit = json.loads((args.run / "metrics.json").read_text())
    if cfg.student.startswith(PYTHON_MODULE):
        parser.error("the run's student is a module from Python; this benchmark rebuilds timm students")
    cfg.temperature, cfg.alpha = kit["distillation"]["temperature"], kit["distillation"]["alpha"]  # "auto": chosen
    teacher_file = args.run / f"{TEACHER.name}.safetensors"
    teacher, teacher_info = load_checkpoint(teacher_file if teacher_file.is_file() else Path(cfg.teacher or ""))
    data = load_data(cfg.data, cfg.image_size)
    kd_set = with_unlabeled(data, cfg.unlabeled, cfg.unlabeled_ratio, cfg.image_size, cfg.seed)
    epochs = 1 if args.quick else cfg.epochs
    untuned = args.quick or args.lr is not None
    device = resolve(args.device).device
    tuning = [] if untuned else tune_lr(cfg, kd_set, teacher, teacher_info, data.classes, max(1, epochs // 4), device)
    lr = max(tuning, key=lambda row: row["val_clean_acc"])["lr"] if tuning else (args.lr or 0.1)
    student, info = fresh_student(cfg, data.classes)
    views = None
    if args.domain_views:
        views = AugmentedViews(
            kd_set.images, kd_set.labels, build_train_transform(cfg.domain, cfg.image_size), cfg.seed
        )
    seconds = fit_textbook(student, info, teacher, teacher_info, kd_set, cfg, epochs, lr, views, device)
    splits = {
        "clean_acc": data.test,
        "field_acc": build_field_split(data.test, CAMERA_CORRUPTIONS, cfg.field_grid),
        "heldout_acc": build_field_split(data.test, HELD_OUT_CORRUPTIONS, cfg.field_grid),
    }
    textbook = {
        name: accuracy(predict_logits(student, split.images, info.mean, info.std), split.labels)
        for name, split in splits.items()
    }
    rows = [
        {"model": "teacher", **{k: kit[TEACHER.name][k] for k in SPLITS}, "train_s": None},
        {"model": "kit: student alone", **{k: kit[ALONE.name][k] for k in SPLITS}, "train_s": None},
        {"model": f"textbook KD loop (lr {lr}{', domain views' if views else ''})", **textbook, "train_s": seconds},
        {
            "model": "kit: KD, domain views",
            **{k: kit[DISTILLED.name][k] for k in SPLITS},
            "train_s": kit["wall_time_s"].get(DISTILLED.name),
        },
    ]
    table = Table("model", "clean", "field", "held-out", "training s", title=f"textbook KD loop vs the kit: {args.run}")
    for row in rows:
        seconds_text = f"{row['train_s']:.0f}" if row["train_s"] is not None else "-"
        table.add_row(row["model"], *(f"{row[k]:.1%}" for k in SPLITS), seconds_text)
    Console().print(table)
    result = {
        **provenance(started),
        "run": str(args.run.resolve()),
        "settings": {
            "student": cfg.student,
            "stem": cfg.stem,
            "epochs": epochs,
            "batch_size": cfg.batch_size,
            "temperature": cfg.temperature,
            "alpha": cfg.alpha,
            "unlabeled_ratio": cfg.unlabeled_ratio,
            "seed": cfg.seed,
            "quick": args.quick,
            "views": cfg.domain if args.domain_views else "crop and flip",
        },
        "lr_tuning": tuning,
        "rows": rows,
    }
    out = args.out or Path(__file__).parent / "results" / f"textbook_kd_{args.run.name}.json"
    write_json_atomic(out, result)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
