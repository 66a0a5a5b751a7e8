"""The decode pool (framecache.features.pool, .workers): every video delivered once, in the order videos finish
(a slow one holds back only its own worker), through a few reused shared-memory slots whose frames are never
overwritten before they are handed back; bad videos and a worker that dies are reported, never dropped; NVDEC
threads decode beside the workers, and what NVDEC cannot decode is decoded on the CPU with the reason noted.

The decoders are faked at their boundary (``load``): frames are a video's number, so a slot overwritten too
early or a frame sent to the wrong video shows.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from framecache.errors import VideoError
from framecache.features import pool as decode_pool
from framecache.features.batching import VideoJob
from framecache.features.embed import decode_source
from framecache.features.pool import GIVE_UP_AFTER, DecodePool
from framecache.video.decode import VideoSample
from framecache.video.frames import Geometry
from framecache.video.nvdec import NvdecRefused
from framecache.video.sampling import Sampling

SAMPLING, GEOMETRY = Sampling(num_frames=4), Geometry(resize=8, crop=8)


@dataclass(frozen=True)
class FakeDecoder:
    """Video ``v<i>`` gives ``1 + i % 4`` frames filled with i; ``slow``, ``bad`` and ``crash`` in a path make
    it slow, undecodable, or kill the process decoding it."""

    sampling: Sampling = SAMPLING
    geometry: Geometry = GEOMETRY
    name: str = "fake"

    def load(self, path, threads=1):
        if "crash" in path:
            os.kill(os.getpid(), signal.SIGKILL)
        if "bad" in path:
            raise VideoError("not a video")
        if "slow" in path:
            time.sleep(1.5)
        i = int(path.split("v")[-1])
        n = 1 + i % 4
        return VideoSample(
            frames=np.full((n, 8, 8, 3), i % 256, np.uint8),
            rows=np.arange(n),
            frame_index=np.arange(n),
            timestamp=np.arange(n, dtype=np.float64),
            policy="full",
            frames_total=n,
            frames_usable=n,
        )


def jobs(names):
    return [VideoJob(pos=i, path=name) for i, name in enumerate(names)]


def drain(pool_or_source, release, hold=0.0):
    """Every delivered item as (pos, frames copy or None, error), releasing each slot after ``hold`` s."""
    out = []
    for item in pool_or_source:
        frames = None if item.frames is None else item.frames.numpy().copy()
        time.sleep(hold)  # a slow consumer: the workers run out of slots and must wait
        if item.frames is not None:
            assert np.array_equal(item.frames.numpy(), frames), "a slot was overwritten before it was released"
        out.append((item.job.pos, frames, item.error))
        release(item)
    return out


def check_frames(out, names):
    for pos, frames, error in out:
        if error is None:
            i = int(names[pos].split("v")[-1])
            assert frames.shape == (1 + i % 4, 8, 8, 3) and (frames == i % 256).all()


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_every_video_is_delivered_once_with_its_own_frames(workers):
    names = [f"v{i}" for i in range(40)]
    source, release, stop = decode_source(jobs(names), FakeDecoder(), workers, decode_cores=0)
    try:
        out = drain(source, release, hold=0.002)
    finally:
        stop()
    assert sorted(pos for pos, _, _ in out) == list(range(40))
    check_frames(out, names)


def test_a_slow_video_holds_back_only_its_own_worker():
    names = ["slow-v0", *(f"v{i}" for i in range(1, 12))]
    pool = DecodePool(jobs(names), FakeDecoder(), 2, 0, 4)
    try:
        order = [pos for pos, _, _ in drain(pool, pool.release)]
    finally:
        pool.close()
    assert sorted(order) == list(range(12))
    assert order[-1] == 0  # the other worker decoded every other video meanwhile


def test_more_videos_than_slots_wait_for_slots_and_keep_their_frames(monkeypatch):
    monkeypatch.setattr(decode_pool, "SLOTS_PER_WORKER", 2)
    names = [f"v{i}" for i in range(12)]
    pool = DecodePool(jobs(names), FakeDecoder(), 1, 0, 4)
    assert pool.slab.shape[:2] == (1, 2)  # two slots, reused
    try:
        out = drain(pool, pool.release, hold=0.02)
    finally:
        pool.close()
    assert [pos for pos, _, _ in out] == list(range(12))
    check_frames(out, names)


def test_bad_videos_and_a_dead_worker_are_reported_and_the_rest_decoded():
    names = [f"v{i}" for i in range(8)]
    names[2], names[5] = "bad-v2", "crash-v5"
    pool = DecodePool(jobs(names), FakeDecoder(), 1, 0, 4)
    try:
        out = drain(pool, pool.release)
    finally:
        pool.close()
    errors = {pos: error for pos, _, error in out if error}
    assert sorted(pos for pos, _, _ in out) == list(range(8))  # after the crash, the rest decoded here
    assert errors[2] == "not a video"
    assert errors[5].startswith("the decoding worker died on this video") and str(-signal.SIGKILL) in errors[5]
    assert set(errors) == {2, 5}
    check_frames(out, names)


def test_closing_early_stops_the_workers():
    pool = DecodePool(jobs([f"slow-v{i}" for i in range(6)]), FakeDecoder(), 2, 0, 4)
    first = next(iter(pool))
    assert first.error is None
    start = time.perf_counter()
    pool.close()
    assert time.perf_counter() - start < 5
    assert not any(proc.is_alive() for proc in pool.procs)


def test_the_slab_is_bounded_by_memory_whatever_the_workers(monkeypatch):
    monkeypatch.setattr(decode_pool, "slab_bytes", lambda: 10 * 8 * 8 * 3 * 4)  # room for 10 slots of 4 frames
    pool = DecodePool(jobs(["v1"]), FakeDecoder(), 2, 0, 4)
    pool.close()
    assert pool.slab.shape[:2] == (2, 5)
    monkeypatch.setattr(decode_pool, "slab_bytes", lambda: 1)
    pool = DecodePool(jobs(["v1"]), FakeDecoder(), 2, 0, 4)
    pool.close()
    assert pool.slab.shape[:2] == (2, 2)  # never fewer than two a worker


@dataclass(frozen=True)
class FakeGpuDecoder(FakeDecoder):
    """NVDEC at its boundary: the same frames as a torch tensor, or refused (``refuse`` in the path, or all)."""

    name: str = "nvdec"
    refuse_all: bool = False

    def load(self, path, threads=1):
        if self.refuse_all or "refuse" in path:
            raise NvdecRefused("NVDEC does not decode mpeg4 here")
        sample = FakeDecoder.load(self, path)
        sample.decoding = "nvdec"
        return dataclasses.replace(sample, frames=torch.from_numpy(sample.frames))


def notes(pool):
    """(pos, note) of every video delivered, and the frames checked."""
    out = []
    for item in pool:
        if item.sample is not None:
            out.append((item.job.pos, item.sample.note, item.sample.decoding))
        pool.release(item)
    return out


def test_nvdec_threads_decode_beside_the_workers_and_what_nvdec_refuses_goes_to_the_cpu():
    names = [f"refuse-v{i}" if i % 7 == 3 else f"v{i}" for i in range(40)]
    pool = DecodePool(jobs(names), FakeDecoder(), 1, 0, 4, gpu=FakeGpuDecoder(), gpu_threads=2)
    try:
        out = drain(pool, pool.release)
    finally:
        pool.close()
    assert sorted(pos for pos, _, _ in out) == list(range(40)) and not any(error for _, _, error in out)
    check_frames(out, names)
    pool = DecodePool(jobs(names), FakeDecoder(), 1, 0, 4, gpu=FakeGpuDecoder(), gpu_threads=2)
    try:
        seen = notes(pool)
    finally:
        pool.close()
    by_nvdec = [pos for pos, _, how in seen if how == "nvdec"]
    assert by_nvdec and len(by_nvdec) < 40  # both decoded at once
    noted = {pos for pos, note, _ in seen if note == "decoded on the CPU: NVDEC does not decode mpeg4 here"}
    assert all("refuse" in names[pos] for pos in noted)
    assert 38 in noted  # among the first taken from the back by the NVDEC threads


def test_beside_workers_nvdec_gives_up_on_a_dataset_it_cannot_decode():
    names = [f"v{i}" for i in range(60)]
    pool = DecodePool(jobs(names), FakeDecoder(), 1, 0, 4, gpu=FakeGpuDecoder(refuse_all=True), gpu_threads=2)
    try:
        seen = notes(pool)
    finally:
        pool.close()
    assert sorted(pos for pos, _, _ in seen) == list(range(60))
    noted = [pos for pos, note, _ in seen if note.startswith("decoded on the CPU")]
    assert GIVE_UP_AFTER <= len(noted) <= GIVE_UP_AFTER + 2  # then the worker decoded the rest


def test_nvdec_alone_never_gives_up_and_notes_every_fallback():
    names = [f"v{i}" for i in range(12)]
    pool = DecodePool(jobs(names), FakeDecoder(), 0, 0, 4, gpu=FakeGpuDecoder(refuse_all=True), gpu_threads=2)
    try:
        out = drain(pool, pool.release)
    finally:
        pool.close()
    assert sorted(pos for pos, _, _ in out) == list(range(12))
    check_frames(out, names)


def test_nvdec_threads_wait_while_the_frames_they_decoded_are_not_handed_over(monkeypatch):
    """Frames NVDEC decoded wait on the GPU until the main process takes them: a bounded number."""
    monkeypatch.setattr(decode_pool, "GPU_AHEAD", 1)
    names = [f"v{i}" for i in range(12)]
    pool = DecodePool(jobs(names), FakeDecoder(), 0, 0, 4, gpu=FakeGpuDecoder(), gpu_threads=2)
    try:
        source = iter(pool)
        held = [next(source), next(source)]
        time.sleep(0.5)
        assert pool.counter.bounds[1] - pool.counter.bounds[0] == 10  # two taken; the threads wait
        for item in held:
            pool.release(item)
        rest = drain(source, pool.release)
    finally:
        pool.close()
    assert sorted(pos for pos, _, _ in rest) == list(range(10))
