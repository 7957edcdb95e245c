"""Argument types for the camera transforms' schemas, so a preset with a reversed or out-of-range
range fails when it is built (strict mode), naming the argument."""

from typing import Annotated, Any

from albumentations.core.pydantic import nondecreasing
from pydantic import AfterValidator, Field


def value_range(ge: float | None = None, le: float | None = None, gt: float | None = None) -> Any:
    """A (low, high) pair with low <= high, both within the given bounds."""
    bound = Annotated[float, Field(ge=ge, le=le, gt=gt)]
    return Annotated[tuple[bound, bound], AfterValidator(nondecreasing)]
