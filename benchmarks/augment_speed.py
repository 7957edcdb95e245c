"""Augmentation throughput on one core: every preset, every transform of the phone preset, and
albumentations' own versions of the slow camera transforms, at 32, 96 and 224 px.

    python benchmarks/augment_speed.py            # prints a table, writes benchmarks/results/augment_speed.json
    python benchmarks/augment_speed.py --quick    # a few seconds, for CI-sized checks

Views are drawn the way training draws them (a fresh per-view seed for every image), so the
figures include the reseeding cost. Each figure is the median of several timed repeats after
a warm-up; the goal for ``phone`` is >= 2,000 images/s at 32 px and >= 300 at 224 px.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from edgedistill.augment.pipeline import build_pipeline, list_presets, load_preset, reseed, view_seed
from edgedistill.demo_data import generate_split
from edgedistill.provenance import provenance

GOALS = {32: 2000, 224: 300}  # images/s the phone preset must reach to keep a 2-core trainer fed
LIBRARY_EQUIVALENTS = {  # albumentations 2.0.8 transforms that the kit's camera transforms replace
    "SensorNoise": A.ShotNoise(scale_range=(0.02, 0.3), p=1.0),
    "DefocusBlur": A.Defocus(radius=(1, 3), alias_blur=(0.1, 0.3), p=1.0),
    "Oversharpen": A.UnsharpMask(p=1.0),
}


def images_per_second(transform: A.Compose, images: np.ndarray, seconds: float, repeats: int) -> float:
    """Median over ``repeats`` runs of at least ``seconds`` each, after one warm-up pass."""
    for index, image in enumerate(images):
        reseed(transform, view_seed(0, index, 0))
        transform(image=image)
    rates = []
    for repeat in range(repeats):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for index, image in enumerate(images):
                reseed(transform, view_seed(repeat, index, count))
                transform(image=image)
            count += 1
        rates.append(count * len(images) / (time.perf_counter() - start))
    return statistics.median(rates)


def always(entry: dict) -> dict:
    """A preset entry with p = 1, so a transform is timed every time it runs, not when it fires."""
    ((name, args),) = entry.items()
    return {name: {**(args or {}), "p": 1.0}}


def measure(sizes: list[int], seconds: float, repeats: int) -> list[dict]:
    rows = []
    for size in sizes:
        images = generate_split(per_class=4, image_size=size, seed=0).images
        for preset in list_presets():
            pipeline = build_pipeline(load_preset(preset)["transforms"], size, preset)
            rows.append(
                {
                    "kind": "preset",
                    "name": preset,
                    "size": size,
                    "images_per_s": images_per_second(pipeline, images, seconds, repeats),
                }
            )
        for position, entry in enumerate(load_preset("phone")["transforms"], start=1):
            name = next(iter(entry))
            pipeline = build_pipeline([always(entry)], size, "phone")
            row = {"kind": "phone, p=1", "name": f"{position}. {name}", "size": size}
            row["images_per_s"] = images_per_second(pipeline, images, seconds, repeats)
            if name in LIBRARY_EQUIVALENTS:
                library = A.Compose([LIBRARY_EQUIVALENTS[name]], strict=True)
                row["library"] = type(LIBRARY_EQUIVALENTS[name]).__name__
                row["library_images_per_s"] = images_per_second(library, images, seconds, repeats)
            rows.append(row)
    return rows


def print_table(rows: list[dict], sizes: list[int]) -> None:
    table = Table(title="augmentation throughput, images/s on one core (median)")
    table.add_column("kind")
    table.add_column("name")
    for size in sizes:
        table.add_column(f"{size} px", justify="right")
    table.add_column("albumentations' version at " + " / ".join(f"{s}" for s in sizes) + " px")
    keys = list(dict.fromkeys((row["kind"], row["name"]) for row in rows))
    for kind, name in keys:
        cells = {row["size"]: row for row in rows if (row["kind"], row["name"]) == (kind, name)}
        library = [cells[s].get("library_images_per_s") for s in sizes]
        reference = f"{cells[sizes[0]]['library']}: " + " / ".join(f"{v:,.0f}" for v in library) if library[0] else ""
        table.add_row(kind, name, *(f"{cells[s]['images_per_s']:,.0f}" for s in sizes), reference)
    Console(width=150).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 96, 224])
    parser.add_argument("--seconds", type=float, default=0.5, help="minimum length of one timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="short repeats, for a smoke check")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "augment_speed.json")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeats = 0.05, 1
    if hasattr(os, "sched_setaffinity"):  # one core: every thread of this process shares it
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)

    started = time.perf_counter()
    rows = measure(args.sizes, args.seconds, args.repeats)
    print_table(rows, args.sizes)
    phone = {row["size"]: row["images_per_s"] for row in rows if row["kind"] == "preset" and row["name"] == "phone"}
    for size, goal in GOALS.items():
        if size in phone:
            verdict = "meets" if phone[size] >= goal else "MISSES"
            print(f"phone at {size} px: {phone[size]:,.0f} images/s, {verdict} the goal of {goal:,}")
    result = {
        **provenance(started, cores_used=1),
        "versions": {"albumentations": A.__version__, "opencv": cv2.__version__, "numpy": np.__version__},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
