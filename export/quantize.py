"""int8 in PT2E form, shared by the ExecuTorch and TFLite exporters: post-training quantization,
quantization-aware distillation when post-training quantization changes too many answers, and, where the
runtime's quantizer can leave layers out, mixed precision: the layers int8 hurts most kept in fp32.

Both runtimes take a graph that torch.export captured, annotated by their own quantizer (XNNPACK's,
LiteRT's), observed on field-domain views and converted to quantize/dequantize pairs; only the
quantizer and one conversion flag differ.
"""

import copy
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

QAT_MODES = ("auto", "always", "never")


@dataclass
class FineTuning:
    """How the quantization-aware student is fine-tuned: a few passes over field-domain training views,
    matching the fp32 student's answers, which are what the int8 model is judged against."""

    epochs: int = 2
    images: int = 2048  # training images per epoch, each a new field-domain view every epoch
    lr: float = 1e-3
    batch_size: int = 64


CALIBRATION_BATCH = 64


def quantize_pt2e(
    model: nn.Module, quantizer, calibration: list[torch.Tensor], fold: bool = True
) -> torch.fx.GraphModule:
    """Static int8: per-channel symmetric weights, activations ranged on ``calibration`` (field-domain
    training views, so the ranges cover the noise and exposure the model will see)."""
    return quantize_graph(capture(model, calibration), quantizer, calibration, fold)


def quantize_graph(
    graph: torch.fx.GraphModule, quantizer, calibration: list[torch.Tensor], fold: bool = True
) -> torch.fx.GraphModule:
    """``quantize_pt2e`` of a graph already captured (and changed in place): the sensitivity ranking quantizes
    one capture once per layer."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    prepared = prepare_pt2e(graph, quantizer)
    calibrate(prepared, calibration)
    return convert_pt2e(prepared, fold_quantize=fold)


def capture(model: nn.Module, calibration: list[torch.Tensor]) -> torch.fx.GraphModule:
    """The eval-mode graph with a free batch size, so calibration and fine-tuning run in batches; the
    exporters capture it again at batch 1."""
    batch = torch.export.Dim("batch", max=1 << 16)
    example = torch.cat(calibration[:2]) if len(calibration) > 1 else torch.cat([calibration[0]] * 2)
    return torch.export.export(copy.deepcopy(model).eval(), (example,), dynamic_shapes=({0: batch},)).module()


def calibrate(prepared: torch.fx.GraphModule, calibration: list[torch.Tensor]) -> None:
    """Observe the views in batches, as fine-tuning sees them and faster than one at a time (on the demo
    student's val field split, 4,500 images: 97.3% agreement with fp32 against 97.0% fed one by one, KL
    0.0021 against 0.0019, so no worse)."""
    with torch.no_grad():
        for start in range(0, len(calibration), CALIBRATION_BATCH):
            prepared(torch.cat(calibration[start : start + CALIBRATION_BATCH]))


def qat_config(config):
    """A post-training config made quantization-aware: weights fake-quantized from their current range,
    activations from a histogram as in post-training quantization (on the demo student, before any
    fine-tuning, QAT's own moving min/max ranges changed 3.8% of the golden answers, the histogram's 2.2%).
    It stays annotated as plain static int8: BatchNorm is folded before preparation (``quantize_aware``),
    and litert-torch 0.10's conv-BatchNorm QAT annotator fails under torchao 0.18."""
    from torchao.quantization.pt2e import FakeQuantize, HistogramObserver, MovingAveragePerChannelMinMaxObserver

    def fake_quantized(spec, observer):  # the runtime's own observer settings (its scale floor) carried over
        keywords = spec.observer_or_fake_quant_ctr.p.keywords
        return dataclasses.replace(
            spec, observer_or_fake_quant_ctr=FakeQuantize.with_args(observer=observer, **keywords)
        )

    activation = fake_quantized(config.input_activation, HistogramObserver)
    weight = fake_quantized(config.weight, MovingAveragePerChannelMinMaxObserver)
    return dataclasses.replace(config, input_activation=activation, output_activation=activation, weight=weight)


