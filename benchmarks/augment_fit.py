"""How close each preset's training views come to a field domain, before and after ``augment fit``.

    python benchmarks/augment_fit.py --data /path/to/cifar10     # ImageFolder root, e.g. ../shared/datasets/cifar10-jpg
    python benchmarks/augment_fit.py --data demo --quick

The field is the project's proxy for phone photos: images through the nine camera-like
corruptions of ``imagecorruptions`` (never the kit's own presets). The fit sees field images
made from *train* images; every distance in the table is measured against field images made
from *test* images, so a preset that only memorised its fitting set would not score well.
Distance: mean over the statistics of ``augment check`` of the Wasserstein-1 distance, in
pooled standard deviations (0 = the same distributions). Prints a table, writes JSON and the
fitted preset.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from edgedistill.augment.fit import fit_preset, preset_entries, preset_yaml
from edgedistill.augment.pipeline import draw_views, list_presets, load_preset
from edgedistill.augment.stats import STATISTICS, compare, image_statistics, mean_distance
from edgedistill.data import ImageSet, load_data
from edgedistill.field import build_field_split
from edgedistill.provenance import provenance


def field_images(images: ImageSet, count: int, seed: int) -> np.ndarray:
    split = build_field_split(images)
    picks = np.random.default_rng(seed).choice(len(split.images), size=min(count, len(split.images)), replace=False)
    return split.images[np.sort(picks)]


def subset(images: ImageSet, count: int, seed: int) -> ImageSet:
    picks = np.sort(
        np.random.default_rng(seed).choice(len(images.images), size=min(count, len(images.images)), replace=False)
    )
    return ImageSet(images.images[picks], images.labels[picks])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="demo", help="demo, cifar10 or an ImageFolder root")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--samples", type=int, default=600, help="field images and source images per set")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a small, fast run for smoke checks")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "augment_fit.json")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.rounds = 64, 1

    started = time.perf_counter()
    bundle = load_data(args.data, args.image_size)
    fit_field = field_images(subset(bundle.train, args.samples // 3, seed=1), args.samples, seed=1)
    test_field = field_images(subset(bundle.test, args.samples // 3, seed=2), args.samples, seed=2)
    source = subset(bundle.train, args.samples, seed=3).images
    test_stats = image_statistics(test_field)

    def score(entries: list, seed: int) -> list:
        return compare(test_stats, image_statistics(draw_views(entries, source, seed)))

    results = {name: score(load_preset(name)["transforms"], seed=4) for name in list_presets()}
    settings, fit_distance = fit_preset(fit_field, source, args.rounds, seed=5, report=print)
    results["fitted"] = score(preset_entries(settings), seed=4)

    table = Table(
        title=f"distance of training views to the field (test images of {args.data}, {len(test_field)} images)"
    )
    table.add_column("preset")
    table.add_column("mean", justify="right")
    for name in STATISTICS:
        table.add_column(name, justify="right")
    for name, rows in sorted(results.items(), key=lambda item: mean_distance(item[1])):
        table.add_row(name, f"{mean_distance(rows):.3f}", *(f"{row.distance:.2f}" for row in rows))
    Console(width=160).print(table)

    preset_path = args.out.with_suffix(".yaml")
    header = [f"fitted by benchmarks/augment_fit.py to imagecorruptions field images of {args.data} (train split)"]
    preset_path.parent.mkdir(parents=True, exist_ok=True)
    preset_path.write_text(preset_yaml(settings, header, f"fitted to the imagecorruptions field of {args.data}"))
    result = {
        **provenance(started),
        "samples": args.samples,
        "fit_distance_on_fitting_set": fit_distance,
        "fitted_preset": preset_entries(settings),
        "distances": {
            name: {"mean": mean_distance(rows), **{row.name: row.distance for row in rows}}
            for name, rows in results.items()
        },
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} and {preset_path}")


if __name__ == "__main__":
    main()
