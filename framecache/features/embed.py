"""Embedding videos with a backbone: decode the sampled frames of each video and turn them into a (T, k)
feature sequence — the core that the extract stage runs on its share of the videos and that predict runs on
new files (:func:`features_for_videos`, the same features a store holds).

``extract_samples`` starts the decode workers (:mod:`framecache.features.workers`) before it builds the model,
so they fork before CUDA is initialised and decode while the model loads; each video's frames go into a batch
(:mod:`framecache.features.batching`) as soon as it is decoded, and its features come out as soon as its last
batch is fetched: in the order videos finish decoding, not in job order.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from framecache.backbones.build import Backbone, build_backbone
from framecache.backbones.specs import Preprocessing
from framecache.backbones.weights import weights_path, weights_sha256
from framecache.compute import resolve_device
from framecache.errors import FramecacheError
from framecache.features.batching import CUDA_IN_FLIGHT, Batcher, BatchRunner, VideoJob
from framecache.features.pool import DecodePool
from framecache.features.precision import compute_label, matching_amp, precision_warning
from framecache.features.workers import Decoded, decode_inline
from framecache.video.decode import VideoSample
from framecache.video.decoders import NVDEC_THREADS, CpuDecoder, Decoder, gpu_decoder, max_rows, resolve_decoder
from framecache.video.sampling import Sampling

log = logging.getLogger("framecache.features")

# Frames per forward pass when extract.batch_size is null. CPU: measured for efficientnet_lite0 at 224 px
# on the 2-core development machine (BENCHMARKS.md, "extract"): small batches keep activations in cache.
# CUDA: large enough to keep a GPU busy with AMP, small enough for any backbone here in a few GB.
DEFAULT_BATCH_SIZE = {"cpu": 4, "cuda": 128}


def resolve_batch_size(batch_size: int | None, device: torch.device) -> int:
    return int(batch_size) if batch_size else DEFAULT_BATCH_SIZE.get(device.type, DEFAULT_BATCH_SIZE["cpu"])


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32. CPU always runs fp32: bf16 is many times slower there."""
    if device.type != "cuda" or amp == "off":
        return None
    if amp == "fp16":
        return torch.float16
    if amp == "bf16":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@dataclass
class ExtractStats:
    videos: int = 0
    frames: int = 0
    decode_seconds: float = 0.0
    model_seconds: float = 0.0
    loader_wait_seconds: float = 0.0
    wall_seconds: float = 0.0  # the extraction loop: from starting the decode workers to the last features
    build_seconds: float = 0.0  # the model's build (and warm-up) in it, while the workers decode
    loop_started: float = 0.0  # when the loop started and ended, in seconds since the epoch (0: no loop)
    loop_ended: float = 0.0

    def add(self, other: ExtractStats) -> None:
        """Fold another rank's counters in: times of ranks running side by side add up, wall time does not."""
        self.videos += other.videos
        self.frames += other.frames
        self.decode_seconds += other.decode_seconds
        self.model_seconds += other.model_seconds
        self.loader_wait_seconds += other.loader_wait_seconds
        self.wall_seconds = max(self.wall_seconds, other.wall_seconds)
        self.build_seconds = max(self.build_seconds, other.build_seconds)
        starts = [t for t in (self.loop_started, other.loop_started) if t]
        self.loop_started = min(starts, default=0.0)
        self.loop_ended = max(self.loop_ended, other.loop_ended)


def decode_source(
    jobs: Sequence[VideoJob], decoder: Decoder, workers: int, decode_cores: int, gpu: Decoder | None = None
) -> tuple[Iterator[Decoded], Callable[[Decoded], None], Callable[[], None]]:
    """(decoded videos, release one's frames, stop): ``workers`` decode processes and, with a ``gpu``
    decoder, NVDEC threads, started now (they decode while the caller builds its model); or, with neither,
    decoding in this process as videos are asked for."""
    workers = min(workers, len(jobs))
    if not workers and gpu is None:
        return decode_inline(jobs, decoder, decode_cores), lambda item: None, lambda: None
    threads = min(NVDEC_THREADS, len(jobs)) if gpu is not None else 0
    pool = DecodePool(jobs, decoder, workers, decode_cores, max_rows(decoder.sampling), gpu, threads)
    return iter(pool), pool.release, pool.close


