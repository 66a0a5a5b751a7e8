"""Decode workers: what a video's decoding takes wherever it runs — the shared list of jobs, one video's
decode that never raises, the shared-memory slab — and the loop of a worker process.

Jobs are taken from a shared :class:`JobCounter`: CPU worker processes from the front, NVDEC threads (if any)
from the back, each the next one as soon as it is free, so nobody waits on anybody however long a video takes.
A worker decodes a video's sampled frames, copies them into one of its own slots of a slab of shared memory
set up once before the workers start (:func:`shared_slab`), and sends a small message — which video, which
slot, the sample's metadata — through its own pipe; the main process copies the frames out into a batch and
sends the slot back through the same pipe (:mod:`framecache.features.pool`). A worker out of slots waits for
one: memory stays bounded by the slab.
"""

from __future__ import annotations

import dataclasses
import math
import mmap
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import torch

from framecache.errors import VideoError
from framecache.features.batching import VideoJob
from framecache.video.decode import VideoSample
from framecache.video.decoders import Decoder

# FFmpeg frame threads per video at most: a seek restarts the threads' pipeline, so with 16 samples more
# threads mostly wait (2 threads: 1.6x on a lone 1080p clip, 1.4x through the stage's loader; BENCHMARKS.md
# "Decoding").
MAX_DECODER_THREADS = 4
# Slots per worker, at most: enough for a worker to decode ahead while the main process builds the model
# (16 videos of 91 ms each on the 16-core GPU host: ~1.5 s) or stops for a journal checkpoint.
SLOTS_PER_WORKER = 16
# The slab holds at most this much (bytes), and at most 1/16 of the machine's memory: fewer slots per worker
# (at least 2) when frames are large or workers many.
SLAB_BYTES = 1 << 30
# How often (s) a worker waiting for a slot checks that the main process is still there.
PARENT_CHECK_SECONDS = 1.0


@dataclass
class Decoded:
    """One video out of the decoders: ``frames`` ``(n, H, W, 3)`` uint8 (a view of a slot until released, or
    on the GPU from NVDEC), the sample's metadata (its ``frames`` left empty), or the reason it failed."""

    job: VideoJob
    sample: VideoSample | None
    frames: torch.Tensor | None
    error: str | None
    decode_seconds: float
    slot: tuple[int, int] | None = None  # (worker, slot) to hand back


class JobCounter:
    """Which jobs are taken: the front ones by CPU workers, the back ones by NVDEC threads; shared by forked
    processes and threads alike. ``current[w]``: the job worker process ``w`` took last."""

    def __init__(self, ctx: Any, jobs: int, workers: int):
        self.bounds = ctx.Array("q", [0, jobs])  # [first not taken, last not taken + 1]
        self.current = ctx.Array("q", [-1] * workers, lock=False)

    def take(self, worker: int | None = None, back: bool = False) -> tuple[int, int] | None:
        """(job, jobs left including it), or None when every job is taken."""
        with self.bounds.get_lock():
            lo, hi = self.bounds[0], self.bounds[1]
            if lo >= hi:
                return None
            i = hi - 1 if back else lo
            self.bounds[int(back)] = i if back else lo + 1
            if worker is not None:
                self.current[worker] = i
            return i, hi - lo

    def stop(self) -> range:
        """Take nothing more; the jobs nobody took."""
        with self.bounds.get_lock():
            lo, hi = self.bounds[0], self.bounds[1]
            self.bounds[0] = hi
        return range(lo, hi)


