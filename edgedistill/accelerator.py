"""Where models run and in what precision: ``--device`` and ``--amp``.

Everything that leaves a device is fp32 on the CPU (checkpoints, caches, logits, exports), so a run
trained on a GPU resumes, evaluates and exports anywhere. On the CPU, mixed precision is off unless
asked for, which keeps CPU runs bit-exact with and without a resume.
"""

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch

from edgedistill.errors import UserError, setting

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
AMP_MODES = {"auto": None, "bf16": torch.bfloat16, "fp16": torch.float16, "off": None}


@dataclass(frozen=True)
class Accelerator:
    device: torch.device
    amp: torch.dtype | None  # autocast dtype, None for full fp32

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)

    @property
    def channels_last(self) -> bool:
        """NHWC activations feed tensor cores on CUDA; on the CPU they would only change the float sums."""
        return self.device.type == "cuda"

    def describe(self) -> dict:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else self.device.type
        return {"device": str(self.device), "name": name, "amp": {None: "off"}.get(self.amp, str(self.amp)[6:])}


CPU = Accelerator(torch.device("cpu"), None)


def resolve(device: str = "auto", amp: str = "auto") -> Accelerator:
    """The device of ``device`` (auto: CUDA, then MPS, then the CPU; under torchrun each process takes the
    GPU of its LOCAL_RANK) and the autocast dtype of ``amp`` (auto: bf16 on GPUs that have it, else fp16,
    off elsewhere); UserError when the machine has no such device."""
    chosen = _device(device)
    if amp not in AMP_MODES:
        raise UserError(f"{setting('amp')} must be one of {', '.join(AMP_MODES)}, got {amp!r}")
    dtype = AMP_MODES[amp]
    if amp == "auto" and chosen.type == "cuda":
        native_bf16 = torch.cuda.get_device_capability(chosen) >= (8, 0)  # Ampere on; older GPUs only emulate it
        dtype = torch.bfloat16 if native_bf16 else torch.float16
    return Accelerator(chosen, dtype)


def _device(spec: str) -> torch.device:
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if spec == "auto":
        spec = "cuda" if cuda else "mps" if mps else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not mps:
            raise UserError(f"{setting('device', 'mps')}: this machine has no Apple GPU (MPS); use device auto or cpu")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not cuda:
            raise UserError(
                f"{setting('device', spec)}: this machine has no CUDA GPU torch can use; use device auto or cpu"
            )
        index = int(os.environ.get("LOCAL_RANK", 0)) if spec == "cuda" else _index(spec)
        if not 0 <= index < torch.cuda.device_count():
            raise UserError(f"{setting('device', spec)}: there are {torch.cuda.device_count()} CUDA devices (0 to N-1)")
        return torch.device("cuda", index)
    raise UserError(f"{setting('device')} must be one of {', '.join(DEVICES)}, got {spec!r}")


def _index(spec: str) -> int:
    try:
        return int(spec.removeprefix("cuda:"))
    except ValueError:
        raise UserError(f"{setting('device', spec)}: write cuda:N with N a GPU number, e.g. cuda:0") from None
