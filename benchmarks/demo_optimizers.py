"""Which optimiser and peak learning rate each stage of the default demo run should use, judged on the demo's
val split (clean, and one phone view per image), never on its test, field or held-out splits.

    python benchmarks/demo_optimizers.py                          # the grid below, about 20 minutes on 2 cores
    python benchmarks/demo_optimizers.py --grade runs/a runs/b    # also grade finished runs' models on val

Each candidate trains the run's teacher (resnet18, 30 epochs) or student alone (regnetx_002, 20 epochs) on the
demo's labeled images under phone views, from seed 0, with the kit's trainer (one epoch of warm-up, cosine decay);
only the optimiser and its peak rate change. A distilled student needs a teacher and the unlabeled pool, so its
candidates are whole runs (``edgedistill train --optimizer ...``), graded with ``--grade``. Results are written
row by row; a stopped benchmark skips the rows it has.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from edgedistill.augment import build_train_transform
from edgedistill.config import OPTIMIZER_DEFAULTS, TrainConfig
from edgedistill.data import AugmentedViews, load_data
from edgedistill.evaluate import accuracy, predict_logits
from edgedistill.fileio import write_json_atomic
from edgedistill.image_store import select
from edgedistill.models import create_model, load_checkpoint, model_info
from edgedistill.provenance import provenance
from edgedistill.stages import TEACHER, plan
from edgedistill.trainer import StageSettings, fit

# (stage, arch, epochs, optimiser, peak lr)
GRID = [
    ("teacher", "resnet18", 30, "adamw", 3e-3),
    ("teacher", "resnet18", 30, "sgd", 0.05),
    ("teacher", "resnet18", 30, "sgd", 0.1),
    ("teacher", "resnet18", 30, "sgd", 0.2),
    ("student alone", "regnetx_002", 20, "adamw", 3e-3),
    ("student alone", "regnetx_002", 20, "sgd", 0.05),
    ("student alone", "regnetx_002", 20, "sgd", 0.1),
    ("student alone", "regnetx_002", 20, "sgd", 0.2),
]


def val_splits(data, seed: int) -> dict[str, np.ndarray]:
    """The val images as they are and under one phone view each (the view seeded per image)."""
    phone = AugmentedViews(data.val.images, data.val.labels, build_train_transform("phone", 32), seed)
    views = [phone.render(index, 0).permute(1, 2, 0).numpy() for index in range(len(data.val.labels))]
    return {"val clean": select(data.val.images, np.arange(len(data.val.labels))), "val phone": np.stack(views)}


def grade(model, info, splits: dict[str, np.ndarray], labels: np.ndarray) -> dict[str, float]:
    return {
        name: accuracy(predict_logits(model, images, info.mean, info.std), labels) for name, images in splits.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grade", nargs="*", default=[], help="finished runs whose models are graded on val too")
    parser.add_argument("--out", default="benchmarks/results/demo_optimizers.json")
    args = parser.parse_args()
    started = time.perf_counter()
    out = Path(args.out)
    result = json.loads(out.read_text()) if out.exists() else {"rows": []}
    earlier = result.pop("invocations", [])  # each invocation's command, machine and wall time, kept

    def save() -> None:
        write_json_atomic(out, {**result, "invocations": [*earlier, provenance(started)]})

    data = load_data("demo", 32)
    splits = val_splits(data, seed=0)
    phone = AugmentedViews(data.train.images, data.train.labels, build_train_transform("phone", 32), 0)
    done = {(row["stage"], row["optimizer"], row["lr"], row.get("run")) for row in result["rows"]}
    for stage, arch, epochs, optimizer, lr in GRID:
        if (stage, optimizer, lr, None) in done:
            continue
        torch.manual_seed(0)
        model = create_model(arch, len(data.classes))
        info = model_info(model, arch, data.classes, 32)
        settings = StageSettings(epochs, 128, lr, OPTIMIZER_DEFAULTS[optimizer][1], 0, 2, optimizer=optimizer)
        checkpoint = out.with_suffix(f".{arch}.{optimizer}.{lr}.pt")  # a stopped candidate resumes from it
        stage_start = time.perf_counter()
        fit(stage, model, info, phone, settings, checkpoint)
        checkpoint.unlink()
        seconds = round(time.perf_counter() - stage_start, 1)
        row = {"stage": stage, "arch": arch, "optimizer": optimizer, "lr": lr, "seconds": seconds}
        result["rows"].append({**row, **grade(model, info, splits, data.val.labels)})
        save()
    for run in args.grade:
        cfg = TrainConfig.load(Path(run))
        for stage in [TEACHER, *plan(cfg, unlabeled=True)]:
            path = Path(run) / f"{stage.name}.safetensors"
            if not path.exists():
                continue
            optimizer, lr = (cfg.teacher_optimizer, cfg.teacher_lr) if stage == TEACHER else (cfg.optimizer, cfg.lr)
            model, info = load_checkpoint(path)
            row = {"stage": stage.label, "arch": info.arch, "optimizer": optimizer, "lr": lr, "run": run}
            result["rows"] = [r for r in result["rows"] if (r["stage"], r.get("run")) != (row["stage"], run)]
            result["rows"].append({**row, **grade(model, info, splits, data.val.labels)})
        save()
    table = Table(title="demo, graded on val (clean / one phone view per image)")
    for column in ("stage", "optimizer", "peak lr", "val clean", "val phone", "run"):
        table.add_column(column)
    for row in result["rows"]:
        cells = (row["stage"], row["optimizer"], f"{row['lr']:g}", f"{row['val clean']:.1%}", f"{row['val phone']:.1%}")
        table.add_row(*cells, row.get("run", ""))
    Console().print(table)


if __name__ == "__main__":
    main()
