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

from edgedistill.devices import harness
from edgedistill.devices.bench import Job, Timing, read_manifest, user_errors

GOLDEN_ARRAYS = {  # name in golden.npz -> (file, dtype)
    "inputs": ("inputs.f32", "<f4"),
    "labels": ("labels.i32", "<i4"),
    "student_logits": ("student_logits.f32", "<f4"),
    "teacher_logits": ("teacher_logits.f32", "<f4"),
}


def stage_bundle(bundle: Path, jobs: list[Job], timing: Timing, dest: Path) -> Path:
    """Write the staged copy of ``bundle`` for ``jobs`` into ``dest`` (created; must not exist).

    golden.npz is checked against its sha256 in manifest.json before it is converted, and each raw
    array's own sha256 goes into the job file, where the phone harness checks it: the phone never
    sees golden.npz, so its sha256 would prove nothing there."""
    manifest = read_manifest(bundle)
    with user_errors():
        golden = harness.read_golden(bundle, manifest)
        sources = {
            name: harness.bundle_file(bundle, name) for name in ["manifest.json", *(j.artifact["file"] for j in jobs)]
        }
    dest.mkdir(parents=True)
    shutil.copy2(sources.pop("manifest.json"), dest / "manifest.json")
    (dest / "golden").mkdir()
    (dest / "jobs").mkdir()
    digests = {}
    for key, (name, dtype) in GOLDEN_ARRAYS.items():
        if key in golden:
            golden[key].astype(dtype).tofile(dest / "golden" / name)
            digests[f"{name}.sha256"] = harness.sha256_of(dest / "golden" / name)
    count, *image = golden["inputs"].shape
    for job in jobs:
        entry = job.artifact
        source = sources[entry["file"]]
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
            "num_classes": golden["student_logits"].shape[1],
            "has_teacher": str("teacher_logits" in golden).lower(),
            "threads": timing.threads,
            "warmup": timing.warmup,
            "iterations": timing.iterations or 0,
            "min_seconds": timing.min_seconds,
            **digests,
        }
        text = "".join(f"{key}={value}\n" for key, value in settings.items())
        (dest / "jobs" / f"{entry['file']}.properties").write_text(text, encoding="ascii")
    return dest
