"""``edgedistill augment``: see a domain preset, check it against field images, fit one to them."""

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from edgedistill.config import TrainConfig
from edgedistill.terminal import console, fail, one_line_errors

augment_app = typer.Typer(help="See, check and fit domain presets against field images.", no_args_is_help=True)

Domain = Annotated[str, typer.Option(help="Preset name (see `edgedistill augment list`) or a preset YAML path.")]
Data = Annotated[str, typer.Option(help="Images to draw training views from: demo, cifar10 or an ImageFolder root.")]
Field = Annotated[Path, typer.Option(help="Folder of real field images (searched recursively).")]
ImageSize = Annotated[int, typer.Option(min=16, help="Model input size; statistics are measured at this size.")]
Samples = Annotated[int, typer.Option(min=16, help="Images drawn from the field folder and from --data.")]
Seed = Annotated[int, typer.Option()]


@augment_app.command("list")
def list_domains() -> None:
    """The presets that ship with the kit."""
    from edgedistill.augment.pipeline import list_presets, load_preset

    table = Table("domain", "transforms", "what it models")
    for name in list_presets():
        preset = load_preset(name)
        table.add_row(name, str(len(preset["transforms"])), preset.get("description", ""))
    console.print(table)


@augment_app.command()
def preview(
    out: Annotated[Path, typer.Option(help="PNG file to write.")],
    domain: Domain = "phone",
    data: Data = "demo",
    image_size: ImageSize = TrainConfig.image_size,
    images: Annotated[int, typer.Option(min=1, help="Rows: one original each.")] = 6,
    views: Annotated[int, typer.Option(min=1, help="Augmented views beside each original.")] = 6,
    cell: Annotated[int, typer.Option(min=16, help="Pixels per image in the grid.")] = 128,
    seed: Seed = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
) -> None:
    """Write a grid of originals beside their training views, each captioned with what fired."""
    _check_out(out, force, "preview.png")
    from edgedistill.augment.pipeline import load_preset
    from edgedistill.augment.preview import preview_grid, write_preview
    from edgedistill.data import load_data

    with one_line_errors():
        preset = load_preset(domain)
        bundle = load_data(data, image_size)
        picks = _spread_over_classes(bundle.train.labels, images, seed)
        titles = [bundle.classes[bundle.train.labels[i]] for i in picks]
        grid = preview_grid(preset["transforms"], preset["path"], bundle.train.images[picks], titles, views, cell, seed)
        write_preview(grid, out)
    console.print(f"wrote {out} ({grid.width}x{grid.height}): {len(picks)} images x {views} views of '{domain}'")


@augment_app.command()
def check(
    field: Field,
    domain: Domain = "phone",
    data: Data = "demo",
    image_size: ImageSize = TrainConfig.image_size,
    samples: Samples = 500,
    seed: Seed = 0,
) -> None:
    """Compare a preset's training views with field images, statistic by statistic."""
    from edgedistill.augment.pipeline import draw_views, load_preset
    from edgedistill.augment.stats import compare, image_statistics, mean_distance

    with one_line_errors():
        preset = load_preset(domain)
        field_images, source = _field_and_source(field, data, image_size, samples, seed)
        views = draw_views(preset["transforms"], source, seed, preset["path"])
    rows = compare(image_statistics(field_images), image_statistics(views))
    console.print(_comparison_table(rows, f"'{domain}' views of {data} vs {len(field_images)} images in {field}"))
    distance = mean_distance(rows)
    off = [row.name for row in rows if row.verdict.startswith("off")]
    if not off:
        console.print(f"verdict: '{domain}' matches the field (mean distance {distance:.2f})")
    else:
        console.print(
            f"verdict: '{domain}' is off on {', '.join(off)} (mean distance {distance:.2f}); "
            f"`edgedistill augment fit --field {field} --data {data} --out my-domain.yaml` derives a preset that fits"
        )


