"""Where computation runs: the torch device a setting names, and how many CPU threads a block may use.

Shared by extraction, training and the torchrun path, so ``auto``/``cpu``/``cuda`` mean the same everywhere
and a missing GPU gives the same message naming the key that asked for it. torch is imported lazily: a
pooled head's train stage never pays for loading it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

from framecache.errors import FramecacheError

DEVICES = ("auto", "cpu", "cuda")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, e.g. under a SLURM or container limit)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def resolve_device(device: str, key: str = "device") -> Any:
    """``auto`` → CUDA when torch sees a GPU, else CPU; ``cuda`` without a GPU is a user error naming ``key``."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in DEVICES:
        raise FramecacheError(f"{key} = {device!r} is not allowed: expected one of {', '.join(map(repr, DEVICES))}")
    if device == "cuda" and not torch.cuda.is_available():
        raise FramecacheError(f"{key} = 'cuda' but torch sees no CUDA GPU here; use 'auto' (GPU when present) or 'cpu'")
    return torch.device(device)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch runs with ``n`` intra-op threads inside the block (None: unchanged). Loads torch."""
    if n is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS/OpenMP and, when it is already loaded, torch to ``n`` CPU threads inside the block.

    The heads' matrices are small: on a busy machine extra threads mostly spin and wait for each other.
    torch is not imported here, so a stage that never loads it does not pay for it.
    """
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    with contextlib.ExitStack() as stack:
        if torch is not None:
            stack.enter_context(torch_threads(n))
        stack.enter_context(threadpool_limits(limits=n))
        yield
