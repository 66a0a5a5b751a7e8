"""Decode workers: processes that decode videos into reusable shared-memory slots and hand them to the main
process as they finish.

Each worker takes the next video to decode from a shared counter (no worker waits on another, however
long a video takes), decodes its sampled frames (:func:`framecache.video.decode.load_sample`), copies them
into one of its own slots of a shared-memory slab allocated once before the workers start, and sends a small
message — which video, which slot, the sample's metadata — through its own pipe. The main process copies
the frames out of the slot into a batch and sends the slot back through the same pipe. So videos arrive in
the order they finish, not in manifest order (the store is assembled in manifest order anyway), no shared
memory is set up per video, and one slow video holds back only its own worker. A worker that runs out of
slots waits for one: memory stays bounded by the slab.

Without workers (``workers=0``) videos are decoded in the calling process, one at a time, as they are asked for.

A video that cannot be decoded is reported with its reason, never raised; a worker that dies (a decoder
crash on one odd file) costs only the video it was decoding, which is reported as failed, and the videos
no live worker is left to decode are decoded in the calling process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import mmap
import multiprocessing
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
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
    """One video out of the decoders: ``frames`` ``(n, H, W, 3)`` uint8 (a view of a slot until released), the
    sample's metadata (its ``frames`` left empty), or the reason it failed."""

    job: VideoJob
    sample: VideoSample | None
    frames: torch.Tensor | None
    error: str | None
    decode_seconds: float
    slot: tuple[int, int] | None = None  # (worker, slot) to hand back


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
    mapping = mmap.mmap(-1, max(1, math.prod(shape)))  # MAP_SHARED | MAP_ANONYMOUS
    return torch.frombuffer(mapping, dtype=torch.uint8).view(shape)


def decoder_threads(i: int, jobs: int, workers: int, decode_cores: int) -> int:
    """FFmpeg threads for video i of ``jobs``: the decode cores split between the videos still to decode, at
    most one per worker (videos are taken in order, so from video i on, ``jobs - i`` are left)."""
    at_once = max(1, min(workers, jobs - i))
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
        sample, error, seconds = decode_job(job, decoder, decoder_threads(i, len(jobs), 1, decode_cores))
        frames = None if sample is None else torch.from_numpy(sample.frames)
        yield Decoded(job, _without_frames(sample), frames, error, seconds)


def _without_frames(sample: VideoSample | None) -> VideoSample | None:
    return None if sample is None else dataclasses.replace(sample, frames=np.zeros((0,), np.uint8))


