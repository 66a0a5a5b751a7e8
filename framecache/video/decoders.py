"""The decoders a video's sampled frames can come from, and the choice between them (``extract.decoder``).

- ``cpu``: FFmpeg through PyAV (:func:`framecache.video.decode.load_sample`), in the stage's decode workers;
  the reference every other decoder is compared with.
- ``nvdec``: the GPU's video decoder through PyNvVideoCodec (:mod:`framecache.video.nvdec`, an optional
  extra), in :data:`NVDEC_THREADS` threads of the process that runs the model; a video it cannot decode is
  decoded on the CPU, with the reason in its note.
- ``auto``: NVDEC beside the CPU workers, both decoding at once, on a CUDA host where PyNvVideoCodec is
  installed; the CPU alone anywhere else.

NVDEC's frames are not bit for bit the CPU's (its colour conversion and the GPU's resampling differ by a few
levels of 255), so the decoding a store was extracted with is part of its provenance: :func:`resolve_decoder`
names it ``cpu``, ``nvdec`` or ``nvdec+cpu`` (some videos each way), and a store extracted another way is
stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from framecache.errors import FramecacheError
from framecache.video.decode import VideoSample, load_sample
from framecache.video.frames import Geometry
from framecache.video.sampling import Sampling

DECODERS = ("auto", "cpu", "nvdec")
# NVDEC decoding threads per process: one NVDEC session decodes ~570 frames/s of 16 samples from 320x240 clips,
# 4-8 threads ~1,470 together and 16 fewer (1,166) on an H100 (../shared/gpu/README.md).
NVDEC_THREADS = 4


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


def resolve_decoder(requested: str, device: Any) -> str:
    """The decoding ``extract.decoder`` gives on torch ``device``: ``cpu``, ``nvdec``, or ``nvdec+cpu`` (auto
    on a CUDA host with PyNvVideoCodec). ``nvdec`` where NVDEC cannot run is a FramecacheError saying why."""
    if requested not in DECODERS:
        raise FramecacheError(f"extract.decoder = {requested!r} is not one of {', '.join(map(repr, DECODERS))}")
    if requested == "cpu":
        return "cpu"
    from framecache.video import nvdec

    why = nvdec.unavailable() if device.type == "cuda" else f"the model runs on {device.type}, not CUDA"
    if requested == "nvdec" and why:
        raise FramecacheError(
            f"extract.decoder = 'nvdec' but {why}: NVDEC decodes on a CUDA GPU through PyNvVideoCodec. Use "
            "'auto' (NVDEC where it can run, else the CPU) or 'cpu'"
        )
    return "nvdec" if requested == "nvdec" else ("cpu" if why else "nvdec+cpu")


def gpu_decoder(resolved: str, sampling: Sampling, geometry: Geometry, device: Any) -> Decoder | None:
    """The NVDEC decoder a resolved decoding uses (None for ``cpu``)."""
    if resolved == "cpu":
        return None
    from framecache.video.nvdec import NvdecDecoder

    return NvdecDecoder(sampling, geometry, gpu=device.index or 0)
