"""Embedding videos with a backbone: decode the sampled frames of each video and turn them into a (T, k)
feature sequence, in order — the core that the extract stage runs on its share of the videos and that
predict runs on new files (:func:`features_for_videos`, the same features a store holds).

``extract_samples`` starts the decoding workers before it builds the model, so they fork before CUDA is
initialised and decode while the model loads; see :mod:`framecache.features.batching` for how frames are
batched.
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
from torch.utils.data import DataLoader

from framecache.backbones.build import Backbone, build_backbone
from framecache.backbones.specs import Preprocessing
from framecache.backbones.weights import weights_path, weights_sha256
from framecache.compute import resolve_device
from framecache.errors import FramecacheError
from framecache.features.batching import BatchRunner, DecodeDataset, VideoJob, batched_features, identity
from framecache.features.precision import compute_label, matching_amp, precision_warning
from framecache.video.decode import VideoSample
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
    wall_seconds: float = 0.0

    def add(self, other: ExtractStats) -> None:
        """Fold another rank's counters in: times of ranks running side by side add up, wall time does not."""
        self.videos += other.videos
        self.frames += other.frames
        self.decode_seconds += other.decode_seconds
        self.model_seconds += other.model_seconds
        self.loader_wait_seconds += other.loader_wait_seconds
        self.wall_seconds = max(self.wall_seconds, other.wall_seconds)


def _loader(
    jobs: Sequence[VideoJob], preprocessing: Preprocessing, sampling: Sampling, workers: int, decode_cores: int
) -> DataLoader:
    workers = min(workers, len(jobs))
    dataset = DecodeDataset(jobs, sampling, preprocessing.geometry(), workers=workers, decode_cores=decode_cores)
    return DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        collate_fn=identity,
        prefetch_factor=4 if workers else None,
    )


def _timed(source: Iterator[dict[str, Any]], stats: ExtractStats) -> Iterator[dict[str, Any]]:
    """The loader's items, counting the time spent waiting for them and the workers' decode time."""
    while True:
        t = time.perf_counter()
        try:
            item = next(source)
        except StopIteration:
            return
        stats.loader_wait_seconds += time.perf_counter() - t
        stats.decode_seconds += item["decode_seconds"]
        yield item


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
    progress: bool = False,
    stats: ExtractStats | None = None,
) -> Iterator[tuple[VideoJob, VideoSample | None, np.ndarray | None, str | None]]:
    """Decode and embed ``jobs``; yields (job, sample without pixels, (T, k) float32 features, failure)
    in job order.

    ``build`` returns the backbone; it is called once the decoding workers are started, so they fork before
    CUDA is initialised and decode while the model loads. ``decode_cores``: cores the model leaves to decoding
    (FFmpeg threads for the last videos).
    """
    stats = stats if stats is not None else ExtractStats()
    loader = _loader(jobs, preprocessing, sampling, num_workers, decode_cores)
    start = time.perf_counter()
    it = iter(loader)  # forks the workers: before CUDA is touched by building the model
    backbone = build()
    runner = BatchRunner(backbone, batch_size, amp)
    by_pos = {job.pos: job for job in jobs}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="video", desc=f"extract {backbone.name}", mininterval=1.0)
    try:
        for item, feats in batched_features(_timed(it, stats), runner):
            job = by_pos[item["pos"]]
            stats.videos += 1
            if item["error"]:
                yield job, None, None, item["error"]
            else:
                sample: VideoSample = item["sample"]
                stats.frames += len(feats)  # type: ignore[arg-type]
                yield job, sample, feats[sample.rows], None  # type: ignore[index]
            if bar is not None:
                bar.update(1)
                elapsed = time.perf_counter() - start
                bar.set_postfix_str(f"{stats.frames / max(elapsed, 1e-9):.1f} frames/s", refresh=False)
    finally:
        if bar is not None:
            bar.close()
        stats.model_seconds += runner.model_seconds
        stats.wall_seconds += time.perf_counter() - start
        del it


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
    ):
        results[job.pos] = (None, error) if error else (feats.astype(dtype).astype(np.float32), None)  # type: ignore[union-attr]
    return results
