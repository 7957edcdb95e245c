"""Model specs (``timm:NAME`` or a checkpoint path), self-describing checkpoints, size counts.

Checkpoints are safetensors files whose metadata says which architecture, classes,
resolution and normalisation the weights belong to: loading one can never run code, and a
teacher file is enough to rebuild the teacher. A student given as a module from Python code
(``python:CLASS``) has no name to rebuild it by, so its checkpoint comes with the module's graph,
captured by ``torch.export`` in a ``.pt2`` file beside it: export, the device harnesses and a later
run rebuild it from there without the user's code.
"""

import copy
import difflib
import json
import math
import pickle
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import timm
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from edgedistill.config import PYTHON_MODULE, STEMS
from edgedistill.errors import UserError, setting
from edgedistill.fileio import write_atomic

METADATA_KEY = "edgedistill"
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the normalisation of most ImageNet-trained weights, timm's and torchvision's
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ModelInfo:
    """What a checkpoint needs besides its weights to be used, exported or checked."""

    arch: str  # timm model name, or python:CLASS for a module given from Python
    classes: list[str]
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    stem: str = "standard"  # one of STEMS; checkpoints written before stems were a setting have none: standard


def given_info(
    arch: str, classes: list[str], image_size: int, mean: tuple | list | None, std: tuple | list | None
) -> ModelInfo:
    """The ModelInfo of a model that brings no normalisation of its own (a module from Python, a teacher file):
    the one given, or ImageNet's."""
    return ModelInfo(arch, list(classes), image_size, tuple(mean or IMAGENET_MEAN), tuple(std or IMAGENET_STD))


def model_spec(arch: str) -> str:
    """A ModelInfo's arch as a ``--student`` value names it: ``timm:NAME``, or ``python:CLASS`` as it is."""
    return arch if arch.startswith(PYTHON_MODULE) else f"timm:{arch}"


def parse_timm_spec(spec: str) -> str:
    """``timm:NAME`` -> NAME, with a suggestion when NAME is not a timm model."""
    name = spec.removeprefix("timm:")
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=4, cutoff=0.6)
        hint = f"did you mean {', '.join('timm:' + c for c in close)}?" if close else "see timm.list_models()"
        raise UserError(f"'{spec}' is not a timm model; {hint}")
    return name


def create_model(
    arch: str, num_classes: int, pretrained: bool = False, stem: str = "standard", stem_setting: str = "stem"
) -> nn.Module:
    """A timm model with a fresh head for ``num_classes``; ``pretrained`` downloads hub weights once. ``stem_setting``
    names the setting that asked for ``stem``, for the refusal of an architecture that cannot take it."""
    try:
        model = timm.create_model(arch, pretrained=pretrained, num_classes=num_classes)
    except (OSError, RuntimeError) as error:
        if not pretrained:
            raise
        raise UserError(
            f"could not fetch pretrained weights for timm:{arch} ({error}); run once on a connected machine "
            f"or drop {setting('pretrained')}"
        ) from None
    if stem == "small":
        keep_stem_resolution(model, arch, stem_setting)
    return model


def keep_stem_resolution(model: nn.Module, arch: str, stem_setting: str = "stem") -> None:
    """Fit an ImageNet architecture to 32-64 px inputs the usual way (as CIFAR ResNets are built): its first
    convolution at stride 1 and no max-pool in its stem. ImageNet stems divide the input by 4 before the first
    stage, so a ResNet's last stage sees a 32 px image as a 1x1 map. This keeps 4x the resolution per side in a
    ResNet (stride and pool), 2x in stems without a pool (RegNet, MobileNet, EfficientNet), for 4-16x the compute.
    Every weight keeps its shape, so ImageNet weights still load. Stems that cut the image into patches (ConvNeXt,
    ViT), or pool otherwise than by a max-pool, are refused rather than half fitted."""
    first = model.pretrained_cfg.get("first_conv") or ()
    convs = [model.get_submodule(name) for name in ([first] if isinstance(first, str) else first)]
    pools = {name: m for name, m in model.named_modules() if name == "maxpool" or name.startswith("stem.pool")}
    problem = None
    if not convs or not all(isinstance(conv, nn.Conv2d) and tuple(conv.stride) == (2, 2) for conv in convs):
        problem = f"has no stride-2 first convolution (its stem: {first or 'unknown'})"
    elif any(not isinstance(pool, nn.MaxPool2d | nn.Identity) for pool in pools.values()):
        problem = f"pools its stem with {', '.join(sorted({type(p).__name__ for p in pools.values()}))}"
    if problem:
        raise UserError(
            f"{setting(stem_setting, 'small')} sets the stem's first convolution to stride 1 and drops its max-pool, "
            f"and timm:{arch} {problem}; choose a convolutional model such as ResNet, RegNet, MobileNet, "
            f"EfficientNet or LCNet, or {setting(stem_setting, 'standard')}"
        )
    for conv in convs:
        conv.stride = (1, 1)
    for name in pools:
        model.set_submodule(name, nn.Identity())


