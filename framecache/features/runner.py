"""Step 3 of extraction, computing this rank's share: where and how the backbone runs (device, batch size,
precision, threads) and the loop that embeds the share's videos into journal parts.

Videos that cannot be decoded are returned with their reason, never raised: the stage records them in its
failures CSV and goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from framecache.backbones import specs
from framecache.backbones.build import Backbone, build_backbone
from framecache.compute import available_cores, resolve_device, torch_threads
from framecache.features import distributed
from framecache.features.embed import ExtractStats, extract_samples, resolve_amp, resolve_batch_size
from framecache.features.inputs import ExtractInputs, with_manifest_row
from framecache.features.journal import Journal
from framecache.features.plan import Plan
from framecache.features.precision import compute_label
from framecache.features.store import VideoFeatures
from framecache.video.decode import VideoSample
from framecache.video.decoders import resolve_decoder
from framecache.video.sampling import Sampling

log = logging.getLogger("framecache.extract")


@dataclass(frozen=True)
class ComputeSettings:
    """How this process runs the backbone. ``threads``: torch intra-op threads on CPU (None: torch's own);
    ``num_workers``: decoding worker processes (0: decoded in this process, between forward passes);
    ``decode_cores``: cores the model leaves to decoding (:func:`resolve_decoding`); ``decoder``: which
    decoders decode (``extract.decoder`` resolved)."""

    device: torch.device
    batch_size: int
    amp: torch.dtype | None
    threads: int | None
    num_workers: int = 0
    decode_cores: int = 0
    decoder: str = "cpu"  # cpu | nvdec | nvdec+cpu (framecache.video.decoders.resolve_decoder)

    @property
    def precision(self) -> str:
        return "fp32" if self.amp is None else str(self.amp).removeprefix("torch.")

    def store_attrs(self) -> dict[str, Any]:
        """What a store records about how it was computed, without making it stale when that changes."""
        return {
            "libraries": library_versions(),
            "compute": {
                "device": self.device.type,
                "precision": self.precision,
                "batch_size": self.batch_size,
                "fold_bn": True,
            },
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


def resolve_compute(extract: Mapping[str, Any], dist: distributed.Context) -> ComputeSettings:
    device = distributed.rank_device(resolve_device(extract["device"], "extract.device"), dist)
    threads = distributed.cpu_threads(extract.get("cpu_threads"), dist) if device.type == "cpu" else None
    workers, decode_cores = resolve_decoding(extract.get("num_workers", "auto"), device, threads, dist)
    return ComputeSettings(
        device=device,
        batch_size=resolve_batch_size(extract["batch_size"], device),
        amp=resolve_amp(extract["amp"], device),
        threads=threads,
        num_workers=workers,
        decode_cores=decode_cores,
        decoder=resolve_decoder(extract.get("decoder", "auto"), device),
    )


# ``extract.num_workers: auto`` on CPU gives a process at most this many workers (one per core its model
# leaves unused, when ``cpu_threads`` is set below its share of the cores). On CUDA there is no cap: the model
# leaves every core but the one feeding the GPU to decoding, and a GPU host decodes as fast as its cores do
# (16 cores, one H100: 15 workers extracted 1.45x the frames/s of 8; ../shared/gpu/README.md).
MAX_AUTO_WORKERS = 8


def resolve_decoding(
    requested: int | str, device: torch.device, threads: int | None, dist: distributed.Context
) -> tuple[int, int]:
    """``(decoding worker processes, cores the model leaves to decoding)`` for this rank: the workers are
    ``extract.num_workers``, or what ``auto`` picks; the cores are split between the videos being decoded at
    once, so the last videos of a run get FFmpeg threads (:func:`~framecache.features.workers.decoder_threads`).

    CPU (measured on 2 cores, BENCHMARKS.md "Decoding"): a process whose model runs on one thread per core it
    has, as ``processes: auto`` runs them, decodes in the process between forward passes — workers would only
    take CPU from the other processes' models (2 processes, GOP 12: 68.6 frames/s inline, 65.9 with 2 workers
    each); a process whose model has several threads gets one worker, which decodes while the model runs
    (1 process: 46.2 frames/s with 1 worker, 36.4 inline — its second thread idles while it decodes — and 38.6
    with 2, which oversubscribe the cores); cores the model does not use (``cpu_threads`` below the process's
    share) get a worker each. CUDA: a worker per core but one, which the main process needs to keep the GPU
    fed (it copies each video's frames into a batch, launches the model and writes the journal).
    """
    cores = max(1, available_cores() // dist.local_world_size)
    if device.type == "cuda":
        free = max(1, cores - 1)
        auto = free
    else:
        model_threads = threads if threads is not None else torch.get_num_threads()
        free = max(0, cores - model_threads)
        auto = min(MAX_AUTO_WORKERS, free) if free else (1 if model_threads > 1 else 0)
    return (auto if requested == "auto" else int(requested)), free


def library_versions() -> dict[str, str]:
    import av
    import h5py
    import timm
    import torchvision

    return {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "av": av.__version__,
        "ffmpeg": str(getattr(av, "ffmpeg_version_info", "unknown")),
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
        "numpy": np.__version__,
    }


def compute_share(
    extract: Mapping[str, Any],
    inputs: ExtractInputs,
    plan: Plan,
    settings: ComputeSettings,
    journal: Journal,
    *,
    progress: bool,
) -> tuple[dict[int, str], ExtractStats]:
    """Embed ``plan.mine`` into ``journal`` parts (flushed when done); returns (manifest position → failure
    reason, counters)."""
    failed: dict[int, str] = {}
    stats = ExtractStats()
    if not plan.mine:
        return failed, stats
    name, image_size = extract["backbone"], extract.get("image_size")

    def build() -> Backbone:
        return build_backbone(name, device=settings.device, image_size=image_size)

    with torch_threads(settings.threads):
        for job, sample, feats, error in extract_samples(
            plan.mine,
            build,
            specs.preprocessing_for(name, image_size),
            Sampling.from_params(extract),
            batch_size=settings.batch_size,
            amp=settings.amp,
            num_workers=settings.num_workers,
            decode_cores=settings.decode_cores,
            decoding=settings.decoder,
            device=settings.device,
            progress=progress,
            stats=stats,
        ):
            if error is not None:
                failed[job.pos] = error
                continue
            video = _video_record(sample, feats, inputs.expect["dtype"], compute_label(settings.device, settings.amp))  # type: ignore[arg-type]
            journal.add(with_manifest_row(video, inputs.manifest, job.pos, plan.shas[job.pos]))
    journal.flush()
    return failed, stats


def _video_record(sample: VideoSample, feats: np.ndarray, dtype: str, compute: str) -> VideoFeatures:
    return VideoFeatures(
        video_id="",
        features=feats.astype(dtype),
        frame_index=sample.frame_index,
        timestamp=sample.timestamp,
        frames=sample.frames_total,
        frames_usable=sample.frames_usable,
        policy=sample.policy,
        note=sample.note,
        compute=compute,  # how these features were computed travels with them into every later store
    )
