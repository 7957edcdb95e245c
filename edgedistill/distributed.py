"""Scale-out under torchrun: the same trainer in N processes with DistributedDataParallel.

``torchrun --nproc-per-node N -m edgedistill train ...`` starts N copies of the command; each
reads its rank from the environment torchrun sets. Every rank sees its slice of each global
batch, so N processes take the steps one process takes with the whole batch; rank 0 alone
writes files and prints. Processes on GPUs talk over nccl, on the CPU over gloo.
"""

import atexit
import os
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

from edgedistill.errors import UserError

T = TypeVar("T")


def init_from_env(device: torch.device | None = None) -> None:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); a no-op otherwise. Processes on
    GPUs talk over nccl, one GPU each (``device``, from LOCAL_RANK); on the CPU over gloo."""
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized():
        on_gpu = device is not None and device.type == "cuda"
        if on_gpu:
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if on_gpu else "gloo")
        # gloo's threads must be joined before the interpreter exits, or a rank can abort at exit
        # ("terminate called without an active exception") after its work is done.
        atexit.register(dist.destroy_process_group)


def rank_and_size() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_and_size()[0] == 0


def barrier() -> None:
    if rank_and_size()[1] > 1:
        dist.barrier()


def rank_slice(order: list[int], batch_size: int, rank: int, size: int) -> list[int]:
    """This rank's share of an epoch: its 1/size of every global batch of ``batch_size``, in order, so
    that batch k of every rank together is batch k of one process."""
    per_rank = batch_size // size
    steps = len(order) // batch_size
    return [i for step in range(steps) for i in order[step * batch_size + rank * per_rank :][:per_rank]]


def sum_across_ranks(values: list[float]) -> list[float]:
    if rank_and_size()[1] == 1:
        return values
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # nccl reduces GPU tensors only
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def share_from_main(value: object) -> object:
    """Rank 0's ``value`` on every rank (a config, an error message)."""
    if rank_and_size()[1] == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def main_first(make: Callable[[], T]) -> T:
    """``make()`` on rank 0, then on the other ranks, which find what rank 0 made instead of racing it to
    create the same files. When rank 0 fails, the other ranks stop with its message instead of waiting."""
    result = None
    if is_main():
        try:
            result = make()
        except Exception as raised:
            share_from_main(str(raised) or type(raised).__name__)  # one broadcast either way, as the others expect
            raise
    error = share_from_main(None)
    if error is not None:
        raise UserError(error)
    return result if is_main() else make()


def align_to_main(model: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank. DDP keeps parameters equal, but each rank
    updates its own BatchNorm statistics in the last step, and evaluation reads them."""
    if rank_and_size()[1] == 1:
        return
    for tensor in model.state_dict().values():
        dist.broadcast(tensor, src=0)
