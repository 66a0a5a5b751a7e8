"""Decoding a video's sampled frames, memory-bounded.

The wanted frame indices are computed before decoding (from the demuxed frame count and packet timestamps),
each frame is dropped as soon as it is decoded unless wanted, and wanted frames are shrunk to the CNN's input
size at once. Frames are indexed in decode order (what a player shows); their presentation times come from
sorted packet timestamps, which stays right for variable frame rates and for AVI files whose B-frames come
out of the decoder with shuffled timestamps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from framecache.errors import VideoError
from framecache.video.container import Demuxed, demux, ffmpeg_reason, open_video, sample_aspect
from framecache.video.frames import Geometry, frame_to_rgb
from framecache.video.sampling import Sampling, sample_indices


@dataclass
class VideoSample:
    """The sampled frames of one video, ready for the CNN.

    ``frames`` holds each distinct sampled frame once (``repeat`` duplicates are not decoded twice);
    ``rows[j]`` is the row of ``frames`` for sample j. ``frame_index`` counts frames in decode order (the order
    a player shows them); ``timestamp`` is the presentation time in seconds since the first frame.
    """

    frames: np.ndarray  # (n_distinct, crop, crop, 3) uint8
    rows: np.ndarray  # (T,) int64 into frames
    frame_index: np.ndarray  # (T,) int64
    timestamp: np.ndarray  # (T,) float64, NaN where the container gives no time
    policy: str  # full | keep | repeat | capped
    frames_total: int  # frames the demuxer announced
    frames_usable: int  # frames sampled from: frames_total unless the stream ends early
    note: str = ""  # why frames_usable < frames_total, when it is

    @property
    def num_samples(self) -> int:
        return len(self.rows)


def _decoded_frames(
    container: av.container.InputContainer,
    stream: Any,
    problems: list[str],
    before: Any = None,
) -> Iterator[Any]:
    """Frames in decode order, surviving damage the way FFmpeg's own tools do: a packet that fails to decode
    is skipped; a demuxing error ends the stream, after the frames still buffered in the decoder.
    ``before(packet)`` runs before each packet is decoded."""
    try:
        for packet in container.demux(stream):
            if before is not None:
                before(packet)
            try:
                yield from packet.decode()
            except av.FFmpegError as exc:
                problems.append(f"undecodable packet: {ffmpeg_reason(exc)}")
        return
    except av.FFmpegError as exc:
        problems.append(f"stream cut short: {ffmpeg_reason(exc)}")
    try:
        yield from stream.codec_context.decode(None)  # flush: frames held back for reordering
    except av.FFmpegError as exc:
        problems.append(f"flushing the decoder failed: {ffmpeg_reason(exc)}")


def _decode_wanted(path: Path, wanted: np.ndarray, geometry: Geometry) -> tuple[dict[int, np.ndarray], int, list[str]]:
    """Decode sequentially, keeping only frames whose decode-order index is wanted; stop after the last.

    Returns (index -> RGB array, frames decoded, problems met on the way)."""
    keep = {int(i) for i in wanted}
    last = max(keep)
    got: dict[int, np.ndarray] = {}
    decoded = 0
    problems: list[str] = []
    container = open_video(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_count = 1  # parallelism comes from decoding several videos in worker processes
        aspect = sample_aspect(stream)
        for frame in _decoded_frames(container, stream, problems):
            if decoded in keep:
                got[decoded] = frame_to_rgb(frame, geometry, aspect)
            decoded += 1
            if decoded > last:
                break
    return got, decoded, problems


# Codecs whose decoders honour skip_frame=NONREF by dropping exactly the pictures nothing else refers to.
_SKIPPING_CODECS = frozenset({"h264", "hevc"})


def _decode_skipping(path: Path, wanted: np.ndarray, demuxed: Demuxed, geometry: Geometry) -> dict | None:
    """Like :func:`_decode_wanted`, but unwanted non-reference pictures (most B-frames) are not decoded at all.

    No other picture is predicted from them, so the wanted frames come out bit for bit the same, for a
    third less decoding work on typical H.264. Frames are identified by their timestamps' rank among the
    packets' (a skipped picture leaves no gap in decode order to count). Returns None — decode normally —
    whenever that identification is not trustworthy: timestamps out of order or unknown, a wanted frame
    missing.
    """
    rank = {int(t): i for i, t in enumerate(sorted(demuxed.pts))}  # type: ignore[arg-type]
    keep = {int(i) for i in wanted}
    last = max(keep)
    got: dict[int, np.ndarray] = {}
    problems: list[str] = []
    previous = -1
    container = open_video(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        context = stream.codec_context
        aspect = sample_aspect(stream)

        def choose(packet: av.Packet) -> None:
            index = rank.get(packet.pts) if packet.pts is not None else None
            context.skip_frame = "NONREF" if index is not None and index not in keep else "DEFAULT"

        for frame in _decoded_frames(container, stream, problems, before=choose):
            index = rank.get(frame.pts) if frame.pts is not None else None
            if index is None or index <= previous:
                return None
            previous = index
            if index in keep:
                got[index] = frame_to_rgb(frame, geometry, aspect)
            if index >= last:
                break
    if problems or len(got) != len(keep):
        return None
    return got


def _can_skip(demuxed: Demuxed, wanted: np.ndarray) -> bool:
    pts = demuxed.pts
    return (
        demuxed.codec in _SKIPPING_CODECS
        and len(set(wanted.tolist())) < len(pts)
        and all(t is not None for t in pts)
        and len(set(pts)) == len(pts)
    )


def load_sample(path: str | Path, sampling: Sampling, geometry: Geometry, *, skip_unwanted: bool = True) -> VideoSample:
    """Decode the sampled frames of one video, holding only those frames in memory.

    Frame count and timestamps come from a demux pass (cheap), so the wanted indices are known before
    decoding. With ``skip_unwanted`` (H.264/HEVC) pictures that are neither wanted nor referenced are not
    decoded at all; the result is identical either way. When decoding yields fewer frames than the demuxer
    announced (truncated or corrupt stream) the indices are re-drawn over the frames that do decode and the
    video is decoded once more; the shortfall is recorded in ``frames_usable`` and ``note``. Raises
    :class:`VideoError` when no frame decodes.
    """
    path = Path(path)
    demuxed = demux(path)
    times = demuxed.times
    total = len(times)
    length = total
    note = ""
    idx, policy = _indices(length, sampling, times)
    got = _decode_skipping(path, idx, demuxed, geometry) if skip_unwanted and _can_skip(demuxed, idx) else None
    if got is None:
        for _attempt in range(3):
            got, decoded, problems = _decode_wanted(path, idx, geometry)
            if all(int(i) in got for i in idx):
                break
            # the stream ended (or broke) before the last wanted frame: sample what is really there
            if decoded == 0:
                raise VideoError("no frame could be decoded" + (f" ({problems[0]})" if problems else ""))
            note = f"only {decoded} of {total} frames decode" + (f" ({problems[0]})" if problems else "")
            length = decoded
            idx, policy = _indices(length, sampling, times)
        else:  # pragma: no cover - a decoder that yields fewer frames on every pass
            raise VideoError(f"frame count keeps changing between decodes ({note})")
    distinct = np.unique(idx)
    frames = np.stack([got[int(i)] for i in distinct])
    rows = np.searchsorted(distinct, idx)
    return VideoSample(
        frames=frames,
        rows=rows.astype(np.int64),
        frame_index=idx.astype(np.int64),
        timestamp=times[idx],
        policy=policy,
        frames_total=total,
        frames_usable=length,
        note=note,
    )


def _indices(length: int, sampling: Sampling, times: np.ndarray) -> tuple[np.ndarray, str]:
    if sampling.policy == "fps" and np.any(np.isnan(times[:length])):
        raise VideoError("fps sampling needs frame timestamps and this container stores none")
    return sample_indices(length, sampling, times)
