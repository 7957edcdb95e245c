"""Peak memory of ``edgedistill train`` on a 224 px ImageFolder as the number of images grows.

Builds ImageFolders of real photos (the shared CIFAR-10 JPEGs, upscaled to 224 px and saved as JPEG, a tenth of
each set as test/) of each size, then runs ``edgedistill train`` on each in a fresh cache folder, so decoding,
the field and held-out splits, training, evaluation and the report are all inside the measurement. Memory is
sampled every 0.2 s from /proc as the proportional set size (PSS) summed over the run's process tree (DataLoader
workers share pages with their parent; PSS counts a shared page once, RSS once per process), and the main
process's own high-water mark (VmHWM) is read as it exits.

    python benchmarks/memory.py --cifar10 ../shared/datasets/cifar10-jpg.tar.gz --images 2000 8000

Results go to benchmarks/results/memory.json (``--out``) after each size, so a stopped benchmark keeps what it
measured.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

from edgedistill.provenance import provenance

RESULTS = Path(__file__).parent / "results" / "memory.json"
SIZE = 224
TEST_SHARE = 10  # one image in ten goes to test/


def make_folder(archive: Path, root: Path, images: int) -> Path:
    """``images`` CIFAR-10 photos (classes in turn) upscaled to SIZE px, as ROOT/{train,test}/CLASS/*.jpg."""
    source = root / "cifar10"
    if not source.exists():
        with tarfile.open(archive) as tar:
            tar.extractall(source, filter="data")
    folder = root / f"photos-{images}"
    if folder.exists():
        return folder
    partial = root / f".photos-{images}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    classes = sorted(d.name for d in (source / "train").iterdir())
    per_class = {name: sorted((source / "train" / name).iterdir()) for name in classes}
    for number in range(images):
        name = classes[number % len(classes)]
        photo = per_class[name][number // len(classes)]
        split = "test" if (number // len(classes)) % TEST_SHARE == 0 else "train"
        target = partial / split / name / f"{number:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.open(photo).convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC).save(target, quality=90)
    partial.rename(folder)
    return folder


def tree_pss_kib(pid: int) -> int:
    """PSS of ``pid`` and all its descendants, in KiB (0 for a process that is gone)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def run_measured(command: list[str], env: dict) -> dict:
    """Run ``command``, sampling its tree's PSS; returns peaks in MiB and the wall time."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = {"pss": 0, "hwm": 0}

    def sample() -> None:
        while process.poll() is None:
            peak["pss"] = max(peak["pss"], tree_pss_kib(process.pid))
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
                hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
                peak["hwm"] = max(peak["hwm"], hwm)
            except (FileNotFoundError, StopIteration):
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, errors = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{errors[-3000:]}")
    return {
        "peak_tree_pss_mib": peak["pss"] / 1024,
        "peak_main_rss_mib": peak["hwm"] / 1024,
        "wall_s": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cifar10", type=Path, required=True, help="cifar10-jpg.tar.gz (ImageFolder of JPEGs)")
    parser.add_argument("--images", type=int, nargs="+", default=[2000, 8000])
    parser.add_argument("--teacher", default="timm:lcnet_050")
    parser.add_argument("--student", default="timm:mobilenetv3_small_050")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "edgedistill-memory")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = time.perf_counter()
    results = {"image_size": SIZE, "teacher": args.teacher, "student": args.student, "runs": {}}
    for images in args.images:
        folder = make_folder(args.cifar10, args.work, images)
        cache = args.work / f"cache-{images}"
        shutil.rmtree(cache, ignore_errors=True)  # decoding and the field splits are part of what is measured
        env = {**os.environ, "EDGEDISTILL_CACHE": str(cache)}
        out = args.work / f"run-{images}"
        command = [sys.executable, "-m", "edgedistill", "train", "--data", str(folder), "--image-size", str(SIZE),
                   "--teacher", args.teacher, "--student", args.student, "--epochs", "1", "--teacher-epochs", "1",
                   "--batch-size", str(args.batch_size), "--out", str(out), "--force"]  # fmt: skip
        row = {"images": images, **run_measured(command, env)}
        results["runs"][str(images)] = row
        print(f"{images:>6} images: peak PSS of the process tree {row['peak_tree_pss_mib']:7.0f} MiB, main process "
              f"RSS {row['peak_main_rss_mib']:7.0f} MiB, {row['wall_s']:5.0f} s", flush=True)  # fmt: skip
        if len(results["runs"]) > 1:
            peaks = [run["peak_tree_pss_mib"] for run in results["runs"].values()]
            results["largest_over_smallest"] = max(peaks) / min(peaks)
        results["provenance"] = provenance(started)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if "largest_over_smallest" in results:
        print(f"largest / smallest peak: {results['largest_over_smallest']:.3f}")


if __name__ == "__main__":
    main()
