"""One training stage: a model trained on augmented views, with or without a frozen teacher.

Every epoch ends with an atomic checkpoint (weights, optimizer, schedule, RNG), and views and
batch order are pure functions of (seed, epoch), so a stage stopped at any point resumes to
the same weights an uninterrupted run reaches.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler

from edgedistill import distributed, interrupt
from edgedistill.accelerator import CPU, Accelerator
from edgedistill.data import AugmentedViews, to_model_input
from edgedistill.errors import UserError, setting
from edgedistill.fileio import write_atomic
from edgedistill.losses import UNLABELED, DistillationLoss, cross_entropy_labeled
from edgedistill.models import ModelInfo
from edgedistill.stages import TEACHER
from edgedistill.teacher_cache import CacheReader


class TrainingDiverged(UserError):
    """The loss became nan or infinite. A run stops on it; the distillation sweep records the candidate as
    diverged (``fact``, without the advice to start again) and goes on, because one setting too hot for this
    data says nothing about the others."""

    def __init__(self, fact: str, advice: str):
        super().__init__(f"{fact}; {advice}")
        self.fact = fact


@dataclass
class StageSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int
    workers: int
    unlabeled_ratio: float = 1.0  # unlabeled views per labeled image in each epoch (KL term only)
    accelerator: Accelerator = CPU
    optimizer: str = "sgd"  # or "adamw"
    clip_grad: float = 0.0  # the gradient's norm is clipped to this each step; 0: unclipped


@dataclass
class Teacher:
    """A frozen teacher and the normalisation its weights expect; with a cache, its answers are read
    for each replayed view instead of computed."""

    model: nn.Module
    info: ModelInfo
    loss: DistillationLoss
    cache: CacheReader | None = None

    def logits(self, images: torch.Tensor, indices: torch.Tensor, view: int, host: torch.Tensor) -> torch.Tensor:
        """The teacher's logits for uint8 ``images`` (on the training device), on that device; ``host`` is
        the same batch on the CPU, where the cache hashes the views' pixels to check them."""
        if self.cache is not None:
            return self.cache.logits(indices, view, host).to(images.device, non_blocking=True)
        with torch.no_grad():
            return self.model(to_model_input(images, self.info.mean, self.info.std))


def fit(
    name: str,
    model: nn.Module,
    info: ModelInfo,
    views: AugmentedViews,
    settings: StageSettings,
    checkpoint_path: Path,
    teacher: Teacher | None = None,
    progress: Progress | None = None,
) -> list[dict]:
    """Train ``model`` in place for ``settings.epochs``, resuming from ``checkpoint_path`` if present.
    Under torchrun, every rank trains on its slice of each global batch through DDP."""
    rank, size = distributed.rank_and_size()
    if settings.batch_size % size:
        raise UserError(f"{setting('batch_size', settings.batch_size)} must split evenly over the {size} processes")
    epoch_size = len(epoch_order(views.labels, settings.seed, 0, settings.unlabeled_ratio))
    steps_per_epoch = epoch_size // settings.batch_size
    if steps_per_epoch == 0:
        raise UserError(
            f"{name}: {epoch_size} training images are fewer than one batch of {settings.batch_size}; lower "
            f"{setting('batch_size')}"
        )
    accelerator = settings.accelerator
    model.to(accelerator.device)
    if accelerator.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, settings)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(steps_per_epoch, settings.epochs * steps_per_epoch)
    )
    scaler = accelerator.grad_scaler()  # one for the stage: its loss scale carries over epochs and resumes
    history: list[dict] = []
    if checkpoint_path.exists():
        history = _restore(checkpoint_path, model, optimizer, schedule, scaler)
    if teacher is not None:
        teacher.model.to(accelerator.device).eval()
        for parameter in teacher.model.parameters():  # one by one: a TorchScript module has no requires_grad_()
            parameter.requires_grad_(False)
    device_ids = [accelerator.device.index] if accelerator.device.type == "cuda" else None
    trained = DistributedDataParallel(model, device_ids=device_ids) if size > 1 else model
    sampler = EpochSampler(views.labels, settings, rank, size)
    loader = DataLoader(
        views,
        batch_size=settings.batch_size // size,
        sampler=sampler,
        num_workers=settings.workers,
        persistent_workers=settings.workers > 0,  # workers start once a stage, not once an epoch
        # the workers' base seed is drawn when they start: from a generator of the loader's own, not from torch's
        # global one, which the checkpoints save, so a run resumed mid-stage draws dropout exactly as before
        generator=torch.Generator().manual_seed(settings.seed),
        pin_memory=accelerator.device.type == "cuda",  # page-locked batches copy to the GPU asynchronously
        drop_last=True,  # a last batch of two images would make BatchNorm statistics noise
    )
    for epoch in range(len(history), settings.epochs):
        view = teacher.cache.view_for_epoch(epoch) if teacher is not None and teacher.cache else epoch
        sampler.set_epoch(epoch, view)
        stats = train_one_epoch(
            name,
            epoch,
            view,
            trained,
            info,
            loader,
            optimizer,
            schedule,
            scaler,
            teacher,
            accelerator,
            progress,
            settings.clip_grad,
        )
        history.append(stats)
        if distributed.is_main():
            _save(checkpoint_path, model, optimizer, schedule, scaler, history)
    distributed.align_to_main(model)
    return history


