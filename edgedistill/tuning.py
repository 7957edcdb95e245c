"""``temperature``, ``alpha`` or ``loss`` set to ``auto``: a short distillation sweep scored on validation views of
the field domain, never on the test split.

The validation images are the data's val/ split, or, when it has none, a seeded tenth of the
training images held out of the sweep's own training. Each is shown once through the domain's
preset (with seeds of its own, apart from every training view), so the sweep rewards the
setting that transfers best to the kind of pictures the student will meet.
"""

from dataclasses import dataclass

import numpy as np

from edgedistill.config import LOSS_NAMES
from edgedistill.data import AugmentedViews, DataBundle, ImageSet
from edgedistill.errors import UserError, setting
from edgedistill.image_store import LazyImages, select

TEMPERATURES = (1.0, 2.0, 4.0, 8.0)
ALPHAS = (0.5, 0.7, 0.9)
VALIDATION_VIEW = 1_000_003  # a view number no training epoch reaches


@dataclass
class SweepData:
    train: ImageSet  # what the sweep's students train on
    validation: ImageSet  # validation images as field-domain views
    source: str  # where the validation images came from, for the report
    train_is_full: bool  # the sweep trains on the whole training split (so a teacher cache applies)


def parse_setting(value: str, name: str) -> float | str:
    """A number or 'auto' (TrainConfig checks the number's range); UserError with the accepted forms otherwise."""
    if value == "auto":
        return value
    try:
        return float(value)
    except ValueError:
        raise UserError(f"{setting(name)} must be a number or 'auto', got {value!r}") from None


def candidates(temperature: float | str, alpha: float | str, loss: str = "kd") -> list[tuple[str, float, float]]:
    """The (loss, T, alpha) grid: every value of a setting left to ``auto``, the given value otherwise."""
    losses = LOSS_NAMES if loss == "auto" else (loss,)
    temperatures = TEMPERATURES if temperature == "auto" else (float(temperature),)
    alphas = ALPHAS if alpha == "auto" else (float(alpha),)
    return [(name, t, a) for name in losses for t in temperatures for a in alphas]


def sweep_data(data: DataBundle, domain_views: AugmentedViews, seed: int) -> SweepData:
    """The sweep's training images and its field-domain validation views."""
    if data.val is not None:
        train, validation, source, full = data.train, data.val, "the val split", True
    else:
        order = np.random.default_rng([seed, 7]).permutation(len(data.train.labels))
        held = max(1, len(order) // 10)
        train = ImageSet(select(data.train.images, order[held:]), data.train.labels[order[held:]])
        validation = ImageSet(select(data.train.images, order[:held]), data.train.labels[order[:held]])
        source, full = f"{held} training images held out of the sweep", False
    render = AugmentedViews(validation.images, validation.labels, domain_views.transform, seed)
    return SweepData(train, ImageSet(ValidationViews(render), validation.labels), source, full)


class ValidationViews(LazyImages):
    """Each validation image's one field-domain view, rendered when a batch of them is graded."""

    def __init__(self, render: AugmentedViews):
        super().__init__(len(render), render.images.shape[1])
        self.render = render

    def rows(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), self.size, self.size, 3), np.uint8)
        for row, index in enumerate(indices):
            out[row] = self.render.render(int(index), VALIDATION_VIEW).permute(1, 2, 0).numpy()
        return out


def choose(rows: list[dict]) -> dict:
    """The best row on validation field accuracy; ties go to the earlier (cooler, more CE) setting. A diverged
    candidate (no accuracy) is never chosen; when every one diverged there is nothing to choose from."""
    trained = [row for row in rows if row["val_field_acc"] is not None]
    if not trained:
        raise UserError(f"every candidate of the distillation sweep diverged, the first with: {rows[0]['diverged']}")
    return max(trained, key=lambda row: (row["val_field_acc"], -rows.index(row)))
