"""Probing: is a file a decodable video, how many frames, what rate, size and codec.

Frame counts come from demuxing — one non-empty packet per frame — which is about a hundred times faster than
decoding every frame and agrees with a full decode on the codecs we ship tests for (H.264 mp4, MPEG-4 AVI).
The first frame is really decoded, so a file that demuxes but cannot be decoded is caught here rather than
in the expensive extraction stage. A still image under a video's name (a PNG renamed ``.mp4``), which FFmpeg
would read as a one-frame video, is refused as what it is.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

from framecache.errors import VideoError
from framecache.video.container import ffmpeg_reason, open_video, stream_rate


@dataclass(frozen=True)
class VideoInfo:
    frames: int  # non-empty video packets: one per coded frame
    fps: float  # nominal frame rate (average, else guessed); 0.0 when the container gives none
    duration: float  # seconds: frames / fps when the rate is known, else the container's duration
    width: int
    height: int
    codec: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# FFmpeg reads single images with image2 and the <codec>_pipe demuxers (png_pipe, jpeg_pipe, webp_pipe, ...)
IMAGE_DEMUXERS = ("image2",)
IMAGE_DEMUXER_SUFFIX = "_pipe"


def _still(container: av.container.InputContainer) -> str | None:
    name = container.format.name
    if name not in IMAGE_DEMUXERS and not name.endswith(IMAGE_DEMUXER_SUFFIX):
        return None
    return f"a still image ({container.streams.video[0].codec_context.name.upper()} data), not a video"


def still_image(path: str | Path) -> str | None:
    """Why ``path`` is a still image named like a video (the reason failures.csv and predict give), or None:
    a video, or a file FFmpeg cannot read at all (which probing or decoding reports in its own words)."""
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return _still(container) if container.streams.video else None
    except (av.FFmpegError, OSError, ValueError):
        return None


def probe(path: str | Path) -> VideoInfo:
    """Describe a video file, or raise :class:`VideoError` saying why it is not one we can use."""
    path = Path(path)
    with open_video(path) as container:
        if reason := _still(container):
            raise VideoError(reason)
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = stream_rate(stream)
        try:
            frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.FFmpegError as exc:
            raise VideoError(f"demuxing failed: {ffmpeg_reason(exc)}") from None
        container_duration = container.duration / av.time_base if container.duration else 0.0
    if frames == 0:
        raise VideoError("no video frames")
    _check_first_frame(path)
    if fps > 0:
        duration = frames / fps
    elif math.isfinite(container_duration) and container_duration > 0:
        duration = container_duration
        fps = frames / duration
    else:
        duration = 0.0
    return VideoInfo(frames=frames, fps=fps, duration=duration, width=width, height=height, codec=codec)


def _check_first_frame(path: Path) -> None:
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            for _ in container.decode(video=0):
                return
    except av.FFmpegError as exc:
        raise VideoError(f"first frame cannot be decoded: {ffmpeg_reason(exc)}") from None
    raise VideoError("no frame could be decoded")
