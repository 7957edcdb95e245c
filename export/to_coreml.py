"""Core ML: an ML program (.mlpackage) for iOS, converted by coremltools from torch.export.

coremltools converts on Linux but can only run a model on macOS, so elsewhere the verifier
checks the saved spec (input and output shapes, the precision the weights and compute are in)
and says that numeric parity needs a Mac.
"""

import platform
from pathlib import Path

import torch
from torch import nn

from edgedistill.devices.harness import coreml_runner

NAME = "coreml"
FILENAME = "model.mlpackage"
PRECISIONS = ("fp32", "fp16", "int8")
DELEGATE = "all compute units"
DEQUANTIZE_OPS = {"constexpr_affine_dequantize", "constexpr_blockwise_shift_scale"}


def export(model: nn.Module, example: torch.Tensor, path: Path, precision: str) -> dict:
    """fp32: fp32 weights and compute; fp16: both fp16 (Core ML's default); int8: int8 weights, fp16 compute
    (Core ML quantizes the weights itself, after conversion; the other formats take a PT2E graph)."""
    import coremltools as ct

    program = torch.export.export(model.eval(), (example,)).run_decompositions({})
    compute = ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16
    converted = ct.convert(
        program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17, compute_precision=compute
    )
    if precision == "int8":
        config = ct.optimize.coreml.OptimizationConfig(
            global_config=ct.optimize.coreml.OpLinearQuantizerConfig(mode="linear_symmetric", dtype="int8")
        )
        converted = ct.optimize.coreml.linear_quantize_weights(converted, config=config)
    converted.save(str(path))
    spec = converted.get_spec()
    return {
        "input": {"name": spec.description.input[0].name, "dtype": "float32"},
        "output": {"name": spec.description.output[0].name, "dtype": "float32"},
        "delegate": DELEGATE,
    }


def check_spec(path: Path, input_shape: tuple[int, ...], classes: int, precision: str) -> list[str]:
    """What is wrong with the saved model's interface and precision; empty when it is right."""
    import coremltools as ct

    spec = ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    problems = []
    inputs, outputs = spec.description.input, spec.description.output
    if len(inputs) != 1 or tuple(inputs[0].type.multiArrayType.shape) != tuple(input_shape):
        problems.append(
            f"input shape {[list(i.type.multiArrayType.shape) for i in inputs]}, expected {list(input_shape)}"
        )
    output_shape = tuple(outputs[0].type.multiArrayType.shape) if len(outputs) == 1 else ()
    if output_shape and output_shape[-1] != classes:
        problems.append(f"output shape {list(output_shape)}, expected [1, {classes}]")
    ops, dtypes = _program_ops(spec)
    fp16 = ct.proto.MIL_pb2.DataType.Value("FLOAT16")
    if precision == "int8" and not ops & DEQUANTIZE_OPS:
        problems.append("no int8 weights (no constexpr dequantize ops)")
    if precision == "fp32" and fp16 in dtypes:
        problems.append("fp16 tensors in an fp32 model")
    if precision in ("fp16", "int8") and fp16 not in dtypes:
        problems.append("no fp16 compute")
    return problems


def _program_ops(spec) -> tuple[set[str], set[int]]:
    ops, dtypes = set(), set()
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            for op in block.operations:
                ops.add(op.type)
                dtypes.update(output.type.tensorType.dataType for output in op.outputs)
    return ops, dtypes


def runner(path: Path):
    """The device harness's runner, so an artifact runs the same way when verified and benchmarked;
    None off macOS, where Core ML cannot run and the spec is checked instead."""
    return coreml_runner(path) if platform.system() == "Darwin" else None
