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

from framecache.compute import resolve_device, torch_threads
from framecache.features import backbones, distributed
from framecache.features.build import Backbone, build_backbone
from framecache.features.embed import ExtractStats, extract_samples, resolve_amp, resolve_batch_size
from framecache.features.inputs import ExtractInputs, with_manifest_row
from framecache.features.journal import Journal
from framecache.features.plan import Plan
from framecache.features.store import VideoFeatures
from framecache.video.decode import VideoSample
from framecache.video.sampling import Sampling

log = logging.getLogger("framecache.extract")


@dataclass(frozen=True)
class ComputeSettings:
    """How this process runs the backbone. ``threads``: torch intra-op threads on CPU (None: torch's own)."""

    device: torch.device
    batch_size: int
    amp: torch.dtype | None
    threads: int | None

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
    return ComputeSettings(
        device=device,
        batch_size=resolve_batch_size(extract["batch_size"], device),
        amp=resolve_amp(extract["amp"], device),
        threads=threads,
    )


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
            backbones.preprocessing_for(name, image_size),
            Sampling.from_params(extract),
            batch_size=settings.batch_size,
            amp=settings.amp,
            num_workers=int(extract["num_workers"]),
            progress=progress,
            stats=stats,
        ):
            if error is not None:
                failed[job.pos] = error
                continue
            video = _video_record(sample, feats, inputs.expect["dtype"])  # type: ignore[arg-type]
            journal.add(with_manifest_row(video, inputs.manifest, job.pos, plan.shas[job.pos]))
    journal.flush()
    return failed, stats


def _video_record(sample: VideoSample, feats: np.ndarray, dtype: str) -> VideoFeatures:
    return VideoFeatures(
        video_id="",
        features=feats.astype(dtype),
        frame_index=sample.frame_index,
        timestamp=sample.timestamp,
        frames=sample.frames_total,
        frames_usable=sample.frames_usable,
        policy=sample.policy,
        note=sample.note,
    )