def model_info(model: nn.Module, arch: str, classes: list[str], image_size: int, stem: str = "standard") -> ModelInfo:
    """Normalisation comes from the model's pretrained config, so hub weights get the inputs they expect."""
    pretrained_cfg = getattr(model, "pretrained_cfg", {}) or {}
    mean = tuple(pretrained_cfg.get("mean", IMAGENET_MEAN))
    std = tuple(pretrained_cfg.get("std", IMAGENET_STD))
    return ModelInfo(arch=arch, classes=list(classes), image_size=image_size, mean=mean, std=std, stem=stem)


def load_state_dict_checkpoint(
    path: Path, arch: str, classes: list[str], image_size: int, stem: str = "standard"
) -> tuple[nn.Module, ModelInfo]:
    """A model trained elsewhere: plain weights (.safetensors, or .pt/.pth loaded without pickle
    code) for timm:``arch`` with a head for ``classes``. The weights cannot tell a ``stem`` from another
    (they have the same shapes), so it is the caller's to say."""
    state = load_weights(path)
    model = create_model(arch, len(classes), stem=stem)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError) as error:
        raise UserError(
            f"{path}: weights do not fit timm:{arch} with {len(classes)} classes ({str(error).splitlines()[0]}); "
            "check the architecture and the data's classes"
        ) from None
    return model, model_info(model, arch, classes, image_size, stem)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: .safetensors, or a .pt/.pth state dict (also under 'state_dict' or
    'model') unpickled without running code."""
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise UserError(_unpickling_problem(path, error)) from None
    except (SafetensorError, RuntimeError, OSError, ValueError, EOFError) as error:  # EOFError: empty or cut short
        problem = (str(error).splitlines() or [type(error).__name__])[0]
        raise UserError(f"cannot read weights from {path} ({problem}); give weights saved with {RESAVE}") from None
    state = state.get("state_dict", state.get("model", state)) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} holds no state dict of tensors; give weights saved with {RESAVE}")
    return state


def start_from_weights(model: nn.Module, arch: str, path: Path) -> list[str]:
    """Load pretrained weights for fine-tuning (ImageNet weights, or a model trained on other classes): every
    tensor of the file, except a classifier whose class count differs, which stays freshly initialised.
    Anything else that does not fit means weights of another architecture, which is refused. Returns the
    tensors left fresh."""
    state = load_weights(path)
    own = model.state_dict()
    heads = model.pretrained_cfg.get("classifier", ())
    heads = tuple(f"{head}." for head in ((heads,) if isinstance(heads, str) else heads))
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    fresh = [k for k in own if k not in fitting and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    misfits = [k for k in fresh + unexpected if not k.startswith(heads)]
    if misfits:
        raise UserError(
            f"{path}: weights do not fit timm:{arch} ({len(misfits)} tensors differ, such as {misfits[:3]}); give "
            f"weights of a timm:{arch}"
        )
    model.load_state_dict(fitting, strict=False)
    return fresh


RESAVE = "torch.save(model.state_dict(), PATH) or safetensors.torch.save_file(model.state_dict(), PATH)"


def _unpickling_problem(path: Path, error: pickle.UnpicklingError) -> str:
    """torch's own message suggests ``weights_only=False``, which would run whatever code the file holds:
    it is never repeated. A file that names a Python object to build holds more than tensors; any other
    unpickling failure means the file is not a checkpoint at all."""
    found = re.search(r"GLOBAL (\S+)", str(error))
    if found:
        return (
            f"{path} holds pickled Python objects besides tensors (such as {found[1]}); loading it could run code, "
            f"so it is refused. Re-save the weights alone with {RESAVE}"
        )
    return f"{path} is not a PyTorch weights file (it cannot be unpickled); give weights saved with {RESAVE}"


def save_checkpoint(path: str | Path, model: nn.Module, info: ModelInfo) -> None:
    """Weights and metadata; for a module from Python also its graph (``NAME.pt2``), written first, so that a
    checkpoint that exists can always be rebuilt."""
    path = Path(path)
    if info.arch.startswith(PYTHON_MODULE):
        program = capture(model, info.image_size)
        write_atomic(path.with_suffix(".pt2"), lambda tmp: torch.export.save(program, str(tmp)))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}  # device-free, NCHW
    metadata = {METADATA_KEY: json.dumps(asdict(info))}
    write_atomic(path, lambda tmp: save_file(state, str(tmp), metadata=metadata))


def capture(model: nn.Module, image_size: int) -> torch.export.ExportedProgram:
    """The inference graph of ``model`` (eval mode, on the CPU, any batch size), as every phone exporter
    captures it too: a module torch.export cannot follow is refused here, with torch's reason."""
    inference = copy.deepcopy(model).cpu().eval()
    example = torch.zeros(2, 3, image_size, image_size)
    try:
        return torch.export.export(inference, (example,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    except Exception as error:  # noqa: BLE001 - torch.export raises many types; the user needs its words
        raise UserError(
            f"the student module cannot be captured by torch.export ({type(error).__name__}: "
            f"{(str(error).splitlines() or [''])[0][:200]}); every phone runtime starts from torch.export, so "
            "make its forward traceable (no data-dependent Python control flow)"
        ) from None


class ExportedModule(nn.Module):
    """The module of a ``torch.export`` program. Its train/eval behaviour was fixed when it was exported, and torch
    refuses to switch it, so switching this wrapper's mode leaves the graph alone."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def train(self, mode: bool = True) -> "ExportedModule":
        self.training = mode
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.module(images)


def load_checkpoint(path: str | Path, module: nn.Module | None = None) -> tuple[nn.Module, ModelInfo]:
    """Rebuild a model from an edgedistill checkpoint; anything else is refused with the reason. A checkpoint of a
    module from Python is loaded into a copy of ``module`` when it is given (the user's own class, trainable),
    else into the graph saved beside it (inference only)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; give a .safetensors file written by edgedistill train")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise UserError(
            f"{path} is not a safetensors checkpoint ({error}); give a .safetensors file written by edgedistill train"
        ) from None
    if METADATA_KEY not in metadata:
        raise UserError(
            f"{path} has no edgedistill metadata (architecture, classes); give a checkpoint written by "
            "edgedistill train"
        )
    info = parse_metadata(path, metadata[METADATA_KEY])
    if not info.arch.startswith(PYTHON_MODULE):
        model = create_model(info.arch, len(info.classes), stem=info.stem)
    elif module is not None:
        model = copy.deepcopy(module)
    else:
        model = _saved_graph(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        whose = "the module given" if module is not None else model_spec(info.arch)
        why = "the module is not the one the run trained" if module is not None else "the file is damaged or was edited"
        raise UserError(f"{path}: weights do not fit {whose} ({str(error).splitlines()[0]}); {why}") from None
    return (ExportedModule(model) if module is None and info.arch.startswith(PYTHON_MODULE) else model), info


def _saved_graph(path: Path) -> nn.Module:
    graph = path.with_suffix(".pt2")
    if not graph.is_file():
        raise UserError(
            f"{path} holds the weights of a module from Python, but its graph {graph.name} is not beside it; copy "
            "the two files together"
        )
    return load_program(graph).module()


def load_program(path: Path) -> torch.export.ExportedProgram:
    """``torch.export.load`` without running pickled code. torch unpickles what a program file holds with its
    weights-only unpickler and, where that refuses, falls back to the unrestricted one, which runs whatever code
    the file names; every unpickling inside this load is held to weights only, so such a file is refused."""
    unrestricted = torch.load

    def weights_only(*args, **kwargs):
        return unrestricted(*args, **{**kwargs, "weights_only": True})

    torch.load = weights_only
    try:
        return torch.export.load(str(path))
    except Exception as error:  # noqa: BLE001 - torch.export raises many types for a file it cannot read
        found = re.search(r"GLOBAL (\S+)", str(error))
        if isinstance(error, pickle.UnpicklingError) and found:
            raise UserError(
                f"{path} holds pickled Python objects (such as {found[1]}) that only an unrestricted unpickler loads, "
                "which could run code, so it is refused; save the program again with torch.export.save from a module "
                "whose example inputs and constants are tensors"
            ) from None
        raise UserError(f"cannot load {path} with torch.export.load ({str(error).splitlines()[0][:120]})") from None
    finally:
        torch.load = unrestricted


def parse_metadata(path: Path, text: str) -> ModelInfo:
    """The ModelInfo of a checkpoint's metadata, every field checked: an edited or truncated file must stop
    with a line naming what is wrong, not with a traceback from deep inside timm or the exporters."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise _damaged(path, f"not JSON: {error}") from None
    if not isinstance(raw, dict):
        raise _damaged(path, f"a JSON {type(raw).__name__} instead of an object")
    missing = [f.name for f in fields(ModelInfo) if f.name not in raw and f.name != "stem"]
    if missing:
        raise _damaged(path, f"no {', '.join(missing)}")
    problem = _metadata_problem(raw)
    if problem:
        raise _damaged(path, problem)
    stem = raw.get("stem", "standard")
    return ModelInfo(raw["arch"], raw["classes"], raw["image_size"], tuple(raw["mean"]), tuple(raw["std"]), stem)


def _metadata_problem(raw: dict) -> str | None:
    """What is wrong with the values of complete metadata, or None."""
    arch, classes, size = raw["arch"], raw["classes"], raw["image_size"]
    if not isinstance(arch, str) or not (timm.is_model(arch) or arch.startswith(PYTHON_MODULE)):
        return f"arch {arch!r} is neither a timm model nor {PYTHON_MODULE}CLASS"
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)):
        return f"classes must be a list of at least two names, not {str(classes)[:60]}"
    if type(size) is not int or size < 1:
        return f"image_size must be a positive whole number, not {size!r}"
    for key in ("mean", "std"):
        values = raw[key]
        if not (isinstance(values, list) and len(values) == 3 and all(_is_number(v) for v in values)):
            return f"{key} must be a list of three numbers (one per RGB channel), not {str(values)[:60]}"
    if not all(v > 0 for v in raw["std"]):
        return f"std must be positive, not {raw['std']}"
    if raw.get("stem", "standard") not in STEMS:
        return f"stem must be one of {list(STEMS)}, not {raw['stem']!r}"
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _damaged(path: Path, problem: str) -> UserError:
    return UserError(
        f"{path}: its edgedistill metadata is damaged ({problem}); use the file as edgedistill train wrote it, "
        "or train again"
    )


def model_device(model: nn.Module) -> torch.device:
    """Where a model's tensors are; a model without parameters (an ONNX teacher) has its buffers, or none."""
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), torch.empty(0))
    return tensor.device


def count_params(model: nn.Module) -> int:
    """Trainable and frozen parameters; a model run outside torch (an ONNX teacher) counts its own."""
    if hasattr(model, "count_params"):
        return model.count_params()
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, image_size: int) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (FLOPs / 2, as papers quote MACs); a model run
    outside torch, which torch's counter cannot see into, counts its own."""
    if hasattr(model, "count_macs"):
        return model.count_macs(image_size)
    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, image_size, image_size, device=model_device(model)))
    model.train(was_training)
    return counter.get_total_flops() // 2
