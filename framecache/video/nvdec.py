"""NVDEC decoding: a video's sampled frames decoded on the GPU through PyNvVideoCodec (the optional extra
``nvdec``), then upright, resized and centre-cropped there by the same rules as the CPU path
(:mod:`framecache.video.frames`).

The frame count, timestamps and the sampled indices come from the same index pass as on the CPU
(:func:`framecache.video.container.indexed` or :func:`~framecache.video.container.demux`), so a video's
``frame_index``, ``timestamp`` and policy are the CPU decoder's; only the pixels differ (NVDEC's colour
conversion and the GPU's resampling are not FFmpeg's: within a few levels of 255, not bit for bit). A video
NVDEC cannot decode — a codec or container it does not take, a frame count that disagrees with the index, a
decoder error — raises :class:`NvdecRefused` with the reason: the caller decodes it on the CPU instead and
records why. PyNvVideoCodec is imported only here, and only when NVDEC is used.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framecache.errors import VideoError
from framecache.video.container import demux, indexed, open_video, sample_aspect
from framecache.video.decode import VideoSample, sample_for
from framecache.video.frames import Geometry, display_transform, resized_shape
from framecache.video.sampling import Sampling

MODULE = "PyNvVideoCodec"
# Codecs NVDEC decodes on every GPU generation PyNvVideoCodec supports, in containers with a seekable index.
NVDEC_CODECS = frozenset({"h264", "hevc", "vp9", "av1"})
SEEKABLE_FORMATS = frozenset({"mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm"})


class NvdecRefused(Exception):
    """Why NVDEC does not decode this video (the CPU decoder takes it, and the reason goes into its note)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def unavailable() -> str | None:
    """Why NVDEC cannot be used in this process, or None when it can."""
    if importlib.util.find_spec(MODULE) is None:
        return f"{MODULE} is not installed (the optional extra: `uv sync --extra nvdec`)"
    import torch

    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU"
    return None


def _nvc() -> Any:
    import PyNvVideoCodec

    return PyNvVideoCodec


@dataclass(frozen=True)
class NvdecDecoder:
    """Decodes a video's sampled frames on CUDA device ``gpu``: :meth:`load` gives a :class:`VideoSample` whose
    ``frames`` is a CUDA uint8 tensor ``(n, crop, crop, 3)``."""

    sampling: Sampling
    geometry: Geometry
    gpu: int = 0
    name: str = "nvdec"

    def load(self, path: str | Path, threads: int = 1) -> VideoSample:
        path = Path(path)
        index = indexed(path) if self.sampling.policy != "fps" else None
        index = index or demux(path)  # a VideoError (not a video at all) goes to the caller as it is
        if index.codec not in NVDEC_CODECS:
            raise NvdecRefused(f"NVDEC does not decode {index.codec} here")
        if not set(index.format.split(",")) & SEEKABLE_FORMATS:
            raise NvdecRefused(f"NVDEC does not read {index.format} files here")
        total = len(index.times)
        sample = sample_for(index.times, total, self.sampling)
        transform, aspect = _upright(path)
        wanted = [int(i) for i in np.unique(sample.frame_index)]
        frames = self._decode(path, total, wanted)
        sample.frames = _geometry(frames, transform, aspect, self.geometry)
        return sample

    def _decode(self, path: Path, total: int, wanted: list[int]) -> Any:
        import torch

        nvc = _nvc()
        try:
            decoder = nvc.SimpleDecoder(
                str(path), gpu_id=self.gpu, use_device_memory=True, output_color_type=nvc.OutputColorType.RGB
            )
            if len(decoder) != total:
                raise NvdecRefused(f"NVDEC counts {len(decoder)} frames where the container indexes {total}")
            frames = decoder.get_batch_frames_by_index(wanted)
            if len(frames) != len(wanted):
                raise NvdecRefused(f"NVDEC gave {len(frames)} of the {len(wanted)} frames asked for")
            stacked = torch.stack([torch.from_dlpack(frame) for frame in frames])
            if stacked.is_cuda:  # copied out of the decoder's surfaces before the decoder goes
                torch.cuda.current_stream(stacked.device).synchronize()
        except NvdecRefused:
            raise
        except Exception as exc:  # PyNvVideoCodec's own errors (an unsupported profile, a corrupt stream, ...)
            raise NvdecRefused(f"NVDEC failed: {type(exc).__name__}: {exc}") from None
        if stacked.ndim != 4 or stacked.shape[-1] != 3 or stacked.dtype != torch.uint8:
            raise NvdecRefused(f"NVDEC gave frames of shape {tuple(stacked.shape)} {stacked.dtype}, not RGB uint8")
        return stacked


def _upright(path: Path) -> tuple[tuple[bool, bool, bool], float]:
    """(transpose, flip rows, flip columns) per the display matrix, and the sample aspect ratio: read from the
    first frame, decoded on the CPU (NVDEC's frames carry neither)."""
    container = open_video(path)
    with container:
        stream = container.streams.video[0]
        aspect = sample_aspect(stream)
        try:
            first = next(container.decode(stream))
        except (StopIteration, Exception) as exc:
            raise VideoError(f"no frame could be decoded ({exc})") from None
        return display_transform(first), aspect


def _geometry(frames: Any, transform: tuple[bool, bool, bool], aspect: float, geometry: Geometry) -> Any:
    """``(n, H, W, 3)`` uint8 frames on the GPU made upright, resized and centre-cropped like ``frame_to_rgb``."""
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    transpose, flip_rows, flip_cols = transform
    images = frames.permute(0, 3, 1, 2)  # (n, 3, H, W)
    if transpose:
        images = images.transpose(2, 3)
    if flip_rows:
        images = images.flip(2)
    if flip_cols:
        images = images.flip(3)
    out_h, out_w = resized_shape(images.shape[2], images.shape[3], transpose, aspect, geometry)
    if (out_h, out_w) != tuple(images.shape[2:]):
        mode = InterpolationMode(geometry.interpolation)
        images = tvf.resize(images, [out_h, out_w], interpolation=mode, antialias=True)
    images = tvf.center_crop(images, [geometry.crop, geometry.crop])
    return images.permute(0, 2, 3, 1).contiguous().to(torch.uint8)
