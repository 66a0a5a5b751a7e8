"""Scale-out of stage 1 on ``torch.distributed``: what a rank started by ``torchrun`` needs to take its share
of the videos, and to hand its results to rank 0, which writes the one store.

    torchrun --nproc-per-node 4 -m stages.extract --params params.yaml --manifest ... --out ...

Launch. ``torchrun`` (single node, ``--nnodes`` with a rendezvous endpoint, or ``srun torchrun`` on SLURM)
sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` for every process; :func:`context_from_env` reads them and
:func:`process_group` joins the group. Under DVC the stage's command stays ``python -m stages.extract``:
with ``extract.processes`` > 1 and no torchrun around it, :func:`relaunch` re-executes the same command
under ``python -m torch.distributed.run --standalone --nproc-per-node N``.

Work split. :func:`shard` assigns the videos still to compute to ranks deterministically: heaviest first
(source frame count, what decoding costs), ties broken by a stable hash of the video's content hash (never
Python's salted ``hash()``), each to the least-loaded rank. The shards depend only on the set of videos,
not on the manifest order, the process or the machine; rank 0 alone decides which videos are left (and
broadcasts them), so the ranks never disagree about the set while parts appear in the journal.

Results travel through files, not the process group: each rank checkpoints its videos as journal parts
named ``part-rank<R>-<N>.h5`` (see :mod:`framecache.features.journal`) on shared storage. The group only carries a
few small Python objects — rank 0's list of videos to compute (:meth:`Context.broadcast`) and each rank's
failures and timings (:meth:`Context.gather`) — so it always uses the gloo backend, over TCP, on GPU and
CPU nodes alike: NCCL moves tensors between GPUs, and nothing here sends one.

torch is imported inside the functions that use it: the process that only relaunches itself under torchrun
(the DVC command, :mod:`framecache.features.launch`) then does not load it, and torchrun starts sooner.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import logging
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from framecache.compute import available_cores
from framecache.errors import FramecacheError

if TYPE_CHECKING:
    import torch

log = logging.getLogger("framecache.distributed")

# What torchrun sets for each process it starts; RANK and WORLD_SIZE are the ones every launcher sets.
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def part_prefix(self) -> str:
        """File-name prefix of this rank's journal parts; every prefix matches the journal's ``part-*.h5``."""
        return f"part-rank{self.rank:05d}-" if self.distributed else "part-"

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (other ranks' ``obj`` is ignored)."""
        if not self.distributed:
            return obj
        import torch.distributed

        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait until every rank gets here (up to the process group's timeout)."""
        if self.distributed:
            import torch.distributed

            torch.distributed.barrier()

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's ``obj`` in rank order on rank 0; None on the other ranks. A collective: it waits for
        the slowest rank (up to the process group's timeout)."""
        if not self.distributed:
            return [obj]
        import torch.distributed

        out: list[Any] | None = [None] * self.world_size if self.is_main else None
        torch.distributed.gather_object(obj, out, dst=0)
        return out


SINGLE = Context()


def launched_by_torchrun(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return "RANK" in env and "WORLD_SIZE" in env


def context_from_env(env: Mapping[str, str] | None = None) -> Context:
    """The rank layout torchrun gave this process; a plain process is rank 0 of 1."""
    env = os.environ if env is None else env
    if not launched_by_torchrun(env):
        return SINGLE
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local_rank = int(env.get("LOCAL_RANK", rank))
        local_world = int(env.get("LOCAL_WORLD_SIZE", world))
    except ValueError:
        found = {k: env.get(k) for k in LAUNCH_ENV}
        raise FramecacheError(f"launcher environment {found} is not a set of integers; start with torchrun") from None
    if not (0 <= rank < world and 0 <= local_rank < local_world):
        raise FramecacheError(
            f"launcher environment RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local_rank} "
            f"LOCAL_WORLD_SIZE={local_world} is inconsistent; start with torchrun"
        )
    return Context(rank, world, local_rank, local_world)


@contextlib.contextmanager
def process_group(timeout_minutes: float) -> Iterator[Context]:
    """Join the torchrun job (gloo backend) for the block and leave it after; a plain process gets
    :data:`SINGLE` and no group. ``timeout_minutes`` bounds each collective, i.e. how long ranks that
    finished wait for the slowest one."""
    ctx = context_from_env()
    if not ctx.distributed:
        yield ctx
        return
    import torch.distributed

    torch.distributed.init_process_group(
        backend="gloo", timeout=timedelta(minutes=timeout_minutes), rank=ctx.rank, world_size=ctx.world_size
    )
    try:
        yield ctx
    finally:
        torch.distributed.destroy_process_group()


def rank_device(device: torch.device, ctx: Context) -> torch.device:
    """The device this rank computes on: for CUDA, GPU ``local_rank`` of its node (shared round-robin when
    a node runs more ranks than it has GPUs)."""
    if not ctx.distributed or device.type != "cuda":
        return device
    import torch

    n = torch.cuda.device_count()
    if ctx.local_world_size > n:
        log.warning("%d processes on this node share %d GPU(s)", ctx.local_world_size, n)
    index = ctx.local_rank % n
    torch.cuda.set_device(index)  # pinned buffers and kernels of this rank go to its own GPU
    return torch.device("cuda", index)


def cpu_threads(requested: int | None, ctx: Context) -> int | None:
    """torch intra-op threads for a process computing on CPU: ``requested`` when set; else, under torchrun,
    the node's cores split between its ranks (so they do not oversubscribe them); else None (torch's own)."""
    if requested is not None:
        return int(requested)
    if not ctx.distributed:
        return None
    return max(1, available_cores() // ctx.local_world_size)


# --------------------------------------------------------------------------------------------------------
# Sharding


def stable_hash(key: str) -> str:
    """The same value in every process, run and machine (unlike Python's salted ``hash``)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def shard(keys: Sequence[str], weights: Sequence[int], world_size: int) -> list[list[int]]:
    """Split items ``0..n-1`` between ``world_size`` ranks: returns each rank's item indices, ascending.

    Greedy longest-processing-time: items by weight descending (ties by ``stable_hash(key)``), each to the
    least-loaded rank (ties to the lowest rank). Depends only on the set of (key, weight) pairs, not on
    their order; rank loads differ by at most the largest weight. Weights below 1 count as 1.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if len(keys) != len(weights):
        raise ValueError(f"{len(keys)} keys but {len(weights)} weights")
    order = sorted(range(len(keys)), key=lambda i: (-max(1, weights[i]), stable_hash(keys[i]), keys[i]))
    loads = [(0, r) for r in range(world_size)]
    shards: list[list[int]] = [[] for _ in range(world_size)]
    for i in order:
        load, r = heapq.heappop(loads)
        shards[r].append(i)
        heapq.heappush(loads, (load + max(1, weights[i]), r))
    return [sorted(s) for s in shards]


# --------------------------------------------------------------------------------------------------------
# Launching under torchrun from a plain command (DVC)


def torchrun_command(module: str, argv: Sequence[str], processes: int) -> list[str]:
    """``torchrun --standalone --nproc-per-node N -m module argv...`` with this interpreter."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
        "-m", module, *argv,
    ]  # fmt: skip


def relaunch(module: str, argv: Sequence[str], processes: int, env: Mapping[str, str] | None = None) -> int:
    """Run ``python -m module argv`` as ``processes`` ranks on this machine, with ``env`` added to the
    environment; returns torchrun's exit status."""
    cmd = torchrun_command(module, argv, processes)
    log.info("starting %d processes: %s", processes, " ".join(cmd))
    return subprocess.run(cmd, check=False, env={**os.environ, **(env or {})}).returncode


__all__ = [
    "SINGLE",
    "Context",
    "context_from_env",
    "cpu_threads",
    "launched_by_torchrun",
    "process_group",
    "rank_device",
    "relaunch",
    "shard",
    "stable_hash",
    "torchrun_command",
]
