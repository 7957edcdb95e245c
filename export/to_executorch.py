"""ExecuTorch: a .pte program lowered to the XNNPACK delegate, for Android and iOS CPUs.

torch.export -> to_edge_transform_and_lower(XnnpackPartitioner) -> to_executorch, run back with
ExecuTorch's Python runtime, the same C++ runtime the phone apps link.
"""

from pathlib import Path

import torch
from torch import nn

from edgedistill.devices.harness import executorch_runner
from edgedistill.export.quantize import outside, qat_config

NAME = "executorch"
FILENAME = "model.pte"
PRECISIONS = ("fp32", "int8")
DELEGATE = "xnnpack"
FOLD_QUANTIZE = True  # weights stored as int8 in the graph: XNNPACK takes them so
MIXED_PRECISION = True  # XNNPACK runs fp32 and int8 operators side by side in one program


def int8_quantizer(qat: bool = False, fp32_layers: list[str] | tuple[str, ...] = ()):
    """XNNPACK's quantizer: static int8, per-channel symmetric weights; ``fp32_layers`` left in fp32."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    config = get_symmetric_quantization_config(is_per_channel=True)
    quantizer = XNNPACKQuantizer().set_global(qat_config(config) if qat else config)
    return quantizer.set_filter_function(outside(fp32_layers)) if fp32_layers else quantizer


def export(model: nn.Module, example: torch.Tensor, path: Path, quantizer=None) -> dict:
    """Write the program of ``model`` (float, or int8 from ``quantizer``) to ``path``; returns how to feed
    it (the manifest's input/output entries)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    program = torch.export.export(model, (example,))
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()]).to_executorch()
    path.write_bytes(lowered.buffer)
    return {"input": {"name": "x", "dtype": "float32"}, "output": {"dtype": "float32"}, "delegate": DELEGATE}


runner = executorch_runner  # the device harness's runner: an artifact runs the same way when verified and benchmarked
