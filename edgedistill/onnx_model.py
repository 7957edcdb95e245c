"""An ONNX classifier as a teacher: run by onnxruntime, fed and answering like any torch module.

The teacher only runs forward, so a model exported to ONNX elsewhere (from PyTorch, TensorFlow, JAX) can teach as it
is. It holds no torch parameters, so the two things a run asks of a teacher's weights come from the file instead:
its sha256 is a buffer, which the teacher cache's fingerprint (a digest of the state dict) then covers, and its
size and multiply-accumulates are read from the graph.
"""

import hashlib
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from onnx.external_data_helper import ExternalDataInfo, uses_external_data
from torch import nn

from edgedistill.devices.harness import sha256_of
from edgedistill.errors import UserError, setting

MAC_OPS = ("Conv", "Gemm", "MatMul")  # the ops torch's FlopCounterMode counts too (convolutions and matmuls)


class OnnxModule(nn.Module):
    def __init__(self, path: Path, image_size: int):
        super().__init__()
        self.path = path
        self.sessions: dict[str, onnxruntime.InferenceSession] = {}
        try:
            self.input = self._session(torch.device("cpu")).get_inputs()[0]
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types for a bad file
            raise UserError(f"onnxruntime cannot load {path} ({str(error).splitlines()[0][:160]})") from None
        _check_input(path, self.input.shape, image_size)
        self.input_type = np.float16 if self.input.type == "tensor(float16)" else np.float32
        self.register_buffer("file_sha256", torch.tensor(list(_sha256(path)), dtype=torch.uint8))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feed = {self.input.name: images.detach().float().cpu().numpy().astype(self.input_type)}
        logits = self._session(self.file_sha256.device).run(None, feed)[0]
        return torch.from_numpy(np.asarray(logits, dtype=np.float32)).to(images.device)

    def _session(self, device: torch.device) -> onnxruntime.InferenceSession:
        """onnxruntime where the module was moved, as a torch module runs where its tensors are: on that GPU with
        the CUDA provider (where installed), else on the CPU, never on a GPU the run was told to leave alone."""
        cuda = device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        key = f"cuda:{device.index or 0}" if cuda else "cpu"
        if key not in self.sessions:
            gpu = [("CUDAExecutionProvider", {"device_id": device.index or 0})] if cuda else []
            self.sessions[key] = onnxruntime.InferenceSession(str(self.path), providers=[*gpu, "CPUExecutionProvider"])
        return self.sessions[key]

    def count_params(self) -> int:
        """Weights stored in the graph (floating-point initializers; BatchNorm is often folded into the
        convolutions on export, so this can be below the source model's count)."""
        graph = onnx.load(str(self.path), load_external_data=False).graph  # the shapes, not the weights
        floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
        return sum(math.prod(t.dims) for t in graph.initializer if t.data_type in floats)

    def count_macs(self, image_size: int) -> int:
        """Multiply-accumulates of one image, from the graph's shapes at ``image_size`` (Conv, Gemm, MatMul)."""
        model = onnx.load(str(self.path), load_external_data=False)
        dims = model.graph.input[0].type.tensor_type.shape.dim
        for dim, value in zip(dims, (1, 3, image_size, image_size), strict=True):
            dim.ClearField("dim_param")
            dim.dim_value = value
        graph = onnx.shape_inference.infer_shapes(model).graph
        values = [*graph.input, *graph.value_info, *graph.output]
        shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}
        shapes.update({t.name: list(t.dims) for t in graph.initializer})
        macs = 0
        for node in graph.node:
            if node.op_type not in MAC_OPS:
                continue
            out, first, second = shapes.get(node.output[0]), shapes.get(node.input[0]), shapes.get(node.input[1])
            if not (out and first and second) or 0 in [*out, *first, *second]:
                raise UserError(f"{self.path}: cannot infer the shapes around its {node.op_type} node {node.name}")
            if node.op_type == "Conv":  # each output value: in-channels per group x kernel area
                macs += math.prod(out) * math.prod(second[1:])
            elif node.op_type == "Gemm":
                transposed = any(a.name == "transA" and a.i for a in node.attribute)
                macs += math.prod(out) * (first[0] if transposed else first[-1])
            else:
                macs += math.prod(out) * first[-1]
        return macs


def _check_input(path: Path, shape: list, image_size: int) -> None:
    """A graph exported with a fixed batch or another image size cannot serve the run's batches; say so
    before the first one rather than with onnxruntime's shape error."""
    if len(shape) != 4:
        raise UserError(f"{path} takes inputs of shape {shape}; a teacher takes (batch, 3, height, width) images")
    batch, _, height, width = shape
    if isinstance(batch, int):
        raise UserError(
            f"{path} was exported for batches of exactly {batch}; export it with a dynamic batch dimension "
            "(torch.onnx.export(..., dynamic_shapes=...) or dynamic_axes={'input': {0: 'batch'}})"
        )
    if isinstance(height, int) and isinstance(width, int) and (height, width) != (image_size, image_size):
        raise UserError(
            f"{path} takes {height}x{width} images but the run's image size is {image_size}; set "
            f"{setting('image_size', height)}, or export the teacher for {image_size}x{image_size} images"
        )


def _sha256(path: Path) -> bytes:
    """sha256 of the graph file and of every file of weights it names: torch.onnx.export writes the weights of
    a graph beside it (``X.onnx.data``), so the graph file alone does not change when they do."""
    model = onnx.load(str(path), load_external_data=False)
    external = sorted({ExternalDataInfo(t).location for t in model.graph.initializer if uses_external_data(t)})
    digest = hashlib.sha256()
    for name in [path.name, *external]:
        digest.update(f"{name}\0{sha256_of(path.parent / name)}\0".encode())
    return digest.digest()
