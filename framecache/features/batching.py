"""Batching for extraction: the frames of decoded videos cut into fixed-size batches across video boundaries,
in the order the videos arrive, and the backbone run on each batch.

A video's frames are copied into the batch being filled as soon as it arrives (:class:`Batcher`), so the
memory they came in (a decode worker's shared-memory slot) is free again at once; a full batch is launched
on the model (:class:`BatchRunner`): fp32 channels_last on CPU; on CUDA AMP (bf16 where supported, else
fp16), channels_last, pinned host batches copied without blocking, and the features copied back without
blocking either — the main process waits only for a batch launched :data:`CUDA_IN_FLIGHT` batches earlier,
never for the GPU to run dry. Frames already on the GPU (decoded there) are copied into the batch on the
device.

After a full batch, the last one is padded to the full batch size, so every forward pass has the same shape
and a frame's features never depend on which frames shared its batch (on CPU they are bitwise identical,
whatever order the videos arrive in). Frames that do not fill one batch run as one batch of just their
size: padding then would only allocate memory the data never needs (a batch size of 512 for a few videos).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from framecache.backbones.build import Backbone

# Batches launched on CUDA whose features are not fetched yet, at most: the GPU always has the next batch
# queued while the main process fills another.
CUDA_IN_FLIGHT = 2


@dataclass(frozen=True)
class VideoJob:
    pos: int  # caller's key
    path: str


@dataclass
class _Flight:
    """A launched batch: its features (on CUDA being copied into pinned memory until ``done``), and which rows
    belong to which video: (video, its first row, batch row, rows)."""

    feats: torch.Tensor
    done: Any
    segments: list[tuple[_Pending, int, int, int]]


class BatchRunner:
    """Runs a backbone on fixed-size uint8 frame batches, filled in place by :meth:`put`."""

    def __init__(self, backbone: Backbone, batch_size: int, amp: torch.dtype | None):
        self.backbone = backbone
        self.batch_size = batch_size
        self.amp = amp
        self.device = backbone.device
        self.model_seconds = 0.0
        self.cuda = self.device.type == "cuda"
        if self.cuda:
            torch.backends.cudnn.benchmark = True  # every batch has the same shape: tune once, reuse
        self._batch: torch.Tensor | None = None
        self._on_device: list[tuple[torch.Tensor, int]] = []  # frames decoded on the GPU: (frames, batch row)

    def _host_batch(self) -> torch.Tensor:
        if self._batch is None:
            crop = self.backbone.preprocessing.crop
            # on CPU one buffer, reused (the forward pass is over when the next batch is filled); on CUDA one
            # per batch from torch's pinned-memory cache, which hands a buffer out again only once the copy
            # launched from it has completed
            self._batch = torch.empty((self.batch_size, crop, crop, 3), dtype=torch.uint8, pin_memory=self.cuda)
        return self._batch

    def warm_up(self) -> None:
        """On CUDA, one batch of zeros through the model: cuDNN picks its kernels for the batch shape and CUDA
        loads them before the first video's frames arrive (nothing to do on CPU)."""
        if self.cuda:
            self.collect(*self.launch(0, self.batch_size))
            self.model_seconds = 0.0

    def put(self, frames: torch.Tensor, row: int) -> None:
        """Copy ``frames`` ``(n, H, W, 3)`` uint8 into the batch being filled, from batch row ``row``."""
        if frames.device.type == "cpu":
            self._host_batch()[row : row + len(frames)].copy_(frames)
        else:
            self._on_device.append((frames, row))

    def launch(self, rows: int, shape: int) -> tuple[torch.Tensor, Any]:
        """Run the model on the batch's first ``shape`` rows (``rows`` filled, the rest zeros); returns
        (features of the filled rows, a CUDA event marking them copied to the host, or None)."""
        start = time.perf_counter()
        batch = self._host_batch()
        if self.cuda:
            self._batch = None  # the next batch is filled while this one is being copied to the GPU
        if shape > rows:
            batch[rows:shape].zero_()
        x = batch[:shape]
        if self.cuda:
            x = x.to(self.device, non_blocking=True)
            for frames, row in self._on_device:
                x[row : row + len(frames)].copy_(frames)
            self._on_device = []
        autocast = (
            torch.autocast(device_type="cuda", dtype=self.amp) if self.amp is not None else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            feats = self.backbone.model(self.backbone.normalize(x))
        out, done = feats[:rows].float(), None
        if self.cuda:
            host = torch.empty(out.shape, dtype=torch.float32, pin_memory=True)
            out, done = host.copy_(out, non_blocking=True), torch.cuda.Event()
            done.record()
        self.model_seconds += time.perf_counter() - start
        return out, done

    def collect(self, feats: torch.Tensor, done: Any) -> np.ndarray:
        start = time.perf_counter()
        if done is not None:
            done.synchronize()  # this batch's copy only: the batches launched after it keep running
        result = feats.numpy()
        self.model_seconds += time.perf_counter() - start
        return result


@dataclass
class _Pending:
    key: Any
    rows: int
    out: np.ndarray | None = None  # (rows, k) float32
    done: int = 0


@dataclass
class Batcher:
    """Copies the frames of each video added into the batch being filled; launches each full batch; keeps up
    to ``in_flight`` launched batches unfetched (CUDA) and lists the videos whose features are complete."""

    runner: BatchRunner
    in_flight: int = 0
    completed: deque[tuple[Any, np.ndarray]] = field(default_factory=deque)
    _filled: int = 0
    _segments: list[tuple[_Pending, int, int, int]] = field(default_factory=list)
    _flights: deque[_Flight] = field(default_factory=deque)
    _full_shape_run: bool = False  # a full batch ran: pad the last one to its shape

    def add(self, key: Any, frames: torch.Tensor) -> None:
        """Copy ``frames`` into batches now (the caller may reuse their memory on return)."""
        video, size, lo = _Pending(key, len(frames)), self.runner.batch_size, 0
        while lo < video.rows:
            take = min(size - self._filled, video.rows - lo)
            self.runner.put(frames[lo : lo + take], self._filled)
            self._segments.append((video, lo, self._filled, take))
            self._filled += take
            lo += take
            if self._filled == size:
                self._full_shape_run = True
                self._launch(size)

    def drain(self) -> None:
        """Run the last, partly filled batch (padded to the full shape after a full batch) and fetch every
        result."""
        if self._filled:
            self._launch(self.runner.batch_size if self._full_shape_run else self._filled)
        while self._flights:
            self._finish(self._flights.popleft())

    def _launch(self, shape: int) -> None:
        feats, done = self.runner.launch(self._filled, shape)
        self._flights.append(_Flight(feats, done, self._segments))
        self._filled, self._segments = 0, []
        while len(self._flights) > self.in_flight:
            self._finish(self._flights.popleft())

    def _finish(self, flight: _Flight) -> None:
        feats = self.runner.collect(flight.feats, flight.done)
        for video, lo, row, n in flight.segments:
            if video.out is None:
                video.out = np.empty((video.rows, feats.shape[1]), dtype=np.float32)
            video.out[lo : lo + n] = feats[row : row + n]
            video.done += n
            if video.done == video.rows:
                self.completed.append((video.key, video.out))


def batched_features(
    videos: Iterable[tuple[Any, torch.Tensor]], runner: BatchRunner
) -> Iterator[tuple[Any, np.ndarray]]:
    """(key, features of its frames) for each (key, frames) of ``videos``, as each video's last batch is
    fetched; frames of consecutive videos share batches."""
    batcher = Batcher(runner, CUDA_IN_FLIGHT if runner.cuda else 0)
    for key, frames in videos:
        batcher.add(key, frames)
        while batcher.completed:
            yield batcher.completed.popleft()
    batcher.drain()
    while batcher.completed:
        yield batcher.completed.popleft()
