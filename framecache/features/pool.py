"""The decode pool of the process that runs the model: CPU worker processes (:mod:`framecache.features.workers`)
and, on a GPU host with NVDEC, decoding threads, all taking videos from one :class:`JobCounter` and handing
them over as they finish — not in manifest order (the store is assembled in manifest order anyway).

Worker processes are forked when the pool is made, before CUDA is initialised (the model is built next, while
they decode). NVDEC threads take videos from the back of the list, decode them on the GPU and leave their
frames there; a video NVDEC cannot decode is decoded on the CPU in the same thread, with the reason in its
note. Beside CPU workers (``extract.decoder: auto``) the threads stop taking videos once most of theirs were
refused (a dataset in a codec NVDEC does not take): the workers then decode the rest.

A worker that dies (a decoder crash on one odd file) costs only the video it was decoding, reported as failed;
videos no one is left to decode are decoded in this process.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np
import torch

from framecache.errors import VideoError
from framecache.features.batching import VideoJob
from framecache.features.workers import (
    SLOTS_PER_WORKER,
    Decoded,
    JobCounter,
    WorkerSetup,
    decode_inline,
    decode_job,
    shared_slab,
    slab_bytes,
    without_frames,
    work,
)
from framecache.video.decoders import Decoder

# Beside CPU workers, NVDEC threads stop taking videos once they had this many refused, and more than they
# decoded.
GIVE_UP_AFTER = 8
# Videos an NVDEC thread may have decoded and not yet handed over, at most: their frames wait on the GPU.
GPU_AHEAD = 4
GPU_SLOT = (-1, -1)  # the slot of an NVDEC thread's video: its permit goes back to the threads


class DecodePool:
    """``workers`` processes (decoding with ``decoder`` into a shared slab) and ``gpu_threads`` threads
    (decoding with ``gpu``); iterate for :class:`Decoded` videos in the order they finish, :meth:`release`
    each one once its frames are copied, :meth:`close` at the end. ``rows``: the most frames one video gives."""

    def __init__(
        self,
        jobs: Sequence[VideoJob],
        decoder: Decoder,
        workers: int,
        decode_cores: int,
        rows: int,
        gpu: Decoder | None = None,
        gpu_threads: int = 0,
    ):
        ctx = multiprocessing.get_context("fork")
        self.jobs, self.decoder, self.decode_cores = list(jobs), decoder, decode_cores
        self.counter = JobCounter(ctx, len(self.jobs), workers)
        crop = decoder.geometry.crop
        per_worker = max(2, min(SLOTS_PER_WORKER, slab_bytes() // max(1, workers * rows * crop * crop * 3)))
        self.slab = shared_slab((workers, per_worker if workers else 0, rows, crop, crop, 3))
        setup = WorkerSetup(self.jobs, self.counter, decoder, self.slab, workers, decode_cores, os.getpid())
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for w in range(workers):
            mine, theirs = ctx.Pipe(duplex=True)
            args = (w, setup, theirs, [*self.conns, mine])
            proc = ctx.Process(target=work, args=args, daemon=True, name=f"decode-{w}")
            proc.start()
            theirs.close()
            self.conns.append(mine)
            self.procs.append(proc)
        self.delivered: set[int] = set()
        self.gpu = _GpuThreads(self, gpu, gpu_threads, alone=not workers) if gpu is not None and gpu_threads else None

    def __iter__(self) -> Iterator[Decoded]:
        live = dict(enumerate(self.conns))
        by_sentinel = {p.sentinel: w for w, p in enumerate(self.procs)}
        while live or (self.gpu and self.gpu.running):
            waited = [*live.values(), *(self.procs[w].sentinel for w in live)]
            for ready in wait(waited + ([self.gpu.wake] if self.gpu and self.gpu.running else [])):
                if self.gpu is not None and ready == self.gpu.wake:
                    yield from self.gpu.results()
                    continue
                w = self.conns.index(ready) if isinstance(ready, Connection) else by_sentinel.get(ready)
                if w is not None and w in live:
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
        i = self.counter.current[w]
        if 0 <= i < len(self.jobs) and i not in self.delivered:
            self.delivered.add(i)
            reason = f"the decoding worker died on this video (exit code {proc.exitcode})"
            yield Decoded(self.jobs[i], None, None, reason, 0.0)

    def _leftovers(self) -> Iterator[Decoded]:
        """Jobs no one took (every worker died): decoded here."""
        yield from decode_inline([self.jobs[i] for i in self.counter.stop()], self.decoder, self.decode_cores)

    def release(self, item: Decoded) -> None:
        """Hand ``item``'s slot back to its worker, or its permit to the NVDEC threads (its frames are copied)."""
        if item.slot is None:
            return
        w, slot = item.slot
        item.slot, item.frames = None, None
        if w == GPU_SLOT[0] and self.gpu is not None:
            self.gpu.permits.release()
            return
        with contextlib.suppress(OSError):  # the worker is gone: its slots with it
            self.conns[w].send_bytes(bytes((slot,)))

    def close(self) -> None:
        """Stop the workers (those still decoding are stopped: their videos are not wanted any more)."""
        self.counter.stop()
        for conn in self.conns:
            conn.close()
        if self.gpu is not None:
            self.gpu.close()
        for proc in self.procs:
            proc.join(timeout=1.0)
            if proc.is_alive():
                proc.terminate()
                proc.join()


