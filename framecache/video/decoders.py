"""The decoders a video's sampled frames can come from, and the choice between them.

``cpu``: FFmpeg through PyAV (:func:`framecache.video.decode.load_sample`), in the stage's decode workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from framecache.video.decode import VideoSample, load_sample
from framecache.video.frames import Geometry
from framecache.video.sampling import Sampling


class Decoder(Protocol):
    """Decodes one video's sampled frames, resized and cropped to ``geometry``."""

    name: str
    sampling: Sampling
    geometry: Geometry

    def load(self, path: str | Path, threads: int = 1) -> VideoSample: ...


@dataclass(frozen=True)
class CpuDecoder:
    """FFmpeg on the CPU: the reference decoder (every other one is compared with it)."""

    sampling: Sampling
    geometry: Geometry
    name: str = "cpu"

    def load(self, path: str | Path, threads: int = 1) -> VideoSample:
        return load_sample(path, self.sampling, self.geometry, threads=threads)


def max_rows(sampling: Sampling) -> int:
    """The most distinct frames one video gives under ``sampling`` (repeated samples are decoded once)."""
    return sampling.num_frames if sampling.policy == "uniform" else sampling.max_frames