def quantize_aware(
    model: nn.Module,
    quantizer,
    calibration: list[torch.Tensor],
    views: Callable[[int], Iterable[torch.Tensor]],
    settings: FineTuning,
    fold: bool = True,
) -> torch.fx.GraphModule:
    """Quantization-aware distillation: the student with fake-quantized weights and activations learns to
    give the fp32 student's answers on ``views(epoch)`` (batches of field-domain training views).

    BatchNorm is folded into the convolutions with the fp32 student's statistics before preparation (the
    PT2E QAT recipe freezes those statistics after a few epochs; a fine-tune of a trained model freezes them
    from the start, as they are part of the reference) and dropout is off, so the fine-tune moves the
    weights towards what int8 can represent and nothing else. Activation ranges are set on ``calibration``
    and then held; weight ranges follow the weights."""
    from torchao.quantization.pt2e import FakeQuantize, HistogramObserver
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_qat_pt2e
    from torchao.quantization.pt2e.utils import _fuse_conv_bn_

    reference = model.eval()
    graph = capture(model, calibration)
    _fuse_conv_bn_(graph)
    prepared = prepare_qat_pt2e(graph, quantizer)
    calibrate(prepared, calibration)
    for module in prepared.modules():
        if isinstance(module, FakeQuantize) and isinstance(module.activation_post_process, HistogramObserver):
            module.disable_observer()
    optimizer = torch.optim.SGD(prepared.parameters(), lr=settings.lr, momentum=0.9)
    for epoch in range(settings.epochs):
        for inputs in views(epoch):
            with torch.no_grad():
                target = F.log_softmax(reference(inputs), dim=1)
            loss = F.kl_div(F.log_softmax(prepared(inputs), dim=1), target, log_target=True, reduction="batchmean")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    for module in prepared.modules():
        if isinstance(module, FakeQuantize):
            module.disable_observer()
    return convert_pt2e(prepared, fold_quantize=fold)


def quantizable_layers(model: nn.Module) -> list[str]:
    """The layers mixed precision can keep in fp32: convolutions and linear layers, by module name (the
    BatchNorm and activation fused with a convolution stay with it)."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d | nn.Linear)]


def outside(layers: Iterable[str]) -> Callable[[torch.fx.Node], bool]:
    """A quantizer's node filter that leaves ``layers`` unquantized: a node belongs to the innermost module
    torch.export recorded for it, and a fused pattern is quantized only if all of its nodes pass."""
    skipped = set(layers)

    def quantize(node: torch.fx.Node) -> bool:
        stack = node.meta.get("nn_module_stack")
        return not stack or next(reversed(stack.values()))[0] not in skipped

    return quantize


def rank_by_sensitivity(
    model: nn.Module,
    quantizer_for: Callable[[list[str]], object],
    calibration: list[torch.Tensor],
    probe: torch.Tensor,
) -> list[dict]:
    """Every quantizable layer with the KL divergence from the fp32 model that int8 leaves when that layer alone
    stays in fp32 (``quantizer_for([layer])``, calibrated afresh), lowest first: the layers whose quantization
    costs most come first. Measured on ``probe`` (other field-domain views of the training images), never on
    the golden set, which judges the result. A quantization per layer: on the demo student
    (45 layers) the 8 layers it ranked first, kept in fp32, lowered the KL on 1,024 other views by 29%; ranked
    by feeding each layer the values before its quantize/dequantize pairs in one quantized graph (ten times
    faster), by 7%."""
    graph = capture(model, calibration)
    reference = log_probabilities(model, probe)
    ranked = []
    for layer in quantizable_layers(model):
        quantized = quantize_graph(copy.deepcopy(graph), quantizer_for([layer]), calibration)
        answers = log_probabilities(quantized, probe)
        kl = F.kl_div(answers, reference, log_target=True, reduction="batchmean").item()
        ranked.append({"layer": layer, "kl_with_layer_in_fp32": kl})
    return sorted(ranked, key=lambda row: row["kl_with_layer_in_fp32"])


def log_probabilities(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """``model``'s log-softmax on ``inputs``, a calibration batch at a time (224 px probes do not fit at once)."""
    with torch.no_grad():
        return torch.cat(
            [
                F.log_softmax(model(inputs[i : i + CALIBRATION_BATCH]), dim=1)
                for i in range(0, len(inputs), CALIBRATION_BATCH)
            ]
        )
