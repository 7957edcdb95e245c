"""TFLite / LiteRT: a .tflite flatbuffer converted by litert-torch, run with ai-edge-litert.

The model keeps PyTorch's NCHW input. int8 models are fully integer, inputs and outputs
included; the manifest records their scale and zero point for the app.
"""

from pathlib import Path

import numpy as np
import torch
from torch import nn

from edgedistill.devices.harness import tflite_runner
from edgedistill.export.quantize import qat_config

NAME = "tflite"
FILENAME = "model.tflite"
PRECISIONS = ("fp32", "int8")
DELEGATE = "xnnpack"
FOLD_QUANTIZE = False  # litert-torch folds the quantize/dequantize pairs itself when it converts
MIXED_PRECISION = False  # litert-torch's quantizer has no node filter and refuses set_module_name(name, None)


def int8_quantizer(qat: bool = False):
    """LiteRT's quantizer: static full-integer int8, per-channel symmetric weights."""
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    config = get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    return PT2EQuantizer().set_global(qat_config(config) if qat else config)


def export(model: nn.Module, example: torch.Tensor, path: Path, quantizer=None) -> dict:
    """Write the flatbuffer of ``model`` (float, or int8 from ``quantizer``) to ``path``; returns the
    manifest's input/output entries, with the scale and zero point of integer ones."""
    import litert_torch

    quant_config = None
    if quantizer is not None:
        from litert_torch.quantize.quant_config import QuantConfig

        quant_config = QuantConfig(pt2e_quantizer=quantizer)
    litert_torch.convert(model, (example,), quant_config=quant_config).export(str(path))
    interpreter = _interpreter(path)
    (given,), (taken,) = interpreter.get_input_details(), interpreter.get_output_details()
    return {"input": _tensor_entry(given), "output": _tensor_entry(taken), "delegate": DELEGATE}


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


def _tensor_entry(detail: dict) -> dict:
    scale, zero_point = detail["quantization"]
    entry = {"name": detail["name"], "dtype": np.dtype(detail["dtype"]).name}
    if scale:
        entry["quantization"] = {"scale": float(scale), "zero_point": int(zero_point)}
    return entry


runner = tflite_runner  # the device harness's runner: an artifact runs the same way when verified and benchmarked
