"""ExecuTorch: a .pte program lowered to the XNNPACK delegate, for Android and iOS CPUs.

torch.export -> to_edge_transform_and_lower(XnnpackPartitioner) -> to_executorch, run back with
ExecuTorch's Python runtime, the same C++ runtime the phone apps link.
"""

from pathlib import Path

import torch
from torch import nn

from edgedistill.devices.harness import executorch_runner
from edgedistill.export.quantize import quantize_pt2e

NAME = "executorch"
FILENAME = "model.pte"
PRECISIONS = ("fp32", "int8")
DELEGATE = "xnnpack"


def export(model: nn.Module, example: torch.Tensor, precision: str, calibration: list, path: Path) -> dict:
    """Write the program to ``path``; returns how to feed it (the manifest's input/output entries)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if precision == "int8":
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        model = quantize_pt2e(model, example, quantizer, calibration)
    program = torch.export.export(model, (example,))
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(lowered.buffer)
    return {"input": {"name": "x", "dtype": "float32"}, "output": {"dtype": "float32"}, "delegate": DELEGATE}


runner = executorch_runner  # the device harness's runner: an artifact runs the same way when verified and benchmarked