def _embedded(
    source: Iterator[Decoded], release: Callable[[Decoded], None], runner: BatchRunner, stats: ExtractStats
) -> Iterator[tuple[Decoded, np.ndarray | None]]:
    """(decoded video, features of its distinct frames, or None when it failed) as each is complete; every
    video's frames are copied into batches (and its slot released) as soon as it arrives."""
    batcher = Batcher(runner, CUDA_IN_FLIGHT if runner.cuda else 0)
    while True:
        wait = time.perf_counter()
        item = next(source, None)
        stats.loader_wait_seconds += time.perf_counter() - wait
        if item is None:
            break
        stats.decode_seconds += item.decode_seconds
        if item.frames is None:
            release(item)
            yield item, None
            continue
        batcher.add(item, item.frames)
        release(item)
        while batcher.completed:
            yield batcher.completed.popleft()
    batcher.drain()
    while batcher.completed:
        yield batcher.completed.popleft()


def extract_samples(
    jobs: Sequence[VideoJob],
    build: Callable[[], Backbone],
    preprocessing: Preprocessing,
    sampling: Sampling,
    *,
    batch_size: int,
    amp: torch.dtype | None,
    num_workers: int,
    decode_cores: int = 0,
    decoding: str = "cpu",
    device: torch.device | None = None,
    progress: bool = False,
    stats: ExtractStats | None = None,
) -> Iterator[tuple[VideoJob, VideoSample | None, np.ndarray | None, str | None]]:
    """Decode and embed ``jobs``; yields (job, sample without pixels, (T, k) float32 features, failure)
    as each video is done — not in job order: with decode workers, in the order they finish.

    ``build`` returns the backbone; it is called once the decoding workers are started, so they fork before
    CUDA is initialised and decode while the model loads. ``decode_cores``: cores the model leaves to decoding
    (FFmpeg threads for the last videos). ``decoding``: ``cpu``, ``nvdec`` (NVDEC threads alone) or
    ``nvdec+cpu`` (NVDEC threads beside the ``num_workers`` workers), as
    :func:`~framecache.video.decoders.resolve_decoder` names it, NVDEC on CUDA ``device``.
    ``stats.wall_seconds`` counts the extraction loop, from starting the
    decode workers to the last features fetched; ``stats.build_seconds`` the part of it spent building the
    model (on CUDA with one warm-up batch), while the workers decode into their slots.
    """
    stats = stats if stats is not None else ExtractStats()
    decoder = CpuDecoder(sampling, preprocessing.geometry())
    gpu = gpu_decoder(decoding, sampling, preprocessing.geometry(), device)
    workers = 0 if decoding == "nvdec" else num_workers
    start = time.perf_counter()
    stats.loop_started = stats.loop_started or time.time()
    source, release, stop = decode_source(jobs, decoder, workers, decode_cores, gpu)
    try:
        runner = BatchRunner(build(), batch_size, amp)
        runner.warm_up()
        stats.build_seconds += time.perf_counter() - start
        results = _embedded(source, release, runner, stats)
        yield from _progress(results, runner, len(jobs), progress, stats, start)
    finally:
        stop()


def _progress(
    done: Iterator[tuple[Decoded, np.ndarray | None]],
    runner: BatchRunner,
    total: int,
    show: bool,
    stats: ExtractStats,
    start: float,
) -> Iterator[tuple[VideoJob, VideoSample | None, np.ndarray | None, str | None]]:
    """The extraction loop's results, counted (and shown on a progress bar); the loop began at ``start``."""
    bar = None
    if show:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="video", desc=f"extract {runner.backbone.name}", mininterval=1.0)
    try:
        for item, feats in done:
            stats.videos += 1
            if feats is None:
                yield item.job, None, None, item.error
            else:
                stats.frames += len(feats)
                yield item.job, item.sample, feats[item.sample.rows], None  # type: ignore[union-attr]
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(
                    f"{stats.frames / max(time.perf_counter() - start, 1e-9):.1f} frames/s", refresh=False
                )
    finally:
        if bar is not None:
            bar.close()
        stats.model_seconds += runner.model_seconds
        stats.wall_seconds += time.perf_counter() - start
        stats.loop_ended = time.time()


