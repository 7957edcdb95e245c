"""Fit a preset to field images: the transform ranges whose views look, statistic by statistic,
like the field.

Each degradation the fit can use is a knob: a transform, the range argument it draws from, a
grid of candidate values and a probability. The search is coordinate descent on the mean
distance of ``stats.compare``: for each knob, first the best (probability, single value)
pair, then the low and the high end of its range separately, knob after knob, for a few
rounds. Views are drawn with fixed seeds, one random stream per transform (see
``pipeline.reseed``), so the objective is deterministic and a change to one knob leaves the
other transforms' draws as they were.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import yaml

from edgedistill.augment.pipeline import draw_views
from edgedistill.augment.stats import compare, image_statistics, mean_distance

PROBABILITIES = (0.1, 0.25, 0.5, 0.75, 1.0)
MIN_GAIN = 0.003  # a change must lower the distance by this much: smaller gains are sampling noise
GEOMETRY = [  # the usual geometric views, as in the shipped presets; fitted with them, since a crop rescales blur
    {"RandomResizedCrop": {"size": ["image_size", "image_size"], "scale": [0.6, 1.0], "ratio": [0.8, 1.25], "p": 1.0}},
    {"HorizontalFlip": {"p": 0.5}},
]


@dataclass(frozen=True)
class Knob:
    transform: str
    argument: str
    grid: tuple[float, ...]
    neutral: float
    fixed: dict = field(default_factory=dict)


KNOBS = (
    Knob("DefocusBlur", "radius_range", (0.0, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15), 0.0),
    Knob("Exposure", "ev_range", (-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0), 0.0),
    Knob("SensorNoise", "shot_range", (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0), 1e-4),
    Knob("WhiteBalance", "temperature_range", (2500, 3000, 4000, 5000, 6500, 8000, 10000, 15000), 6500),
    Knob("ToneCurve", "contrast_range", (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5), 0.0, {"gamma_range": [1.0, 1.0]}),
    Knob("ImageCompression", "quality_range", (10, 20, 30, 40, 50, 60, 70, 80, 90), 90, {"compression_type": "jpeg"}),
)


@dataclass
class Setting:
    """A knob's probability and the grid indices of its range's ends."""

    p: float
    low: int
    high: int


def initial_settings() -> dict[str, Setting]:
    return {
        knob.transform: Setting(0.0, knob.grid.index(knob.neutral), knob.grid.index(knob.neutral)) for knob in KNOBS
    }


def preset_entries(settings: dict[str, Setting]) -> list[dict]:
    """The preset's transform list: geometric views, then every knob that fires, in camera order."""
    entries = list(GEOMETRY)
    for knob in KNOBS:
        setting = settings[knob.transform]
        neutral = knob.grid.index(knob.neutral)
        if setting.p > 0 and (setting.low, setting.high) != (
            neutral,
            neutral,
        ):  # a transform that does nothing is left out
            values = [knob.grid[setting.low], knob.grid[setting.high]]
            entries.append({knob.transform: {knob.argument: values, **knob.fixed, "p": setting.p}})
    return entries


def fit_preset(
    field_images: np.ndarray,
    source_images: np.ndarray,
    rounds: int = 2,
    seed: int = 0,
    report: Callable[[str], None] = lambda message: None,
) -> tuple[dict[str, Setting], float]:
    """The settings whose views of ``source_images`` come closest to ``field_images``, and that distance."""
    field_stats = image_statistics(field_images)

    def distance(settings: dict[str, Setting]) -> float:
        return mean_distance(
            compare(field_stats, image_statistics(draw_views(preset_entries(settings), source_images, seed)))
        )

    settings = initial_settings()
    best = distance(settings)
    report(f"clean views: distance {best:.3f}")
    for round_number in range(1, rounds + 1):
        for knob in reversed(KNOBS):  # last in the camera first: JPEG and tone mask what came before
            current = settings[knob.transform]
            candidates = [Setting(0.0, current.low, current.high)]
            candidates += [Setting(p, i, i) for p in PROBABILITIES for i in range(len(knob.grid))]
            best, chosen = _best(candidates, settings, knob, distance, best, current)
            if chosen.p > 0:
                lows = [Setting(chosen.p, i, chosen.high) for i in range(chosen.high)]
                best, chosen = _best(lows, settings, knob, distance, best, chosen)
                highs = [Setting(chosen.p, chosen.low, i) for i in range(chosen.low + 1, len(knob.grid))]
                best, chosen = _best(highs, settings, knob, distance, best, chosen)
            settings[knob.transform] = chosen
        report(f"round {round_number}: distance {best:.3f}")
    return settings, best


def _best(
    candidates: list[Setting],
    settings: dict[str, Setting],
    knob: Knob,
    distance: Callable[[dict[str, Setting]], float],
    best: float,
    incumbent: Setting,
) -> tuple[float, Setting]:
    for candidate in candidates:
        score = distance({**settings, knob.transform: candidate})
        if score < best - MIN_GAIN:
            best, incumbent = score, candidate
    return best, incumbent


def preset_yaml(settings: dict[str, Setting], header: list[str], description: str) -> str:
    """The fitted preset as a YAML file in the shipped presets' style, ``header`` as its comment."""
    lines = [f"# {text}" for text in header]
    lines += [yaml.safe_dump({"description": description}, width=1000).strip(), "transforms:"]
    for entry in preset_entries(settings):
        ((name, args),) = entry.items()
        lines.append(f"  - {name}: {yaml.safe_dump(args, default_flow_style=True, width=1000).strip()}")
    return "\n".join(lines) + "\n"
