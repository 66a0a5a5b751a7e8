"""Fitting several heads at once: the fits of a group k-fold run (every fold of every repeat, and the refit on
all videos) are independent of each other, so they run in up to ``train.jobs`` forked processes, one core each.

A fit gives the same head whichever process runs it: each head seeds itself from its ``random_state`` and runs
with the same thread count, so the predictions are bit for bit those of the fits run one after another (a
test checks it). The processes are forked, so they share the parent's feature sequences without copying
them (only the fitted heads travel back, as plain pickles); forking is safe because the parent has run no parallel
torch or BLAS work yet. Heads that train on a GPU are fitted one after another: CUDA cannot be used in a
forked child of a process that initialised it, and one GPU gains nothing from several processes.
"""

from __future__ import annotations

import multiprocessing
import pickle
import sys
from collections.abc import Callable, Sequence
from typing import Any

from framecache.compute import available_cores, cpu_threads

# (fit one task, the tasks, threads per fit): what a forked worker reads; set only while a pool runs
_WORK: tuple[Callable[..., Any], Sequence[Any], int | None] | None = None


def resolve_jobs(jobs: int | str, threads: int | None, tasks: int) -> int:
    """Processes for ``tasks`` fits: ``jobs``, or for ``auto`` one per core; never more than the fits. Only
    one-thread fits (``train.cpu_threads: 1``, the default) run in several processes: a process forked from one
    whose OpenMP threads have run can hang when its own fit starts threads, so other thread counts (and null,
    the libraries' defaults) fit one at a time."""
    if threads != 1:
        return 1
    if jobs == "auto":
        jobs = available_cores()
    return max(1, min(int(jobs), tasks))


def on_gpu(device: str) -> bool:
    """Would torch heads with ``train.device = device`` train on a GPU? (Asks torch only when it is loaded: a
    stage that never loaded torch trains no torch head.)"""
    if device == "cpu":
        return False
    torch = sys.modules.get("torch")
    return device == "cuda" or (torch is not None and torch.cuda.is_available())


def fit_all(fit: Callable[..., Any], tasks: Sequence[tuple], jobs: int, threads: int | None) -> list[Any]:
    """``[fit(*task) for task in tasks]``, in order, run by ``jobs`` forked processes when ``jobs`` > 1."""
    global _WORK
    if jobs <= 1 or len(tasks) <= 1:
        with cpu_threads(threads):
            return [fit(*task) for task in tasks]
    _WORK = (fit, tasks, threads)
    try:
        with multiprocessing.get_context("fork").Pool(jobs) as pool:
            # chunksize 1: fits differ in length (early stopping), so each process takes the next one when free
            return [pickle.loads(done) for done in pool.map(_fit_task, range(len(tasks)), chunksize=1)]
    finally:
        _WORK = None


def _fit_task(i: int) -> bytes:
    """Fit task ``i`` in a worker; the result travels back as plain pickle bytes: multiprocessing's own pickler
    would hand torch tensors over through shared-memory file descriptors (torch registers that reduction), which
    can block in a process forked from one that has used them."""
    assert _WORK is not None, "a fit task outside fit_all"
    fit, tasks, threads = _WORK
    with cpu_threads(threads):
        return pickle.dumps(fit(*tasks[i]), protocol=pickle.HIGHEST_PROTOCOL)
