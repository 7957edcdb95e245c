"""What the CIFAR-10 field benchmark (`cifar10_field.py`) will cost on this machine, before it runs: each model's
training and inference rate at 32 px, the rate at which views are rendered and field images corrupted, all
measured here, multiplied by the image passes of the benchmark's protocol. It answers "can this box run it, and
with which teacher" in a minute instead of hours.

    python benchmarks/cifar10_cost.py                                          # the benchmark's defaults
    python benchmarks/cifar10_cost.py --teacher timm:resnet18 --teacher-stem small --device cuda

Model rates are one optimiser step (forward, backward, SGD) or one forward pass on a batch of random 32 px
images, a warm-up first, then the median; views are the phone preset's, rendered one after another on one
core; corruption is `imagecorruptions` on demo images. The projection adds the parts one after another, as on a
machine whose cores are shared by the data workers and the model (a GPU box overlaps them, so its real time
is lower). Not counted: the export and bench of the best student (minutes).
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from edgedistill.augment import build_train_transform
from edgedistill import demo_data
from edgedistill.accelerator import Accelerator, resolve
from edgedistill.config import LOSS_NAMES
from edgedistill.data import AugmentedViews, ImageSet
from edgedistill.fileio import write_json_atomic
from edgedistill.models import count_macs, create_model, parse_timm_spec
from edgedistill.provenance import provenance

IMAGE_SIZE = 32
CLASSES = 10
TEST_IMAGES = 10_000
GRADED_IMAGES = TEST_IMAGES * (1 + 9 + 3)  # clean, the nine field corruptions, the three held out
CORRUPTED_IMAGES = TEST_IMAGES * (9 + 3)
TEXTBOOK_RATES = 5  # the textbook loop's learning rates tried on the first seed, each for a quarter of the epochs


def median_rate(step, batch: int, repeats: int) -> float:
    """Images a second of ``step`` on a batch of ``batch``: two warm-up calls, then the median of ``repeats``."""
    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def model_rates(spec: str, stem: str, accelerator: Accelerator, batch: int, repeats: int) -> dict:
    """Training and inference images a second of one architecture at 32 px (in the precision the trainer uses on
    this device), and its MACs."""
    device = accelerator.device
    model = create_model(parse_timm_spec(spec), CLASSES, stem=stem)
    macs = count_macs(model, IMAGE_SIZE)
    model = model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    images = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)
    labels = torch.randint(0, CLASSES, (batch,), device=device)

    def train_step():
        with accelerator.autocast():
            logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
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
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def render_rate(images: np.ndarray, domain: str) -> float:
    """Views of ``domain`` rendered a second on one core, as a data worker renders them."""
    views = AugmentedViews(images, np.zeros(len(images), np.int64), build_train_transform(domain, IMAGE_SIZE), 0)
    start = time.perf_counter()
    for index in range(len(images)):
        views.render(index, 1)
    return len(images) / (time.perf_counter() - start)


def corruption_rate(images: np.ndarray) -> float:
    """Field and held-out images corrupted a second, over every corruption the benchmark grades on."""
    from edgedistill.field import CAMERA_CORRUPTIONS, HELD_OUT_CORRUPTIONS, build_field_split

    corruptions = CAMERA_CORRUPTIONS + HELD_OUT_CORRUPTIONS
    with tempfile.TemporaryDirectory() as cache:
        os.environ["EDGEDISTILL_CACHE"] = cache  # the split is written to the cache folder; keep the user's clean
        start = time.perf_counter()
        build_field_split(ImageSet(images, np.zeros(len(images), np.int64)), corruptions, workers=0)
        return len(images) * len(corruptions) / (time.perf_counter() - start)


def protocol_passes(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    """The benchmark's parts and the image passes each makes, by kind of pass."""
    train = args.train_per_class * CLASSES
    seeds, losses, epochs = len(args.seeds), len(args.losses), args.epochs
    students = seeds * (2 + 2 * losses)  # alone on clean and phone views, then distilled on both per loss
    parts = [
        ("field and held-out splits (once)", {"corrupt": CORRUPTED_IMAGES}),
        (
            "teacher: training",
            {"teacher_train": args.teacher_epochs * train, "phone_view": args.teacher_epochs * train},
        ),
        ("teacher: grading", {"teacher_eval": GRADED_IMAGES}),
        (
            f"teacher cache: {seeds} seeds x phone and clean views",
            {"teacher_eval": seeds * 2 * epochs * train, "phone_view": seeds * epochs * train},
        ),
        (
            f"students: {students} runs (cache replayed)",
            {"student_train": students * epochs * train, "phone_view": seeds * (1 + losses) * epochs * train},
        ),
        ("students: grading", {"student_eval": students * GRADED_IMAGES}),
    ]
    if args.textbook:
        tuning = TEXTBOOK_RATES * max(1, epochs // 4) * train
        live = seeds * epochs * train + tuning
        parts.append(
            (
                f"textbook KD loop: {seeds} seeds + {TEXTBOOK_RATES} learning rates",
                {"teacher_eval": live, "student_train": live, "student_eval": seeds * GRADED_IMAGES},
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
    models = {
        "teacher": model_rates(
            args.teacher, args.teacher_stem or args.stem, accelerator, args.batch_size, args.repeats
        ),
        "student": model_rates(args.student, args.stem, accelerator, args.batch_size, args.repeats),
    }
    rates = {
        "teacher_train": models["teacher"]["train_img_s"],
        "teacher_eval": models["teacher"]["eval_img_s"],
        "student_train": models["student"]["train_img_s"],
        "student_eval": models["student"]["eval_img_s"],
        "phone_view": render_rate(sample, "phone"),
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
    console.print(f"phone views {rates['phone_view']:.0f} img/s on one core; corruption {rates['corrupt']:.0f} img/s")

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