def train_one_epoch(
    name: str,
    epoch: int,
    view: int,
    model: nn.Module,
    info: ModelInfo,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    teacher: Teacher | None,
    accelerator: Accelerator,
    progress: Progress | None,
    clip_grad: float = 0.0,
) -> dict:
    model.train()
    layout = torch.channels_last if accelerator.channels_last else torch.contiguous_format
    task = (
        progress.add_task(f"{name} {epoch + 1}", total=len(loader), loss=math.nan, acc=math.nan, ips=0.0)
        if progress
        else None
    )
    totals = {"loss": 0.0, "correct": 0, "labeled": 0, "seen": 0}
    start = time.perf_counter()
    for step, (host, labels, indices, _) in enumerate(loader):
        interrupt.check()
        images = host.to(accelerator.device, non_blocking=True)
        labels = labels.to(accelerator.device, non_blocking=True)
        with accelerator.autocast():  # the forward passes in low precision, the loss in fp32
            logits = model(to_model_input(images, info.mean, info.std).contiguous(memory_format=layout))
            target = teacher.logits(images, indices, view, host) if teacher is not None else None
        logits = logits.float()
        if target is None:
            loss = cross_entropy_labeled(logits, labels)
        else:
            loss = teacher.loss(logits, target.float(), labels)["loss"]
        if not torch.isfinite(loss):
            if progress is not None:
                progress.remove_task(task)
            rate = setting("teacher_lr" if name == TEACHER.name else "lr")
            raise TrainingDiverged(
                f"{name}: loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}",
                f"start the run again with a lower {rate} (it was {optimizer.defaults['lr']}) or check the "
                "training images",
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()  # with fp16, scaled against underflow; otherwise loss.backward()
        if clip_grad:
            scaler.unscale_(optimizer)  # clip the true gradient, not fp16's scaled one
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        totals["loss"] += loss.item() * len(labels)
        totals["correct"] += int((logits.argmax(1) == labels).sum())  # never true for an unlabeled image
        totals["labeled"] += int((labels != UNLABELED).sum())
        totals["seen"] += len(labels)
        if progress is not None:
            seen = totals["seen"]
            progress.update(
                task,
                advance=1,
                loss=totals["loss"] / seen,
                acc=totals["correct"] / max(totals["labeled"], 1),
                ips=seen / (time.perf_counter() - start),
            )
    seconds = time.perf_counter() - start
    if progress is not None:
        progress.remove_task(task)
    totals = dict(zip(totals, distributed.sum_across_ranks(list(totals.values())), strict=True))
    seen = max(totals["seen"], 1)
    return {
        "epoch": epoch + 1,
        "loss": totals["loss"] / seen,
        "train_acc": totals["correct"] / max(totals["labeled"], 1),
        "seconds": seconds,
        "images_per_s": seen / seconds,
    }


class EpochSampler(Sampler):
    """This rank's (image, view) pairs of one epoch, set before each pass with ``set_epoch``: the sampler is
    iterated in the main process, so one DataLoader and its persistent workers serve the whole stage."""

    def __init__(self, labels: np.ndarray, settings: StageSettings, rank: int, size: int):
        self.labels, self.settings, self.rank, self.size = labels, settings, rank, size
        self.pairs: list[tuple[int, int]] = []

    def set_epoch(self, epoch: int, view: int) -> None:
        order = epoch_order(self.labels, self.settings.seed, epoch, self.settings.unlabeled_ratio)
        share = distributed.rank_slice(order, self.settings.batch_size, self.rank, self.size)
        self.pairs = [(index, view) for index in share]

    def __iter__(self):
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


def make_optimizer(model: nn.Module, settings: StageSettings) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum, or AdamW. Neither wins everywhere: on the demo, SGD distils a far better student
    from the teacher's answers, while AdamW trains the better teacher, and the better student alone, from the few
    labeled images (benchmarks/demo_optimizers.py). The run gives the teacher AdamW and its students SGD, alone
    and distilled alike, so that they differ only in what they learn from."""
    if settings.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=settings.lr, momentum=0.9, nesterov=True, weight_decay=settings.weight_decay
    )


def warmup_cosine(warmup_steps: int, total_steps: int):
    """Linear warm-up over the first epoch, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def epoch_order(labels: np.ndarray, seed: int, epoch: int, unlabeled_ratio: float = 1.0) -> list[int]:
    """The shuffled indices of epoch ``epoch``, the same for a fresh and a resumed run: every labeled
    image, and ``unlabeled_ratio`` times as many unlabeled ones drawn afresh each epoch."""
    rng = np.random.default_rng([seed, epoch])
    chosen = np.flatnonzero(labels != UNLABELED)
    unlabeled = np.flatnonzero(labels == UNLABELED)
    take = min(len(unlabeled), round(unlabeled_ratio * len(chosen)))
    if take:
        chosen = np.concatenate([chosen, rng.choice(unlabeled, size=take, replace=False)])
    return rng.permutation(chosen).tolist()


def _save(path: Path, model, optimizer, schedule, scaler, history: list[dict]) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "history": history,
        "torch_rng": torch.get_rng_state(),
    }
    if scaler.is_enabled():  # fp16's loss scale, learnt over the steps so far
        state["scaler"] = scaler.state_dict()
    write_atomic(path, lambda tmp: torch.save(state, tmp))


def _restore(path: Path, model, optimizer, schedule, scaler) -> list[dict]:
    try:
        # weights_only: a stranger's checkpoint must not be able to run code; CPU: it may come from a GPU run
        state = torch.load(path, weights_only=True, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        if scaler.is_enabled() and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
    except Exception as error:  # unpickling and state-dict errors come in many types
        raise UserError(
            f"cannot resume from {path} ({str(error).splitlines()[0]}); delete it to restart that stage"
        ) from None
    torch.set_rng_state(state["torch_rng"])
    return list(state["history"])
