"""Building a teacher cache: K views of every training image through the frozen teacher.

Views come from the same ``AugmentedViews`` that training replays, and are handed out as
(image, view) pairs so DataLoader workers augment in parallel while the teacher runs. Each
finished chunk is written and marked at once, so an interrupted build resumes at the first
missing chunk; under torchrun, rank r builds chunks r, r + W, r + 2W, ...
"""

import os
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress
from torch.utils.data import DataLoader

from edgedistill import distributed, interrupt
from edgedistill.accelerator import CPU, Accelerator
from edgedistill.augment.pipeline import build_pipeline, load_preset
from edgedistill.data import AugmentedViews, ImageSet, to_model_input
from edgedistill.errors import UserError, setting
from edgedistill.models import ModelInfo
from edgedistill.teacher_cache import TeacherCache, digest_views, fingerprint


class ChunkBuffer:
    """A chunk's answers as they arrive; it is written the moment its last view is in."""

    def __init__(self, images: int, views: int, classes: int):
        self.logits = np.empty((images, views, classes), np.float32)
        self.digests = np.empty((images, views), np.uint64)
        self.filled = 0


def fill_cache(
    cache: TeacherCache,
    teacher: torch.nn.Module,
    info: ModelInfo,
    views: AugmentedViews,
    batch_size: int,
    workers: int,
    progress: Progress | None = None,
    accelerator: Accelerator = CPU,
) -> int:
    """Compute this rank's missing chunks; returns how many it wrote."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))  # as torchrun sets them
    chunks = cache.pending_chunks(rank, world)
    pairs = [(i, v) for c in chunks for v in range(cache.views) for i in cache.chunk_indices(c)]
    if not pairs:
        return 0
    pending = {c: ChunkBuffer(len(cache.chunk_indices(c)), cache.views, cache.meta["classes"]) for c in chunks}
    loader = DataLoader(
        views,
        batch_size=batch_size,
        sampler=pairs,
        num_workers=workers,
        pin_memory=accelerator.device.type == "cuda",
        generator=torch.Generator(),  # leaves torch's global generator, which a resumed run restores, alone
    )
    task = progress.add_task("teacher cache", total=len(pairs), loss=np.nan, acc=np.nan, ips=0.0) if progress else None
    teacher.to(accelerator.device).eval()
    for images, _, indices, view_numbers in loader:
        interrupt.check()
        with torch.no_grad(), accelerator.autocast():
            on_device = images.to(accelerator.device, non_blocking=True)
            logits = teacher(to_model_input(on_device, info.mean, info.std)).float().cpu().numpy()
        digests = digest_views(images)
        for row, (index, view) in enumerate(zip(indices.tolist(), view_numbers.tolist(), strict=True)):
            chunk = index // cache.meta["chunk"]
            buffer = pending[chunk]
            local = index - cache.chunk_indices(chunk).start
            buffer.logits[local, view], buffer.digests[local, view] = logits[row], digests[row]
            buffer.filled += 1
            if buffer.filled == buffer.logits.shape[0] * buffer.logits.shape[1]:
                cache.write_chunk(chunk, buffer.logits, buffer.digests)
                del pending[chunk]
        if progress is not None:
            progress.update(task, advance=len(images))
    if progress is not None:
        progress.remove_task(task)
    return len(chunks)


def prepare_cache(
    root: Path,
    teacher: torch.nn.Module,
    info: ModelInfo,
    train: ImageSet,
    domain: str,
    image_size: int,
    seed: int,
    views: int,
    topk: int | None,
    batch_size: int,
    workers: int,
    progress: Progress | None = None,
    accelerator: Accelerator = CPU,
) -> TeacherCache:
    """The finished cache of ``domain`` under ``root`` (``root/DOMAIN``), built or completed first if needed."""
    if topk is not None and not 1 <= topk < len(info.classes):
        raise UserError(
            f"{setting('topk')} must be between 1 and {len(info.classes) - 1} (the teacher has "
            f"{len(info.classes)} classes)"
        )
    preset = load_preset(domain)
    key = fingerprint(teacher, info, preset["transforms"], train.images, train.labels, image_size, seed, views, topk)
    folder = root / Path(domain).stem
    cache = distributed.main_first(lambda: TeacherCache.create_or_open(folder, key, len(info.classes)))
    transform = build_pipeline(preset["transforms"], image_size, preset["path"])
    views_of_train = AugmentedViews(train.images, train.labels, transform, seed)
    fill_cache(cache, teacher, info, views_of_train, batch_size, workers, progress, accelerator)
    distributed.barrier()  # every rank's chunks are written before any rank reads the cache as complete
    return TeacherCache.open_complete(folder, key)