class DecodePool:
    """``workers`` processes decoding ``jobs`` into a shared slab; iterate for :class:`Decoded` videos in the
    order they finish, :meth:`release` each one's slot once its frames are copied, :meth:`close` at the end.

    Started by the constructor (forked: before CUDA is initialised, so the workers decode while the model is
    built). ``rows``: the most frames one video gives (what the sampling keeps at most)."""

    def __init__(self, jobs: Sequence[VideoJob], decoder: Decoder, workers: int, decode_cores: int, rows: int):
        ctx = multiprocessing.get_context("fork")
        self.jobs = list(jobs)
        self.workers = workers
        self.decoder = decoder
        self.decode_cores = decode_cores
        crop = decoder.geometry.crop
        slot_bytes = rows * crop * crop * 3
        per_worker = max(2, min(SLOTS_PER_WORKER, slab_bytes() // max(1, workers * slot_bytes)))
        self.slab = shared_slab((workers, per_worker, rows, crop, crop, 3))
        self.next = ctx.Value("q", 0)  # the next job to take, shared by the workers
        self.current = ctx.Array("q", [-1] * workers, lock=False)  # the job each worker is decoding
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for w in range(workers):
            mine, theirs = ctx.Pipe(duplex=True)
            args = (w, self, theirs, [*self.conns, mine], os.getpid())
            proc = ctx.Process(target=_work, args=args, daemon=True, name=f"decode-{w}")
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)
        self.delivered: set[int] = set()

    def __iter__(self) -> Iterator[Decoded]:
        live = dict(enumerate(self.conns))
        by_sentinel = {p.sentinel: w for w, p in enumerate(self.procs)}
        while live:
            for ready in wait([*live.values(), *(p.sentinel for w, p in enumerate(self.procs) if w in live)]):
                w = by_sentinel.get(ready) if not isinstance(ready, Connection) else self.conns.index(ready)
                if w is None or w not in live:
                    continue
                yield from self._receive(w, live)
        yield from self._leftovers()

    def _receive(self, w: int, live: dict[int, Connection]) -> Iterator[Decoded]:
        """Every message waiting from worker ``w``; if it has finished or died, it leaves ``live``."""
        conn = live[w]
        while True:
            try:
                if not conn.poll():
                    if self.procs[w].is_alive():
                        return
                    raise EOFError
                msg = conn.recv()
            except (EOFError, OSError):
                del live[w]
                yield from self._died(w)
                return
            if msg is None:  # finished: every job taken
                del live[w]
                return
            yield self._decoded(w, msg)

    def _decoded(self, w: int, msg: tuple) -> Decoded:
        i, slot, n, sample, error, seconds = msg
        self.delivered.add(i)
        job = self.jobs[i]
        if slot is None:
            return Decoded(job, sample, None, error, seconds)
        if isinstance(slot, np.ndarray):  # more frames than a slot holds: sent whole
            return Decoded(job, sample, torch.from_numpy(slot), error, seconds)
        return Decoded(job, sample, self.slab[w, slot, :n], error, seconds, slot=(w, slot))

    def _died(self, w: int) -> Iterator[Decoded]:
        proc = self.procs[w]
        proc.join(timeout=5)
        i = self.current[w]
        if 0 <= i < len(self.jobs) and i not in self.delivered:
            self.delivered.add(i)
            reason = f"the decoding worker died on this video (exit code {proc.exitcode})"
            yield Decoded(self.jobs[i], None, None, reason, 0.0)

    def _leftovers(self) -> Iterator[Decoded]:
        """Jobs no worker took (every worker died): decoded here."""
        with self.next.get_lock():
            first, self.next.value = self.next.value, len(self.jobs)
        yield from decode_inline(self.jobs[first:], self.decoder, self.decode_cores)

    def release(self, item: Decoded) -> None:
        """Hand ``item``'s slot back to its worker (its frames are no longer read)."""
        if item.slot is not None:
            w, slot = item.slot
            item.slot, item.frames = None, None
            with contextlib.suppress(OSError):  # the worker is gone: its slots with it
                self.conns[w].send_bytes(bytes((slot,)))

    def close(self) -> None:
        """Stop the workers (those still decoding are stopped: their videos are not wanted any more)."""
        with self.next.get_lock():
            self.next.value = len(self.jobs)
        for conn in self.conns:
            conn.close()
        for proc in self.procs:
            proc.join(timeout=1.0)
            if proc.is_alive():
                proc.terminate()
                proc.join()


# -------------------------------------------------------------------------------------------- the worker
def _work(w: int, pool: DecodePool, conn: Connection, inherited: list[Connection], parent: int) -> None:
    for other in inherited:  # the main process's ends: a pipe must see EOF when the main process is gone
        other.close()
    torch.set_num_threads(1)  # one core per worker: the workers are the parallelism
    free = list(range(pool.slab.shape[1]))
    slots = pool.slab[w].numpy()
    try:
        while (i := _take(pool, w)) is not None:
            threads = decoder_threads(i, len(pool.jobs), pool.workers, pool.decode_cores)
            sample, error, seconds = decode_job(pool.jobs[i], pool.decoder, threads)
            if sample is None:
                conn.send((i, None, 0, None, error, seconds))
                continue
            n = len(sample.frames)
            if n > slots.shape[1]:
                conn.send((i, sample.frames, n, _without_frames(sample), None, seconds))
                continue
            while not free:
                free += _returned(conn, parent, block=True)
            slot = free.pop()
            slots[slot, :n] = sample.frames
            conn.send((i, slot, n, _without_frames(sample), None, seconds))
            free += _returned(conn, parent, block=False)
        conn.send(None)
    except (BrokenPipeError, ConnectionResetError, EOFError, KeyboardInterrupt):
        pass  # the main process stopped or is gone: nothing left to decode for
    finally:
        conn.close()


def _take(pool: DecodePool, w: int) -> int | None:
    with pool.next.get_lock():
        i = pool.next.value
        if i >= len(pool.jobs):
            return None
        pool.next.value = i + 1
        pool.current[w] = i
    return i


def _returned(conn: Connection, parent: int, block: bool) -> list[int]:
    """Slots the main process handed back; with ``block``, waits for at least one."""
    while block and not conn.poll(PARENT_CHECK_SECONDS):
        if os.getppid() != parent:
            raise EOFError  # the main process is gone (killed): stop
    back = []
    while conn.poll():
        back += list(conn.recv_bytes())
    return back