def features_for_videos(
    paths: Sequence[str | os.PathLike],
    provenance: Mapping[str, Any],
    device: str = "auto",
    *,
    batch_size: int | None = None,
    num_workers: int = 0,
    computed_as: Collection[str] = (),
) -> list[tuple[np.ndarray | None, str | None]]:
    """Features of new videos as stage 1 computed a store's, for its ``provenance``: the same backbone weights,
    preprocessing and sampling, rounded through the store's dtype.

    ``computed_as``: the store's per-video ``compute`` labels (``cpu/fp32``, ``cuda/bfloat16``). On the device type
    that computed the store the precision is the store's too: on CPU in fp32 the features then equal the stored
    ones (bit for bit at the store's batch size, else up to the dtype's rounding). Otherwise — a store extracted on
    a GPU in bf16, predicted on a CPU — they are computed in the device's own precision and differ by up to
    :data:`framecache.features.precision.PRECISION_GAP` (about 17% of a feature's norm for bf16, 5% at the
    median, measured with CPU autocast standing in for a GPU's; the CUDA figure awaits a GPU run), which is
    logged as one warning line.

    Returns one ``(features (T, k) float32, None)`` or ``(None, reason)`` per path, in order.
    """
    name = provenance["backbone"]
    local = weights_sha256(name)
    if local != provenance["weights_sha256"]:
        raise FramecacheError(
            f"backbone {name}: the local weights file {weights_path(name)} (sha256 {local[:12]}…) "
            f"is not the one the feature store was built with (sha256 {str(provenance['weights_sha256'])[:12]}…); "
            "restore those weights or re-run `dvc repro extract`"
        )
    preprocessing = Preprocessing.from_dict(provenance["preprocessing"])
    sampling = Sampling.from_dict(provenance["sampling"])
    dtype = np.dtype(provenance["dtype"])
    dev = resolve_device(device, "device")
    backbone = build_backbone(name, device=dev, image_size=preprocessing.crop)
    if backbone.preprocessing != preprocessing:
        backbone = dataclasses.replace(backbone, preprocessing=preprocessing)
    if backbone.k != int(provenance["k"]):
        raise FramecacheError(f"backbone {name} gives k={backbone.k} features, the store has k={provenance['k']}")
    amp = matching_amp(dev, computed_as, default=resolve_amp("auto", dev))
    if warning := precision_warning(compute_label(dev, amp), computed_as):
        log.warning(warning)
    jobs = [VideoJob(pos=i, path=str(p)) for i, p in enumerate(paths)]
    results: list[tuple[np.ndarray | None, str | None]] = [(None, "not processed")] * len(jobs)
    for job, _sample, feats, error in extract_samples(
        jobs,
        lambda: backbone,
        preprocessing,
        sampling,
        batch_size=resolve_batch_size(batch_size, dev),
        amp=amp,
        num_workers=num_workers,
        decoding=_decoding_like(str(provenance.get("decoder", "cpu")), dev),
        device=dev,
    ):
        results[job.pos] = (None, error) if error else (feats.astype(dtype).astype(np.float32), None)  # type: ignore[union-attr]
    return results


def _decoding_like(recorded: str, device: torch.device) -> str:
    """How to decode new videos for a store whose videos were decoded ``recorded``: with NVDEC again where it
    can run here (videos it cannot decode go to the CPU, as in the stage); else on the CPU, with a warning:
    the frames then differ from the store's by a few levels of 255."""
    if recorded == "cpu":
        return "cpu"
    try:
        return resolve_decoder("nvdec", device)
    except FramecacheError as exc:
        log.warning(
            "the feature store's videos were decoded by NVDEC (%s); decoding on the CPU here (%s)", recorded, exc
        )
        return "cpu"
