"""Domain presets: declarative YAML pipelines of camera transforms, one file per domain."""

from edgedistill.augment.pipeline import build_eval_transform, build_train_transform, list_presets, reseed, view_seed

__all__ = ["build_eval_transform", "build_train_transform", "list_presets", "reseed", "view_seed"]
