"""--device and --amp: what a machine without a GPU resolves them to, and the refusals a user meets."""

import pytest
import torch

from edgedistill.accelerator import CPU, resolve
from edgedistill.errors import UserError, name_settings_as_flags

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@no_gpu
def test_auto_takes_the_cpu_here_with_full_precision():
    if torch.backends.mps.is_available():
        pytest.skip("this machine has an Apple GPU")
    chosen = resolve("auto", "auto")
    assert chosen == CPU and chosen.describe() == {"device": "cpu", "name": "cpu", "amp": "off"}
    assert not chosen.grad_scaler().is_enabled() and not chosen.channels_last


def test_bf16_on_the_cpu_autocasts_a_matmul():
    chosen = resolve("cpu", "bf16")
    assert chosen.describe()["amp"] == "bfloat16"
    with chosen.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with CPU.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@no_gpu
@pytest.mark.parametrize("device,amp,message", [
    ("cuda", "auto", "device='cuda': this machine has no CUDA GPU torch can use"),
    ("cuda:1", "auto", "device='cuda:1': this machine has no CUDA GPU"),
    ("tpu", "auto", "device must be one of auto, cpu, cuda, cuda:N, mps, got 'tpu'"),
    ("cpu", "fp8", "amp must be one of auto, bf16, fp16, off, got 'fp8'"),
])  # fmt: skip
def test_refusals_name_the_setting(device, amp, message):
    with pytest.raises(UserError, match="^" + message.replace("(", r"\(")):
        resolve(device, amp)


@no_gpu
def test_refusals_name_the_flag_on_the_command_line():
    name_settings_as_flags()
    with pytest.raises(UserError, match="^--device cuda: this machine has no CUDA GPU torch can use"):
        resolve("cuda", "auto")


@pytest.mark.slow
def test_accelerator_check_runs_on_the_cpu(tmp_path):
    """The GPU check script's code path, end to end, on whatever device this machine resolves."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "accelerator_check.py"
    out = tmp_path / "check.json"
    done = subprocess.run(
        [sys.executable, str(script), "--device", "cpu", "--quick", "--workers", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["parity_with_cpu"]["max_abs_logit_diff_fp32"] == 0.0  # the CPU against itself
    assert 0.0 < result["field_acc_short_distillation"]["cpu"] <= 1.0
    assert set(result["images_per_s"]) >= {"augmentation (workers)", "host-to-device copy"}
    assert all(value > 0 for value in result["images_per_s"].values())
