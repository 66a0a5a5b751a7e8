"""Decoding a video's sampled frames, memory-bounded.

The wanted frame indices are computed before decoding (from the demuxed frame count and packet timestamps),
each frame is dropped as soon as it is decoded unless wanted, and wanted frames are shrunk to the CNN's input
size at once. Frames are indexed in display order (what a player shows); their presentation times come from
sorted packet timestamps, which stays right for variable frame rates and for AVI files whose B-frames come
out of the decoder with shuffled timestamps. Long videos are decoded GOP by GOP (framecache.video.seeking);
this module's sequential decoder is the reference it must match, and the fallback wherever it cannot.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from framecache.errors import VideoError
from framecache.video.container import (
    Demuxed,
    demux,
    ffmpeg_reason,
    indexed,
    open_video,
    sample_aspect,
    set_decoder_threads,
)
from framecache.video.frames import Geometry, frame_to_rgb
from framecache.video.sampling import Sampling, sample_indices
from framecache.video.seeking import SeekRefused, decode_seeking


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
    note: str = ""  # why frames_usable < frames_total, and why a seekable stream was decoded sequentially
    decoding: str = ""  # how: "seek (n seeks)", "forward", or "sequential" with the reason

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


def _decode_wanted(
    path: Path, wanted: np.ndarray, geometry: Geometry, threads: int = 1
) -> tuple[dict[int, np.ndarray], int, list[str]]:
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
        set_decoder_threads(stream, threads)
        aspect = sample_aspect(stream)
        for frame in _decoded_frames(container, stream, problems):
            if decoded in keep:
                got[decoded] = frame_to_rgb(frame, geometry, aspect)
            decoded += 1
            if decoded > last:
                break
    return got, decoded, problems


def _decode_fast(
    path: Path, wanted: np.ndarray, demuxed: Demuxed, geometry: Geometry, mode: str, threads: int
) -> tuple[dict | None, str, str]:
    """(frames, how they were decoded, reason for the note) from the keyframe-aware decoder; frames None when
    it refused or gave up, and the video is to be decoded sequentially."""
    try:
        result = decode_seeking(path, wanted, demuxed, geometry, seek=mode == "seek", threads=threads)
    except SeekRefused as refused:
        note = f"decoded sequentially: {refused.reason}" if refused.untrusted else ""
        return None, f"sequential ({refused.reason})", note
    how = f"seek ({result.seeks} seeks)" if result.seeks else "forward"
    return result.frames, how, ""


MODES = ("seek", "forward", "sequential")


def load_sample(
    path: str | Path, sampling: Sampling, geometry: Geometry, *, mode: str = "seek", threads: int = 1
) -> VideoSample:
    """Decode the sampled frames of one video, holding only those frames in memory.

    Frame count, timestamps and keyframes come from a demux pass (cheap; for MP4 without frame reordering
    from its sample table, cheaper still), so the wanted indices are known before decoding. ``mode``:
    ``seek`` decodes only the GOPs holding wanted frames (framecache.video.seeking), ``forward`` decodes from
    the start without seeking; both skip unwanted non-reference H.264 pictures (HEVC with one temporal
    sub-layer), and fall back to ``sequential`` — every frame up to the last wanted one, counted — wherever
    the index cannot be trusted (the reason goes into ``note``). The frames are identical in every mode.
    When decoding yields fewer frames than the demuxer announced (truncated or corrupt stream) the indices
    are re-drawn over the frames that do decode and the video is decoded once more; the shortfall is
    recorded in ``frames_usable`` and ``note``. ``threads``: FFmpeg decoder threads (the frames are the
    same with any number). Raises :class:`VideoError` when no frame decodes.
    """
    path = Path(path)
    if mode not in MODES:
        raise ValueError(f"decode mode {mode!r} is not one of {MODES}")
    # fps sampling reads every frame's time, which only a demux pass gives for certain
    quick = indexed(path) if mode == "seek" and sampling.policy != "fps" else None
    if quick is not None:
        idx, policy = _indices(len(quick.times), sampling, quick.times)
        got, decoding, _note = _decode_fast(path, idx, quick, geometry, mode, threads)
        if got is not None:
            return _sample(got, idx, policy, quick.times, len(quick.times), "", decoding + ", sample table")
    demuxed = demux(path)
    times = demuxed.times
    total = len(times)
    length = total
    idx, policy = _indices(length, sampling, times)
    got, decoding, note = None, "sequential", ""
    if mode != "sequential":
        got, decoding, note = _decode_fast(path, idx, demuxed, geometry, mode, threads)
    if got is None:
        for _attempt in range(3):
            got, decoded, problems = _decode_wanted(path, idx, geometry, threads)
            if all(int(i) in got for i in idx):
                break
            # the stream ended (or broke) before the last wanted frame: sample what is really there
            if decoded == 0:
                raise VideoError("no frame could be decoded" + (f" ({problems[0]})" if problems else ""))
            # this also explains why the keyframe-aware decoder gave up, if it did
            note = f"only {decoded} of {total} frames decode" + (f" ({problems[0]})" if problems else "")
            length = decoded
            idx, policy = _indices(length, sampling, times)
        else:  # pragma: no cover - a decoder that yields fewer frames on every pass
            raise VideoError(f"frame count keeps changing between decodes ({note})")
    sample = _sample(got, idx, policy, times, total, note, decoding)
    sample.frames_usable = length
    return sample


def _sample(got: dict, idx: np.ndarray, policy: str, times: np.ndarray, total: int, note: str, how: str) -> VideoSample:
    sample = _described(idx, policy, times, total, note, how)
    sample.frames = np.stack([got[int(i)] for i in np.unique(idx)])
    return sample


def _described(idx: np.ndarray, policy: str, times: np.ndarray, total: int, note: str, how: str) -> VideoSample:
    """The sample without its pixels (``frames`` empty): which frames, where each sample's row is, when."""
    return VideoSample(
        frames=np.zeros((0,), np.uint8),
        rows=np.searchsorted(np.unique(idx), idx).astype(np.int64),
        frame_index=idx.astype(np.int64),
        timestamp=times[idx],
        policy=policy,
        frames_total=total,
        frames_usable=total,
        note=note,
        decoding=how,
    )


def sample_for(times: np.ndarray, total: int, sampling: Sampling, how: str = "") -> VideoSample:
    """What ``sampling`` takes from a video of ``total`` frames presented at ``times``, without the pixels: for
    a decoder other than FFmpeg (NVDEC), which must decode ``np.unique(frame_index)`` into ``frames``."""
    idx, policy = _indices(total, sampling, times)
    return _described(idx, policy, times, total, "", how)


def _indices(length: int, sampling: Sampling, times: np.ndarray) -> tuple[np.ndarray, str]:
    if sampling.policy == "fps" and np.any(np.isnan(times[:length])):
        raise VideoError("fps sampling needs frame timestamps and this container stores none")
    return sample_indices(length, sampling, times)
