"""Data parallelism under torchrun: each process trains on its rows of every global batch, gradients are averaged.

    torchrun --nproc-per-node 2 -m stages.train --family dcgan     # CPU: gloo (tested with 2 processes)
    torchrun --nproc-per-node 8 -m stages.train --family dcgan     # GPUs: NCCL, one GPU per process

As in stylegan2-ada, gradients are all-reduced by hand after each backward instead of wrapping the networks in
`DistributedDataParallel`: the G step back-propagates through D (whose gradients are then dropped) and R1 takes a
double backward, neither of which DDP's reducer hooks expect. Every rank starts from the same weights (same seed, and
rank 0's broadcast), draws the same global random numbers and keeps its rows, so all ranks stay bit-identical and
rank 0 alone writes checkpoints and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def rows(self, global_batch: int) -> slice:
        """This process's rows of a global batch (a strided share, so every rank gets global_batch // size)."""
        return slice(self.rank, global_batch, self.size)


def init() -> World:
    """The process group when torchrun started this process (WORLD_SIZE > 1), else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if size > 1 else 0
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return World(rank, size, device)


def broadcast(module: nn.Module, world: World) -> None:
    """Rank 0's parameters and buffers everywhere (at the start, and for buffers before saving)."""
    if world.size > 1:
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, 0)


def average_gradients(params: list[nn.Parameter], world: World) -> None:
    """Average the gradients of `params` over the ranks, in one flat all-reduce."""
    if world.size == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def barrier(world: World) -> None:
    if world.size > 1:
        dist.barrier()


def finish(world: World) -> None:
    if world.size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def share(flag: bool, world: World) -> bool:
    """Rank 0's `flag` on every rank (e.g. whether rank 0 took a unit from the registry, so no rank trains it)."""
    if world.size == 1:
        return flag
    t = torch.tensor([int(flag)], device=world.device)
    dist.broadcast(t, 0)
    return bool(t.item())
