"""Post-training int8 quantization in PT2E form, shared by the ExecuTorch and TFLite exporters.

Both runtimes take a graph that torch.export captured, annotated by their own quantizer
(XNNPACK's, LiteRT's), observed on calibration inputs and converted to quantize/dequantize
pairs; only the quantizer and one conversion flag differ.
"""

from collections.abc import Iterable

import torch
from torch import nn


def quantize_pt2e(
    model: nn.Module, example: torch.Tensor, quantizer, calibration: Iterable[torch.Tensor], fold: bool = True
) -> torch.fx.GraphModule:
    """Static int8: per-channel symmetric weights, activations ranged on ``calibration`` (batches of
    field-domain training views, so the ranges cover the noise and exposure the model will see)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(model.eval(), (example,)).module()
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in calibration:
            prepared(batch)
    return convert_pt2e(prepared, fold_quantize=fold)