class _GpuThreads:
    """NVDEC decoding threads of a :class:`DecodePool`; ``wake`` (a pipe's read end) is readable when they
    have results. ``alone``: no CPU workers beside them, so they never give up."""

    def __init__(self, pool: DecodePool, decoder: Decoder, threads: int, alone: bool):
        self.pool, self.decoder, self.alone = pool, decoder, alone
        self.queue: queue.SimpleQueue[Decoded | None] = queue.SimpleQueue()
        self.wake, self._signal = os.pipe()
        self.decoded = self.refused = 0
        self.lock = threading.Lock()
        self.permits = threading.Semaphore(GPU_AHEAD * threads)
        self.stopping = False
        self.threads = [threading.Thread(target=self._run, daemon=True, name=f"nvdec-{t}") for t in range(threads)]
        self.running = len(self.threads)
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        try:
            while self._permit():
                taken = None if self._given_up() else self.pool.counter.take(back=True)
                if taken is None:
                    self.permits.release()
                    return
                item = self._decode(self.pool.jobs[taken[0]])
                item.slot = GPU_SLOT
                self._put(item)
        finally:
            self._put(None)

    def _permit(self) -> bool:
        """Wait until fewer than GPU_AHEAD * threads decoded videos wait for the main process; False once the
        pool is closing."""
        while not self.stopping:
            if self.permits.acquire(timeout=0.5):
                return True
        return False

    def _decode(self, job: VideoJob) -> Decoded:
        """``job`` decoded by NVDEC, or on the CPU with NVDEC's reason in its note when NVDEC cannot."""
        from framecache.video.nvdec import NvdecRefused

        start = time.perf_counter()
        try:
            sample = self.decoder.load(job.path)
        except Exception as exc:  # whatever NVDEC cannot do, the CPU tries, and says why it had to
            with self.lock:
                self.refused += isinstance(exc, NvdecRefused)
            why = exc.reason if isinstance(exc, NvdecRefused | VideoError) else f"{type(exc).__name__}: {exc}"
            reason = why if isinstance(exc, NvdecRefused) else f"NVDEC could not decode it ({why})"
            sample, error, seconds = decode_job(job, self.pool.decoder, 1)
            if sample is None:
                return Decoded(job, None, None, error, time.perf_counter() - start)
            sample.note = "; ".join(filter(None, [sample.note, f"decoded on the CPU: {reason}"]))
            return Decoded(job, without_frames(sample), torch.from_numpy(sample.frames), None, seconds)
        with self.lock:
            self.decoded += 1
        return Decoded(job, without_frames(sample), sample.frames, None, time.perf_counter() - start)

    def _given_up(self) -> bool:
        with self.lock:
            return not self.alone and self.refused >= GIVE_UP_AFTER and self.refused > self.decoded

    def _put(self, item: Decoded | None) -> None:
        self.queue.put(item)
        with contextlib.suppress(OSError):
            os.write(self._signal, b"\0")

    def results(self) -> Iterator[Decoded]:
        """The decoded videos waiting; a thread that finished leaves ``running``."""
        os.read(self.wake, 1 << 16)
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is None:
                self.running -= 1
            else:
                yield item

    def close(self) -> None:
        self.stopping = True
        for thread in self.threads:
            thread.join(timeout=30)
        for fd in (self.wake, self._signal):
            with contextlib.suppress(OSError):
                os.close(fd)
