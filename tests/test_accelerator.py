"""--device and --amp: what a machine without a GPU resolves them to, and the refusals a user meets."""

import pytest
import torch

from edgedistill.accelerator import CPU, resolve
from edgedistill.errors import UserError

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
    ("cuda", "auto", "--device cuda: this machine has no CUDA GPU torch can use"),
    ("cuda:1", "auto", "--device cuda:1: this machine has no CUDA GPU"),
    ("tpu", "auto", "--device must be one of auto, cpu, cuda, cuda:N, mps, got 'tpu'"),
    ("cpu", "fp8", "--amp must be one of auto, bf16, fp16, off, got 'fp8'"),
])  # fmt: skip
def test_refusals_name_the_flag(device, amp, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        resolve(device, amp)