def decoder_threads(left: int, workers: int, decode_cores: int) -> int:
    """FFmpeg threads for a video taken with ``left`` jobs left (it included): the decode cores split between
    the videos being decoded at once, one per worker while every worker is busy, more for the last videos."""
    at_once = max(1, min(workers, left))
    return max(1, min(MAX_DECODER_THREADS, decode_cores // at_once))


def decode_job(job: VideoJob, decoder: Decoder, threads: int) -> tuple[VideoSample | None, str | None, float]:
    """(sample, None, seconds) or (None, reason, seconds); never raises for a bad video."""
    start = time.perf_counter()
    try:
        return decoder.load(job.path, threads=threads), None, time.perf_counter() - start
    except VideoError as exc:
        return None, exc.reason, time.perf_counter() - start
    except Exception as exc:  # a decoder bug on one odd file must not stop a long extraction
        return None, f"unexpected {type(exc).__name__} while decoding: {exc}", time.perf_counter() - start


def decode_inline(jobs: Sequence[VideoJob], decoder: Decoder, decode_cores: int) -> Iterator[Decoded]:
    """Decoded videos in order, decoded in this process as they are asked for."""
    for i, job in enumerate(jobs):
        sample, error, seconds = decode_job(job, decoder, decoder_threads(len(jobs) - i, 1, decode_cores))
        frames = None if sample is None else torch.from_numpy(sample.frames)
        yield Decoded(job, without_frames(sample), frames, error, seconds)


def without_frames(sample: VideoSample | None) -> VideoSample | None:
    return None if sample is None else dataclasses.replace(sample, frames=np.zeros((0,), np.uint8))


def slab_bytes() -> int:
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform
        return SLAB_BYTES
    return min(SLAB_BYTES, memory // 16)


def shared_slab(shape: tuple[int, ...]) -> torch.Tensor:
    """A uint8 tensor in anonymous shared memory, shared with the processes forked after it: not a file in
    /dev/shm, so a container's small /dev/shm (Docker's 64 MB) does not limit it. Pages are allocated as the
    workers first write them."""
    size = math.prod(shape)
    if not size:
        return torch.empty(shape, dtype=torch.uint8)
    mapping = mmap.mmap(-1, size)  # MAP_SHARED | MAP_ANONYMOUS
    return torch.frombuffer(mapping, dtype=torch.uint8).view(shape)


# -------------------------------------------------------------------------------------------- a worker
@dataclass
class WorkerSetup:
    """What a worker process is given when it is forked."""

    jobs: Sequence[VideoJob]
    counter: JobCounter
    decoder: Decoder
    slab: torch.Tensor  # (workers, slots, rows, crop, crop, 3)
    workers: int
    decode_cores: int
    parent: int  # the main process's pid


def work(w: int, setup: WorkerSetup, conn: Connection, inherited: Sequence[Connection]) -> None:
    """Worker process ``w``: decode jobs until none is left, each into a free slot of its own."""
    for other in inherited:  # the main process's ends: a pipe must see EOF when the main process is gone
        other.close()
    torch.set_num_threads(1)  # one core per worker: the workers are the parallelism
    free = list(range(setup.slab.shape[1]))
    slots = setup.slab[w].numpy()
    try:
        while (taken := setup.counter.take(w)) is not None:
            i, left = taken
            threads = decoder_threads(left, setup.workers, setup.decode_cores)
            sample, error, seconds = decode_job(setup.jobs[i], setup.decoder, threads)
            if sample is None:
                conn.send((i, None, 0, None, error, seconds))
                continue
            n = len(sample.frames)
            if n > slots.shape[1]:  # more frames than a slot holds (never with the stage's sampling): sent whole
                conn.send((i, sample.frames, n, without_frames(sample), None, seconds))
                continue
            while not free:
                free += _returned(conn, setup.parent, block=True)
            slot = free.pop()
            slots[slot, :n] = sample.frames
            conn.send((i, slot, n, without_frames(sample), None, seconds))
            free += _returned(conn, setup.parent, block=False)
        conn.send(None)
    except (BrokenPipeError, ConnectionResetError, EOFError, KeyboardInterrupt):
        pass  # the main process stopped or is gone: nothing left to decode for
    finally:
        conn.close()


def _returned(conn: Connection, parent: int, block: bool) -> list[int]:
    """Slots the main process handed back; with ``block``, waits for at least one."""
    while block and not conn.poll(PARENT_CHECK_SECONDS):
        if os.getppid() != parent:
            raise EOFError  # the main process is gone (killed): stop
    back = []
    while conn.poll():
        back += list(conn.recv_bytes())
    return back
