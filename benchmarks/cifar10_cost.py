"""What the CIFAR-10 field benchmark (`cifar10_field.py`) will cost on this machine, before it runs: each model's
training and inference rate at 32 px, the rate at which views are rendered and field images corrupted, all
measured here, multiplied by the image passes of the benchmark's protocol. It answers "can this box run it, and
with which teacher" in a minute instead of hours.

    python benchmarks/cifar10_cost.py                                          # the benchmark's defaults
    python benchmarks/cifar10_cost.py --teacher timm:resnet18 --teacher-stem small --device cuda

Model rates are one training step as the run takes it (the teacher's AdamW, the students' SGD with their
gradient clipping) or one forward pass, on a batch of random 32 px images, a warm-up first, then the median;
views are the phone and clean presets', rendered one after another on one core; corruption is `imagecorruptions`
on demo images. Every `edgedistill train` run grades its teacher and its four students on the clean, field and
held-out splits, so a seed's later losses grade again the students alone they copied. The projection adds the
parts one after another, as on a machine whose cores are shared by the data workers and the model (a GPU box
overlaps them, so its real time is lower). Not counted: decoding the images, and the export, bench and grading
of the best student's artifacts at the end.
"""

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from textbook_kd import LEARNING_RATES

from edgedistill import demo_data
from edgedistill.accelerator import Accelerator, resolve
from edgedistill.augment import build_train_transform
from edgedistill.config import LOSS_NAMES, TrainConfig, default_lr
from edgedistill.data import AugmentedViews, ImageSet
from edgedistill.field import CAMERA_CORRUPTIONS, HELD_OUT_CORRUPTIONS, build_field_split
from edgedistill.fileio import write_json_atomic
from edgedistill.models import count_macs, create_model, parse_timm_spec
from edgedistill.provenance import provenance
from edgedistill.trainer import StageSettings, make_optimizer

IMAGE_SIZE = 32
CLASSES = 10
TEST_IMAGES = 10_000  # CIFAR-10's test split, which the benchmark grades on whole
GRADED_IMAGES = TEST_IMAGES * (1 + 9 + 3)  # clean, the nine field corruptions, the three held out
CORRUPTED_IMAGES = TEST_IMAGES * (9 + 3)
GRADED_PER_RUN = 4  # students in each run: alone and distilled, on clean and phone views
TUNING_SHARE = 0.9  # the textbook loop tunes its rate on all but a tenth of the images


def median_rate(step: Callable[[], None], batch: int, repeats: int) -> float:
    """Images a second of ``step`` on a batch of ``batch``: two warm-up calls, then the median of ``repeats``."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def model_rates(
    spec: str, stem: str, optimizer_name: str, clip_grad: float, accelerator: Accelerator, batch: int, repeats: int
) -> dict:
    """Training and inference images a second of one architecture at 32 px, trained as the run trains it (its
    optimiser, clipping, precision and memory layout on this device), and its MACs."""
    device = accelerator.device
    layout = torch.channels_last if accelerator.channels_last else torch.contiguous_format
    model = create_model(parse_timm_spec(spec), CLASSES, stem=stem)
    macs = count_macs(model, IMAGE_SIZE)
    model = model.to(device, memory_format=layout)
    lr = default_lr(optimizer_name, batch)
    optimizer = make_optimizer(model, StageSettings(1, batch, lr, 0.0, 0, 0, optimizer=optimizer_name))
    images = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, device=device).contiguous(memory_format=layout)
    labels = torch.randint(0, CLASSES, (batch,), device=device)

    def train_step():
        with accelerator.autocast():
            logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimizer.step()
        synchronize(device)

    @torch.no_grad()
    def predict_step():
        with accelerator.autocast():
            model(images)
        synchronize(device)

    model.train()
    train = median_rate(train_step, batch, repeats)
    model.eval()
    return {
        "arch": spec,
        "stem": stem,
        "macs": macs,
        "train_img_s": train,
        "eval_img_s": median_rate(predict_step, batch, repeats),
    }


def synchronize(device: torch.device) -> None:
    """Wait for a GPU's queued work, so that a timed step is the step and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def render_rate(images: np.ndarray, domain: str) -> float:
    """Views of ``domain`` rendered a second on one core, as a data worker renders them (the textbook loop's
    crop-and-flip views cost about what the clean preset's do)."""
    views = AugmentedViews(images, np.zeros(len(images), np.int64), build_train_transform(domain, IMAGE_SIZE), 0)
    start = time.perf_counter()
    for index in range(len(images)):
        views.render(index, 1)
    return len(images) / (time.perf_counter() - start)


def corruption_rate(images: np.ndarray) -> float:
    """Field and held-out images corrupted a second, over every corruption the benchmark grades on."""
    corruptions = CAMERA_CORRUPTIONS + HELD_OUT_CORRUPTIONS
    users = os.environ.get("EDGEDISTILL_CACHE")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EDGEDISTILL_CACHE"] = cache  # the split is written to the cache folder; keep the user's clean
        try:
            start = time.perf_counter()
            build_field_split(ImageSet(images, np.zeros(len(images), np.int64)), corruptions, workers=0)
            return len(images) * len(corruptions) / (time.perf_counter() - start)
        finally:
            if users is None:
                del os.environ["EDGEDISTILL_CACHE"]
            else:
                os.environ["EDGEDISTILL_CACHE"] = users


