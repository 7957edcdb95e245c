"""Measurable image statistics, and how far apart two sets of images are on each.

``augment check`` compares a preset's training views with real field images on these, and
``augment fit`` searches for the preset that brings them closest. Each statistic is chosen
to move with one kind of degradation: noise with sensor noise, sharpness with blur,
blockiness with JPEG, brightness and contrast with exposure and tone, the casts with white
balance. All are computed at the model's input size, on the pixels the model will see.
"""

from dataclasses import dataclass

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601
STATISTICS = {
    "brightness": "mean luma, 0-1",
    "contrast": "standard deviation of luma, 0-1",
    "noise": "noise sigma in code values (Immerkaer 1996)",
    "sharpness": "log10 variance of the Laplacian",
    "blockiness": "luma steps on the 8x8 JPEG grid / steps elsewhere",
    "cast_blue_red": "log(mean blue / mean red)",
    "cast_green": "log(mean green / geometric mean of red and blue)",
}
QUANTILES = np.linspace(0.005, 0.995, 100)
MATCH, CLOSE = 0.15, 0.35  # distance thresholds of the verdict, in pooled standard deviations


def image_statistics(images: np.ndarray) -> dict[str, np.ndarray]:
    """Every statistic of every image of a (N, H, W, 3) uint8 batch; H and W at least 16."""
    pixels = images.astype(np.float32)
    luma = pixels @ LUMA
    means = pixels.mean(axis=(1, 2)) + 1.0
    return {
        "brightness": luma.mean(axis=(1, 2)) / 255,
        "contrast": luma.std(axis=(1, 2)) / 255,
        "noise": _immerkaer_sigma(luma),
        "sharpness": np.log10(_laplacian(luma).var(axis=(1, 2)) + 1),
        "blockiness": _blockiness(luma),
        "cast_blue_red": np.log(means[:, 2] / means[:, 0]),
        "cast_green": np.log(means[:, 1] / np.sqrt(means[:, 0] * means[:, 2])),
    }


def _laplacian(luma: np.ndarray) -> np.ndarray:
    centre = luma[:, 1:-1, 1:-1]
    return luma[:, :-2, 1:-1] + luma[:, 2:, 1:-1] + luma[:, 1:-1, :-2] + luma[:, 1:-1, 2:] - 4 * centre


def _immerkaer_sigma(luma: np.ndarray) -> np.ndarray:
    """Immerkaer 1996, "Fast Noise Variance Estimation": the image through a mask that cancels
    smooth structure (the difference of two Laplacians), mean absolute value scaled to a sigma."""
    corners = luma[:, :-2, :-2] + luma[:, :-2, 2:] + luma[:, 2:, :-2] + luma[:, 2:, 2:]
    edges = luma[:, :-2, 1:-1] + luma[:, 2:, 1:-1] + luma[:, 1:-1, :-2] + luma[:, 1:-1, 2:]
    response = corners - 2 * edges + 4 * luma[:, 1:-1, 1:-1]
    height, width = luma.shape[1:]
    return np.sqrt(np.pi / 2) * np.abs(response).sum(axis=(1, 2)) / (6 * (width - 2) * (height - 2))


def _blockiness(luma: np.ndarray) -> np.ndarray:
    """JPEG codes 8x8 blocks independently, so its artefacts are steps on the block grid: the mean
    luma step across block boundaries over the mean step inside blocks (about 1 without JPEG)."""
    ratios = []
    for steps in (np.abs(np.diff(luma, axis=2)), np.abs(np.diff(luma, axis=1)).transpose(0, 2, 1)):
        on_grid = (np.arange(steps.shape[2]) % 8) == 7
        ratios.append((steps[:, :, on_grid].mean(axis=(1, 2)) + 0.5) / (steps[:, :, ~on_grid].mean(axis=(1, 2)) + 0.5))
    return (ratios[0] + ratios[1]) / 2


@dataclass
class Comparison:
    """One statistic of the field images beside the same statistic of the training views."""

    name: str
    field_median: float
    field_iqr: tuple[float, float]
    views_median: float
    views_iqr: tuple[float, float]
    distance: float
    shift: float  # mean of (views - field) quantiles, in the same units as distance

    @property
    def verdict(self) -> str:
        if self.distance < MATCH:
            return "match"
        if abs(self.shift) >= self.distance / 2:
            how = "higher" if self.shift > 0 else "lower"
        else:
            field_width, views_width = np.subtract(*self.field_iqr[::-1]), np.subtract(*self.views_iqr[::-1])
            how = "spread wider" if views_width > field_width else "spread narrower"
        return f"{'close' if self.distance < CLOSE else 'off'}: views {how}"


def distribution_distance(field: np.ndarray, views: np.ndarray) -> tuple[float, float]:
    """Wasserstein-1 distance between the two samples, and the mean signed shift of views against
    field, in units of the pooled standard deviation sqrt((var_field + var_views) / 2), so that
    statistics on different scales can be read, and averaged, side by side. A floor on the unit
    keeps two near-constant samples from reading as far apart."""
    unit = max(np.sqrt((field.var() + views.var()) / 2), 1e-6 + 1e-3 * np.abs(np.concatenate([field, views])).mean())
    gap = (np.quantile(views, QUANTILES) - np.quantile(field, QUANTILES)) / unit
    return float(np.abs(gap).mean()), float(gap.mean())


def compare(field: dict[str, np.ndarray], views: dict[str, np.ndarray]) -> list[Comparison]:
    rows = []
    for name in STATISTICS:
        f, v = field[name], views[name]
        rows.append(
            Comparison(
                name,
                float(np.median(f)),
                (float(np.percentile(f, 25)), float(np.percentile(f, 75))),
                float(np.median(v)),
                (float(np.percentile(v, 25)), float(np.percentile(v, 75))),
                *distribution_distance(f, v),
            )
        )
    return rows


def mean_distance(rows: list[Comparison]) -> float:
    return float(np.mean([row.distance for row in rows]))
