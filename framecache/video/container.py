"""Opening a video container with PyAV and the one demux pass (no decoding) that tells a stream's packets,
presentation times and codec; shared by probing and decoding, so both give the same checks and messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from framecache.errors import VideoError


def stream_rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            value = float(rate)
            # AVI/MPEG streams sometimes advertise the time base (e.g. 90000) instead of a frame rate.
            if 0 < value <= 1000:
                return value
    return 0.0


def ffmpeg_reason(exc: av.FFmpegError) -> str:
    # FFmpeg messages carry the file name and errno prefix; the strerror part is what a user needs.
    return getattr(exc, "strerror", None) or str(exc)


def open_video(path: Path) -> av.container.InputContainer:
    """An open container with a video stream, or a :class:`VideoError` saying why the file is not one."""
    try:
        if not path.is_file():
            if path.is_symlink() and not path.exists():
                raise VideoError("broken symbolic link")
            raise VideoError("not a regular file" if path.exists() else "file not found")
        if path.stat().st_size == 0:
            raise VideoError("empty file (0 bytes)")
    except OSError as exc:
        raise VideoError(f"cannot read file: {exc.strerror or exc}") from None
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(f"not a readable video container: {ffmpeg_reason(exc)}") from None
    except OSError as exc:
        raise VideoError(f"cannot open file: {exc.strerror or exc}") from None
    if not container.streams.video:
        container.close()
        raise VideoError("no video stream")
    return container


def set_decoder_threads(stream: av.video.stream.VideoStream, threads: int) -> None:
    """FFmpeg's decoder threads for one video. One by default: parallelism comes from decoding several videos
    at once. More only where cores would otherwise sit idle (fewer videos left than decoders:
    :mod:`framecache.features.batching`), and then frame threads, which H.264, HEVC and VP9 decoders all
    support however the stream was encoded (slice threads were faster still on some x264 clips and slower on
    others: BENCHMARKS.md "Decoding"). The frames are bit for bit the same (tests/video/test_seeking.py)."""
    if threads > 1:
        stream.thread_type = "FRAME"
    stream.thread_count = max(1, threads)


@dataclass(frozen=True)
class Demuxed:
    """What one demux pass (no decoding) tells about a video stream."""

    pts: list[int | None]  # per non-empty packet, in decode order (its dts where it has no pts)
    times: np.ndarray  # presentation time (s, from the first frame) per frame, in display order
    codec: str
    # the keyframe index, for seeking (framecache.video.seeking): per non-empty packet, in decode order
    keyframe: tuple[bool, ...] = ()
    dts: tuple[int | None, ...] = ()
    pts_complete: bool = False  # every packet had its own pts (not a dts stand-in)
    format: str = ""  # the demuxer's name(s), e.g. "mov,mp4,m4a,3gp,3g2,mj2", "avi", "matroska,webm"
    sublayers: int = 0  # HEVC temporal sub-layers per its hvcC record; 0 when unknown or not HEVC
    indexed: bool = False  # read from the container's sample table (:func:`indexed`), not a demux pass


def demux(path: Path) -> Demuxed:
    container = open_video(path)
    with container:
        stream = container.streams.video[0]
        pts: list[int | None] = []
        keyframe: list[bool] = []
        dts: list[int | None] = []
        own_pts = True
        try:
            for packet in container.demux(stream):
                if packet.size > 0:
                    pts.append(packet.pts if packet.pts is not None else packet.dts)
                    own_pts = own_pts and packet.pts is not None
                    keyframe.append(bool(packet.is_keyframe))
                    dts.append(packet.dts)
        except av.FFmpegError as exc:
            if not pts:
                raise VideoError(f"demuxing failed: {ffmpeg_reason(exc)}") from None
        rate = stream_rate(stream)
        time_base = stream.time_base
        codec = stream.codec_context.name
        fmt = container.format.name
        sublayers = hevc_sublayers(stream.codec_context.extradata) if codec == "hevc" else 0
    if not pts:
        raise VideoError("no video frames")
    if any(t is None for t in pts) or time_base is None:
        # a stream without (complete) times, e.g. raw H.264: the nominal rate is all there is
        n = len(pts)
        times = np.arange(n, dtype=np.float64) / rate if rate > 0 else np.full(n, np.nan)
    else:
        ticks = np.sort(np.asarray(pts, dtype=np.int64))
        times = (ticks - ticks[0]).astype(np.float64) * float(time_base)
    return Demuxed(
        pts=pts,
        times=times,
        codec=codec,
        keyframe=tuple(keyframe),
        dts=tuple(dts),
        pts_complete=own_pts and time_base is not None,
        format=fmt,
        sublayers=sublayers,
    )


def indexed(path: Path) -> Demuxed | None:
    """What :func:`demux` gives, read from an MP4/MOV sample table instead of from every packet (about ten
    times faster on long clips), or None where the table cannot stand in for a demux pass: incomplete or
    pointing past the end of the file (cut files), discarded samples, or a stream whose decoder reorders
    frames. Without reordering decode order is display order and each packet's pts is its dts plus the first
    packet's offset; the seeking decoder checks that on every packet it reads and, on any difference, the
    video gets a real demux pass instead."""
    container = open_video(path)
    with container:
        stream = container.streams.video[0]
        fmt = container.format.name
        if "mp4" not in fmt.split(",") or stream.codec_context.has_b_frames or stream.time_base is None:
            return None
        # copied out at once: the entries are views of FFmpeg's table, which reading packets may change
        entries = [(e.timestamp, e.is_keyframe, e.is_discard, e.pos, e.size) for e in stream.index_entries]
        if not entries or len(entries) != stream.frames:
            return None
        if any(discard or size <= 0 for _, _, discard, _, size in entries):
            return None
        if max(pos + size for _, _, _, pos, size in entries) > path.stat().st_size:
            return None
        dts = np.asarray([e[0] for e in entries], dtype=np.int64)
        if np.any(np.diff(dts) <= 0):
            return None
        try:
            first = next((packet for packet in container.demux(stream) if packet.size > 0), None)
        except av.FFmpegError:
            return None  # the demux pass will say what is wrong
        if first is None or first.pts is None or first.dts != dts[0]:
            return None
        pts = dts + (first.pts - first.dts)
        codec = stream.codec_context.name
        sublayers = hevc_sublayers(stream.codec_context.extradata) if codec == "hevc" else 0
        time_base = float(stream.time_base)
    return Demuxed(
        pts=pts.tolist(),
        times=(dts - dts[0]).astype(np.float64) * time_base,
        codec=codec,
        keyframe=tuple(bool(e[1]) for e in entries),
        dts=tuple(dts.tolist()),
        pts_complete=True,
        format=fmt,
        sublayers=sublayers,
        indexed=True,
    )


def hevc_sublayers(extradata: bytes | None) -> int:
    """numTemporalLayers of an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3: byte 21, bits 5..3),
    as MP4 and Matroska store it; 0 when the extradata is not one (raw Annex B streams) or says unknown."""
    if not extradata or len(extradata) < 23 or extradata[0] != 1:
        return 0
    return (extradata[21] >> 3) & 0x7


def frame_timestamps(path: str | Path) -> np.ndarray:
    """Presentation time (s, from the first frame) of every frame, in display order, from demuxing alone.

    Packets are sorted by their timestamps: decoders emit frames in presentation order even where the
    decoded frames carry shuffled timestamps (B-frames packed in AVI), so the k-th smallest packet time is
    the time of the k-th decoded frame. Without packet times (raw streams) the nominal frame rate gives them;
    NaN when there is none either.
    """
    return demux(Path(path)).times


def sample_aspect(stream: Any) -> float:
    sar = stream.sample_aspect_ratio
    return float(sar) if sar is not None and sar > 0 else 1.0
