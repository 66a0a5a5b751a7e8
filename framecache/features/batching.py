"""Batching for extraction: videos decoded in DataLoader workers, their frames cut into fixed-size batches
across video boundaries, and the backbone run on each batch.

Decoding runs in worker processes (:class:`DecodeDataset`, one item per video, never raising for a bad one):
:func:`framecache.video.decode.load_sample` keeps only the sampled frames, already resized and cropped. The
main process cuts the stream of frames into batches (:func:`batched_features`) and runs the model
(:class:`BatchRunner`): fp32 channels_last on CPU; AMP (bf16 where supported, else fp16), channels_last,
pinned staging buffers and non-blocking copies on CUDA, with the next batch launched before the previous
one's features are fetched. After a full batch, the last one is padded to the full batch size, so every
forward pass has the same shape and a frame's features never depend on which frames shared its batch (on
CPU they are bitwise identical). Frames that do not fill one batch run as one batch of just their size:
padding then would only allocate memory the data never needs (a batch size of 512 for a few videos).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from framecache.backbones.build import Backbone
from framecache.errors import VideoError
from framecache.video.decode import load_sample
from framecache.video.frames import Geometry
from framecache.video.sampling import Sampling


@dataclass(frozen=True)
class VideoJob:
    pos: int  # caller's key
    path: str


# FFmpeg frame threads per video at most: a seek restarts the threads' pipeline, so with 16 samples more
# threads mostly wait (2 threads: 1.6x on a lone 1080p clip, 1.4x through the stage's loader; BENCHMARKS.md
# "Decoding").
MAX_DECODER_THREADS = 4


class DecodeDataset(Dataset):
    """Item i: the decoded sample of video i, or the reason it failed. Never raises for a bad video.

    ``workers`` decode at once (0: the caller's process), with ``decode_cores`` cores left to them by the model:
    each video gets its share of those cores as FFmpeg threads — one per worker while every worker is busy,
    more for the last videos (fewer left than workers: the end of a run, or a share smaller than the workers).
    """

    def __init__(
        self, jobs: Sequence[VideoJob], sampling: Sampling, geometry: Geometry, workers: int = 0, decode_cores: int = 0
    ):
        self.jobs = list(jobs)
        self.sampling = sampling
        self.geometry = geometry
        self.workers = workers
        self.decode_cores = decode_cores

    def __len__(self) -> int:
        return len(self.jobs)

    def threads(self, i: int) -> int:
        """FFmpeg threads for video i: the decode cores split between the videos still to decode, at most one
        per worker (items go to the workers in order, so from video i on, ``len - i`` are left)."""
        at_once = max(1, min(self.workers, len(self.jobs) - i))
        return max(1, min(MAX_DECODER_THREADS, self.decode_cores // at_once))

    def __getitem__(self, i: int) -> dict[str, Any]:
        job = self.jobs[i]
        start = time.perf_counter()
        try:
            sample = load_sample(job.path, self.sampling, self.geometry, threads=self.threads(i))
        except VideoError as exc:
            return {"pos": job.pos, "error": exc.reason, "decode_seconds": time.perf_counter() - start}
        except Exception as exc:  # a decoder bug on one odd file must not stop a long extraction
            reason = f"unexpected {type(exc).__name__} while decoding: {exc}"
            return {"pos": job.pos, "error": reason, "decode_seconds": time.perf_counter() - start}
        return {
            "pos": job.pos,
            "error": None,
            # a tensor travels between processes through shared memory instead of being pickled
            "frames": torch.from_numpy(sample.frames),
            "sample": dataclasses.replace(sample, frames=np.zeros((0,), np.uint8)),
            "decode_seconds": time.perf_counter() - start,
        }


def identity(item: Any) -> Any:
    """The DataLoader's collate function: items travel one by one, as the dataset made them."""
    return item


# --------------------------------------------------------------------------------------------------------
# The model side: fixed-shape batches across videos


@dataclass
class _Pending:
    item: dict[str, Any]
    out: np.ndarray | None = None  # (n_distinct, k) float32
    done: int = 0

    @property
    def rows(self) -> int:
        return 0 if self.item["error"] else len(self.item["frames"])

    @property
    def complete(self) -> bool:
        return self.done >= self.rows


class BatchRunner:
    """Runs a backbone on fixed-size uint8 frame batches; on CUDA one batch stays in flight."""

    def __init__(self, backbone: Backbone, batch_size: int, amp: torch.dtype | None):
        self.backbone = backbone
        self.batch_size = batch_size
        self.amp = amp
        self.device = backbone.device
        self.model_seconds = 0.0
        self._cuda = self.device.type == "cuda"
        if self._cuda:
            torch.backends.cudnn.benchmark = True  # every batch has the same shape: tune once, reuse
        self._staging: list[torch.Tensor] = []
        self._turn = 0

    def _stage(self, frames: torch.Tensor) -> torch.Tensor:
        if not self._cuda:
            return frames
        if not self._staging:
            # two pinned buffers: one can be filled while the other's copy to the GPU is in flight
            self._staging = [torch.empty(frames.shape, dtype=torch.uint8).pin_memory() for _ in range(2)]
        buf = self._staging[self._turn]
        self._turn ^= 1
        buf.copy_(frames)
        return buf.to(self.device, non_blocking=True)

    def launch(self, frames: torch.Tensor) -> torch.Tensor:
        """Start the forward pass of one full batch ``(B, H, W, 3)`` uint8; returns the features handle."""
        start = time.perf_counter()
        x = self._stage(frames)
        autocast = (
            torch.autocast(device_type="cuda", dtype=self.amp) if self.amp is not None else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            feats = self.backbone.model(self.backbone.normalize(x))
        out = feats.float()
        self.model_seconds += time.perf_counter() - start
        return out

    def collect(self, handle: torch.Tensor, n: int) -> np.ndarray:
        start = time.perf_counter()
        result = handle[:n].cpu().numpy()
        self.model_seconds += time.perf_counter() - start
        return result


class _Batcher:
    """Cuts the frames of the videos added to it into full batches in arrival order; one batch stays in
    flight (launched, its features not yet fetched) while the next is cut."""

    def __init__(self, runner: BatchRunner):
        self.runner = runner
        self.staged: deque[_Pending] = deque()  # videos with frames not yet in a batch
        self.staged_offset = 0  # rows of staged[0] already batched
        self.staged_rows = 0
        self.in_flight: tuple[torch.Tensor, list[tuple[_Pending, int, int]], int] | None = None
        self.full_shape_run = False  # a full batch ran: pad the last one to its shape

    def add(self, pending: _Pending) -> None:
        if pending.rows:
            self.staged.append(pending)
            self.staged_rows += pending.rows
        while self.staged_rows >= self.runner.batch_size:
            self._next_batch(final=False)

    def drain(self) -> None:
        """Run the remaining frames (the last batch padded) and fetch every result."""
        while self.staged_rows > 0:
            self._next_batch(final=self.staged_rows <= self.runner.batch_size)
        if self.in_flight is not None:
            self._finish(self.in_flight)

    def _cut(self) -> tuple[torch.Tensor, list[tuple[_Pending, int, int]], int]:
        """The next batch: (frames, (video, its first row, batch row) per video in it, real rows)."""
        bsz = self.runner.batch_size
        parts, segments, rows = [], [], 0
        while self.staged and rows < bsz:
            job = self.staged[0]
            take = min(bsz - rows, job.rows - self.staged_offset)
            parts.append(job.item["frames"][self.staged_offset : self.staged_offset + take])
            segments.append((job, self.staged_offset, rows))
            rows += take
            self.staged_offset += take
            if self.staged_offset == job.rows:
                self.staged.popleft()
                self.staged_offset = 0
        self.staged_rows -= rows
        batch = torch.cat(parts) if len(parts) > 1 else parts[0]
        self.full_shape_run |= rows == bsz
        if rows < bsz and self.full_shape_run:
            # pad: the same batch shape for every pass, so results never depend on batch composition
            pad = torch.zeros((bsz - rows, *batch.shape[1:]), dtype=batch.dtype)
            batch = torch.cat([batch, pad])
        return batch, segments, rows

    def _next_batch(self, final: bool) -> None:
        batch, segments, rows = self._cut()
        handle = self.runner.launch(batch)
        previous, self.in_flight = self.in_flight, (handle, segments, rows)
        if previous is not None:
            self._finish(previous)
        if final:
            self._finish(self.in_flight)
            self.in_flight = None

    def _finish(self, flight: tuple[torch.Tensor, list[tuple[_Pending, int, int]], int]) -> None:
        handle, segments, rows = flight
        feats = self.runner.collect(handle, rows)
        k = self.runner.backbone.k
        for idx, (job, job_lo, batch_lo) in enumerate(segments):
            batch_hi = segments[idx + 1][2] if idx + 1 < len(segments) else rows
            n = batch_hi - batch_lo
            if job.out is None:
                job.out = np.empty((job.rows, k), dtype=np.float32)
            job.out[job_lo : job_lo + n] = feats[batch_lo:batch_hi]
            job.done += n


def batched_features(
    items: Iterable[dict[str, Any]], runner: BatchRunner
) -> Iterator[tuple[dict[str, Any], np.ndarray | None]]:
    """Yield (item, features of its distinct frames) in input order; frames from consecutive videos share
    batches. Failed items pass through with None."""
    batcher = _Batcher(runner)
    order: deque[_Pending] = deque()
    for item in items:
        pending = _Pending(item)
        order.append(pending)
        batcher.add(pending)
        while order and order[0].complete:
            done = order.popleft()
            yield done.item, done.out
    batcher.drain()
    while order:
        done = order.popleft()
        yield done.item, done.out