def protocol_passes(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    """The benchmark's parts and the image passes each makes, by kind of pass."""
    train = args.train_per_class * CLASSES
    seeds, losses, epochs = len(args.seeds), len(args.losses), args.epochs
    runs = seeds * losses  # one `edgedistill train` run per (seed, loss)
    students = seeds * (2 + 2 * losses)  # alone on clean and phone views once per seed, then distilled on both
    per_domain = seeds * (1 + losses) * epochs * train  # views each domain's students render
    parts = [
        ("field and held-out splits (once)", {"corrupt": CORRUPTED_IMAGES}),
        (
            "teacher: training (once)",
            {"teacher_train": args.teacher_epochs * train, "phone_view": args.teacher_epochs * train},
        ),
        (
            f"teacher cache: {seeds} seeds x phone and clean views",
            {
                "teacher_eval": seeds * 2 * epochs * train,
                "phone_view": seeds * epochs * train,
                "clean_view": seeds * epochs * train,
            },
        ),
        (
            f"students: {students} trained (cache replayed)",
            {"student_train": students * epochs * train, "phone_view": per_domain, "clean_view": per_domain},
        ),
        (
            f"grading: {runs} runs x (teacher + {GRADED_PER_RUN} students)",
            {"teacher_eval": runs * GRADED_IMAGES, "student_eval": runs * GRADED_PER_RUN * GRADED_IMAGES},
        ),
    ]
    if args.textbook and "kd" in args.losses:  # it runs beside the kd runs
        tuning = len(LEARNING_RATES) * max(1, epochs // 4) * int(TUNING_SHARE * train)
        live = seeds * epochs * train + tuning  # the teacher answers every view as the student sees it
        parts.append(
            (
                f"textbook KD loop: {seeds} seeds + {len(LEARNING_RATES)} learning rates",
                {
                    "teacher_eval": live,
                    "student_train": live,
                    "clean_view": live,
                    "student_eval": seeds * GRADED_IMAGES,
                },
            )
        )
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default="timm:resnet34")
    parser.add_argument("--student", default="timm:regnetx_002")
    parser.add_argument("--stem", default="standard", help="students' stem: standard or small (stride 1)")
    parser.add_argument("--teacher-stem", default=None, help="the teacher's; default: --stem")
    parser.add_argument("--losses", nargs="+", choices=LOSS_NAMES, default=list(LOSS_NAMES))
    parser.add_argument("--train-per-class", type=int, default=2500)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--teacher-epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-textbook", dest="textbook", action="store_false")
    parser.add_argument("--device", default="auto", help="as edgedistill train's --device")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7, help="timed batches per rate, after two warm-up ones")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/cifar10_cost.json"))
    args = parser.parse_args()
    started = time.perf_counter()
    accelerator = resolve(args.device)
    device = accelerator.device

    sample = demo_data.generate_split(per_class=20, image_size=IMAGE_SIZE, seed=0).images
    defaults = TrainConfig(out="unused")  # the run's recipes (the teacher's AdamW, the students' clipped SGD)
    models = {
        "teacher": model_rates(
            args.teacher, args.teacher_stem or args.stem, defaults.teacher_optimizer, 0.0, accelerator,
            args.batch_size, args.repeats,
        ),
        "student": model_rates(
            args.student, args.stem, defaults.optimizer, defaults.clip_grad, accelerator, args.batch_size, args.repeats
        ),
    }  # fmt: skip
    rates = {
        "teacher_train": models["teacher"]["train_img_s"],
        "teacher_eval": models["teacher"]["eval_img_s"],
        "student_train": models["student"]["train_img_s"],
        "student_eval": models["student"]["eval_img_s"],
        "phone_view": render_rate(sample, "phone"),
        "clean_view": render_rate(sample, "clean"),
        "corrupt": corruption_rate(sample[:40]),
    }
    parts = []
    for name, passes in protocol_passes(args):
        seconds = sum(count / rates[kind] for kind, count in passes.items())
        parts.append({"part": name, "passes": passes, "seconds": seconds})
    total = sum(part["seconds"] for part in parts)

    console = Console()
    table = Table(title=f"CIFAR-10 field benchmark on {device.type}: projected from measured rates")
    for column in ("part", "image passes", "minutes"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for part in parts:
        table.add_row(part["part"], f"{sum(part['passes'].values()):,.0f}", f"{part['seconds'] / 60:.1f}")
    table.add_row("total", "", f"{total / 60:.1f} ({total / 3600:.2f} h)")
    console.print(table)
    for role, measured in models.items():
        console.print(
            f"{role} {measured['arch']} ({measured['stem']} stem, {measured['macs'] / 1e6:.1f} M MACs): "
            f"training {measured['train_img_s']:.0f} img/s, inference {measured['eval_img_s']:.0f} img/s"
        )
    console.print(
        f"views on one core: phone {rates['phone_view']:.0f} img/s, clean {rates['clean_view']:.0f} img/s; "
        f"corruption {rates['corrupt']:.0f} img/s"
    )

    result = {
        **provenance(started),
        "device": str(device),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "models": models,
        "rates_img_s": rates,
        "parts": parts,
        "projected_total_s": total,
    }
    write_json_atomic(args.out, result)
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
