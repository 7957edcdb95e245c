"""The bundle as the phone harnesses read it: raw arrays and one key=value job file per model.

Android's and iOS's harnesses are small programs with no NumPy: reading the compressed
``golden.npz`` would need a zip reader and an .npy parser on iOS, where Foundation has neither.
So the driver writes the golden set as raw little-endian arrays, and each job's settings as a
java.util.Properties file that Java reads natively and Swift splits in a few lines. The model
files and manifest.json are copied unchanged, so the harness checks the very sha256 the export
wrote. The format is written down in devices/android/README.md and devices/ios/README.md.
"""

import shutil
from pathlib import Path

import numpy as np

from edgedistill.devices.bench import Job, Timing

GOLDEN_ARRAYS = {  # name in golden.npz -> (file, dtype)
    "inputs": ("inputs.f32", "<f4"),
    "labels": ("labels.i32", "<i4"),
    "student_logits": ("student_logits.f32", "<f4"),
    "teacher_logits": ("teacher_logits.f32", "<f4"),
}


def stage_bundle(bundle: Path, jobs: list[Job], timing: Timing, dest: Path) -> Path:
    """Write the staged copy of ``bundle`` for ``jobs`` into ``dest`` (created; must not exist)."""
    dest.mkdir(parents=True)
    shutil.copy2(bundle / "manifest.json", dest / "manifest.json")
    (dest / "golden").mkdir()
    (dest / "jobs").mkdir()
    with np.load(bundle / "golden.npz") as golden:
        for key, (name, dtype) in GOLDEN_ARRAYS.items():
            if key in golden.files:
                golden[key].astype(dtype).tofile(dest / "golden" / name)
        count, *image = golden["inputs"].shape
        classes = golden["student_logits"].shape[1]
        has_teacher = "teacher_logits" in golden.files
    for job in jobs:
        entry = job.artifact
        source = bundle / entry["file"]
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, dest / entry["file"])
        settings = {
            "artifact": entry["file"],
            "format": entry["format"],
            "delegate": entry.get("delegate") or "",
            "precision": entry["precision"],
            "sha256": entry["sha256"],
            "size_bytes": entry["size_bytes"],
            "golden_count": count,
            "input_shape": ",".join(str(n) for n in (1, *image)),
            "num_classes": classes,
            "has_teacher": str(has_teacher).lower(),
            "threads": timing.threads,
            "warmup": timing.warmup,
            "iterations": timing.iterations or 0,
            "min_seconds": timing.min_seconds,
        }
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        (dest / "jobs" / f"{entry['file']}.properties").write_text(text, encoding="ascii")
    return dest
