"""edgedistill: distil a big image model into a small one that holds up on phone photos.

The Python API (``distill``, ``export_bundle``, ``bench``, ``Images``) is imported on first use, so that the command
line and light imports of a submodule do not pay for torch, timm and albumentations at once.
"""

import importlib

__version__ = "0.1.0"
_API = {"distill": "edgedistill.api", "export_bundle": "edgedistill.api", "bench": "edgedistill.api",
        "Distilled": "edgedistill.api", "Images": "edgedistill.own_data"}  # fmt: skip
__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'edgedistill' has no attribute {name!r}")
