"""The textbook KD loop benchmark: its views, and its --quick path end to end on a finished run."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from conftest import train_tiny_run

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "textbook_kd.py"
spec = importlib.util.spec_from_file_location("textbook_kd", SCRIPT)
textbook_kd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(textbook_kd)


def test_each_view_is_a_window_of_the_padded_image_or_its_mirror():
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    views = textbook_kd.crop_and_flip(images, torch.Generator().manual_seed(0))
    padded = F.pad(images, (4, 4, 4, 4))
    mirrored = 0
    for image, view in zip(padded, views, strict=True):
        windows = [image[:, y : y + 8, x : x + 8] for y in range(9) for x in range(9)]
        plain = any(torch.equal(view, window) for window in windows)
        flipped = any(torch.equal(view.flip(-1), window) for window in windows)
        assert plain or flipped
        mirrored += flipped and not plain
    assert 16 < mirrored < 48  # about half are mirrored
    assert not all(torch.equal(v, i) for v, i in zip(views, images, strict=True))  # not the identity


def test_quick_run_puts_the_textbook_loop_beside_the_kits_students(image_folder, tmp_path):
    run = train_tiny_run(image_folder, tmp_path / "run")
    out = tmp_path / "textbook.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--run", str(run), "--quick", "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    rows = {row["model"].split(" (")[0]: row for row in result["rows"]}
    assert rows["kit: KD, domain views"]["field_acc"] == metrics["student_kd"]["field_acc"]
    assert rows["kit: student alone"]["heldout_acc"] == metrics["student_scratch"]["heldout_acc"]
    loop = rows["textbook KD loop"]
    assert all(0.0 <= loop[split] <= 1.0 for split in ("clean_acc", "field_acc", "heldout_acc"))
    assert loop["train_s"] > 0 and result["settings"]["epochs"] == 1 and "textbook KD loop" in done.stdout
    ablation = [sys.executable, str(SCRIPT), "--run", str(run), "--quick", "--domain-views", "--lr", "0.05"]
    ablation = subprocess.run([*ablation, "--out", str(out)], capture_output=True, text=True)
    assert ablation.returncode == 0, ablation.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["settings"]["views"] == "phone" and result["lr_tuning"] == []
    assert result["rows"][2]["model"] == "textbook KD loop (lr 0.05, domain views)"