@augment_app.command()
def fit(
    field: Field,
    out: Annotated[Path, typer.Option(help="Preset YAML to write; train with --domain OUT.")],
    data: Data = "demo",
    image_size: ImageSize = TrainConfig.image_size,
    samples: Samples = 300,
    rounds: Annotated[int, typer.Option(min=1, help="Passes of the coordinate search over all transforms.")] = 2,
    compare_with: Annotated[str, typer.Option(help="Preset to report the fitted one against.")] = "phone",
    seed: Seed = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
) -> None:
    """Derive a preset whose views reproduce the field images' statistics."""
    from edgedistill.augment.fit import fit_preset, preset_entries, preset_yaml
    from edgedistill.augment.pipeline import draw_views, load_preset
    from edgedistill.augment.stats import compare, image_statistics, mean_distance
    from edgedistill.fileio import write_text_atomic

    _check_out(out, force, "my-domain.yaml")
    started = time.time()
    with one_line_errors():
        baseline = load_preset(compare_with)
        field_images, source = _field_and_source(field, data, image_size, samples, seed)
        field_stats = image_statistics(field_images)
        baseline_views = draw_views(baseline["transforms"], source, seed, baseline["path"])
        baseline_rows = compare(field_stats, image_statistics(baseline_views))
        settings, distance = fit_preset(field_images, source, rounds, seed, report=console.print)
        # scored on views the search never saw (another seed), so the figure is not the search's own optimum
        fitted_rows = compare(field_stats, image_statistics(draw_views(preset_entries(settings), source, seed + 1)))
    header = [
        f"fitted by `edgedistill augment fit` to {len(field_images)} images in {field} ({time.strftime('%Y-%m-%d')}),",
        f"views drawn from {data} at {image_size} px, seed {seed}, {rounds} rounds, {time.time() - started:.0f} s.",
        f"mean distance to the field (pooled standard deviations): '{compare_with}' {mean_distance(baseline_rows):.3f},"
        f" this preset {mean_distance(fitted_rows):.3f} on fresh views ({distance:.3f} on the views it was fitted on).",
    ]
    write_text_atomic(out, preset_yaml(settings, header, f"fitted to {field.name}"))
    console.print(_comparison_table(fitted_rows, f"fitted views of {data} vs {len(field_images)} images in {field}"))
    console.print(
        f"mean distance: '{compare_with}' {mean_distance(baseline_rows):.3f}"
        f" -> fitted {mean_distance(fitted_rows):.3f} (fresh views)\n"
        f"wrote {out}; train on it with: edgedistill train --domain {out}"
    )


def _check_out(out: Path, force: bool, example: str) -> None:
    """Refuse an --out that cannot become the file, before any work: --force replaces files, never folders."""
    if out.is_dir() or (out.parent.exists() and not out.parent.is_dir()):
        problem = "is a folder" if out.is_dir() else "lies inside a file"
        fail(f"--out {out} {problem}; it must be a file path in a folder, like {example}")
    if out.exists() and not force:
        fail(f"{out} exists; choose another --out or pass --force to replace it")


def _field_and_source(
    field: Path, data: str, image_size: int, samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    from edgedistill.data import load_data, load_unlabeled_folder

    field_images = load_unlabeled_folder(field, image_size, samples, seed)[:]
    train = load_data(data, image_size).train.images
    picks = np.random.default_rng(seed).choice(len(train), size=min(samples, len(train)), replace=False)
    return field_images, train[np.sort(picks)]


def _spread_over_classes(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """``count`` image indices, one class after another, so a preview shows every kind of image."""
    rng = np.random.default_rng(seed)
    classes = rng.permutation(np.unique(labels))
    return np.array([rng.choice(np.flatnonzero(labels == classes[i % len(classes)])) for i in range(count)])


def _comparison_table(rows: list, title: str) -> Table:
    from edgedistill.augment.stats import STATISTICS

    legend = "; ".join(f"{name}: {meaning}" for name, meaning in STATISTICS.items())
    table = Table(title=title, caption=f"distance: Wasserstein-1 in pooled standard deviations. {legend}")
    for column in ("statistic", "field median [IQR]", "views median [IQR]", "distance", "verdict"):
        table.add_column(column, justify="right" if column == "distance" else "left")
    for row in rows:
        table.add_row(
            row.name,
            f"{row.field_median:.3g} [{row.field_iqr[0]:.3g}, {row.field_iqr[1]:.3g}]",
            f"{row.views_median:.3g} [{row.views_iqr[0]:.3g}, {row.views_iqr[1]:.3g}]",
            f"{row.distance:.2f}",
            row.verdict,
        )
    return table
