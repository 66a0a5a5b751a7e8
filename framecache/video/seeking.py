"""Keyframe-aware decoding: only the GOPs that hold a sampled frame are decoded.

The demux pass records each packet's presentation time and keyframe flag. Wanted frames are identified by
presentation time (the k-th smallest packet time is display frame k), never by counting decoded frames, so
a seek cannot shift them. Between two wanted frames decoding goes forward unless a keyframe lies between
them, and then it seeks to the last keyframe at or before the next wanted frame (torchcodec's rule).

Every step is checked against the index, and any disagreement hands the video back to the sequential
decoder (framecache.video.decode) with the reason: a seek that fails or lands after its target or on a
packet that is not a keyframe, a decoded frame whose time is not in the index or comes out of order, a
wanted frame that never comes out, a packet that fails to decode. The sampled frames are then bit for bit
those of a full sequential decode (tests/video/test_seeking.py checks this per codec and container).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from framecache.video.container import Demuxed, ffmpeg_reason, open_video, sample_aspect, set_decoder_threads
from framecache.video.frames import Geometry, frame_to_rgb

# Codecs whose keyframes are intra pictures after which every later-displayed picture decodes without the
# previous GOP (IDR, or CRA/recovery points with their leading pictures displayed before them), in
# containers that store real presentation times. Anything else is decoded sequentially.
SEEKABLE_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "libdav1d"})
# AVI stores decode-order counters, not presentation times; its keyframe flags are often wrong (packed
# B-frames, DivX-style), so an AVI is never seeked whatever the codec.
SEQUENTIAL_FORMATS = frozenset({"avi"})
# Codecs whose decoders honour skip_frame=NONREF by dropping only pictures nothing else refers to. HEVC
# only with a single temporal sub-layer: FFmpeg skips by NAL type (TRAIL_N, TSA_N, ...), i.e. *sub-layer*
# non-reference pictures, which pictures of a higher sub-layer may still reference (H.265 3.132); with one
# sub-layer there is no higher one, so nothing can.
NONREF_CODECS = frozenset({"h264"})


def skips_nonref(demuxed: Demuxed) -> bool:
    """Whether unwanted non-reference pictures of this stream can be left undecoded without changing others."""
    return demuxed.codec in NONREF_CODECS or (demuxed.codec == "hevc" and demuxed.sublayers == 1)


class SeekRefused(Exception):
    """Why a video is decoded sequentially instead; ``untrusted`` when its index or timestamps are at fault
    (recorded in the store's per-video note), not when seeking simply does not apply to it."""

    def __init__(self, reason: str, untrusted: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.untrusted = untrusted


@dataclass
class SeekResult:
    frames: dict[int, np.ndarray]  # display index -> RGB array
    seeks: int = 0
    decoded: int = 0  # frames that came out of the decoder
    log: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KeyframeIndex:
    """Presentation ticks in display order, and the keyframes' ticks (sorted)."""

    ticks: np.ndarray  # (n,) int64: ticks[k] is display frame k's pts
    rank: dict[int, int]  # pts -> display index
    key_ticks: np.ndarray  # (m,) int64, sorted
    expected: dict[int, int] | None = None  # dts -> pts every packet must have (an index read from the container)

    def key_before(self, tick: int) -> int:
        """The last keyframe at or before presentation time ``tick`` (the first one when none is)."""
        i = int(np.searchsorted(self.key_ticks, tick, side="right")) - 1
        return int(self.key_ticks[max(i, 0)])


def keyframe_index(demuxed: Demuxed) -> KeyframeIndex:
    """The index a seek can trust, or :class:`SeekRefused` saying why this stream has none."""
    if demuxed.codec not in SEEKABLE_CODECS:
        raise SeekRefused(f"codec {demuxed.codec} is decoded sequentially", untrusted=False)
    if set(demuxed.format.split(",")) & SEQUENTIAL_FORMATS:
        raise SeekRefused(f"{demuxed.format} files are decoded sequentially", untrusted=False)
    if not demuxed.pts_complete:
        raise SeekRefused("packet timestamps missing")
    pts = [int(t) for t in demuxed.pts]  # type: ignore[arg-type]
    if len(set(pts)) != len(pts):
        raise SeekRefused("packet timestamps duplicated")
    if len(demuxed.keyframe) != len(pts) or not any(demuxed.keyframe):
        raise SeekRefused("no keyframe index")
    if not demuxed.keyframe[0] or pts[0] != min(pts):
        # leading pictures before the first keyframe: a sequential decode drops or garbles them
        raise SeekRefused("stream does not start on a keyframe")
    keys = [tick for tick, key in zip(pts, demuxed.keyframe, strict=True) if key]
    ticks = np.sort(np.asarray(pts, dtype=np.int64))
    return KeyframeIndex(
        ticks=ticks,
        rank={int(t): i for i, t in enumerate(ticks)},
        key_ticks=np.sort(np.asarray(keys, dtype=np.int64)),
        expected=dict(zip(demuxed.dts, pts, strict=True)) if demuxed.indexed else None,  # type: ignore[arg-type]
    )


def plan_seeks(index: KeyframeIndex, wanted: np.ndarray) -> list[tuple[int | None, list[int]]]:
    """Runs of wanted display indices: (keyframe pts to seek to, or None to go on forward, wanted indices).

    A new run seeks when a keyframe lies after the previous wanted frame and at or before the next one."""
    runs: list[tuple[int | None, list[int]]] = []
    previous_key = int(index.key_ticks[0])
    for i in sorted({int(w) for w in wanted}):
        key = index.key_before(int(index.ticks[i]))
        if not runs or key > previous_key:
            runs.append((key if key > int(index.key_ticks[0]) else None, [i]))
        else:
            runs[-1][1].append(i)
        previous_key = key
    return runs


def decode_seeking(
    path: Path, wanted: np.ndarray, demuxed: Demuxed, geometry: Geometry, seek: bool = True, threads: int = 1
) -> SeekResult:
    """The wanted frames (display indices) decoded GOP by GOP; :class:`SeekRefused` whenever the result could
    differ from a sequential decode. ``seek=False`` decodes forward only (identifying frames the same way);
    ``threads``: FFmpeg decoder threads."""
    index = keyframe_index(demuxed)
    runs = plan_seeks(index, wanted)
    if not seek:
        runs = [(None, sorted(i for _, run in runs for i in run))]
    result = SeekResult(frames={})
    skip = skips_nonref(demuxed)
    container = open_video(path)
    with container:
        stream = container.streams.video[0]
        set_decoder_threads(stream, threads)
        decoder = _RunDecoder(container, stream, index, geometry, result, skip, {int(i) for i in wanted})
        for key, run in runs:
            if key is not None:
                decoder.seek(key, int(index.ticks[run[0]]))
            decoder.decode_until(run)
    return result


class _RunDecoder:
    """Decodes forward from the container's position, checking each packet and frame against the index."""

    def __init__(
        self,
        container: Any,
        stream: Any,
        index: KeyframeIndex,
        geometry: Geometry,
        result: SeekResult,
        skip: bool,
        keep: set[int],
    ):
        self.container, self.stream, self.index, self.geometry = container, stream, index, geometry
        self.result, self.skip, self.keep = result, skip, keep
        self.aspect = sample_aspect(stream)
        self.floor = int(index.ticks[0])  # frames displayed before this (leading pictures after a seek) are not ours
        self.last = self.floor - 1  # pts of the last frame taken
        self.landing: int | None = None  # after a seek: the pts the first packet must have at most
        self.expect_key = False  # after a seek: the first frame taken must be the intra picture landed on
        # one generator per position: frames of a packet not consumed yet stay in it for the next run
        self.frames = self._frames(container.demux(stream))

    def seek(self, key: int, target: int) -> None:
        try:
            # by presentation time: MP4 and Matroska demuxers both find the keyframe at or before it
            self.container.seek(key, stream=self.stream, backward=True)
        except av.FFmpegError as exc:
            raise SeekRefused(f"seek failed: {ffmpeg_reason(exc)}") from None
        except OSError as exc:
            raise SeekRefused(f"seek failed: {exc}") from None
        self.result.seeks += 1
        self.frames.close()
        self.frames = self._frames(self.container.demux(self.stream))
        self.landing, self.expect_key = target, True
        self.last = -(2**62)

    def decode_until(self, run: list[int]) -> None:
        goal = int(self.index.ticks[run[-1]])
        for frame in self.frames:
            tick = frame.pts
            if tick is None or tick not in self.index.rank:
                raise SeekRefused("a decoded frame's time is not in the index")
            if tick < self.floor:
                continue  # a leading picture of the GOP we jumped into: it belongs to the previous one
            if tick <= self.last:
                raise SeekRefused("decoded frames come out of presentation order")
            if self.expect_key and (tick != self.floor or not (frame.key_frame or int(frame.pict_type) == 1)):
                raise SeekRefused("a seek did not start on an intra picture")
            self.last, self.expect_key = tick, False
            rank = self.index.rank[tick]
            if rank in self.keep and rank not in self.result.frames:
                self.result.frames[rank] = frame_to_rgb(frame, self.geometry, self.aspect)
            if tick >= goal:
                break
        missing = [i for i in run if i not in self.result.frames]
        if missing:
            raise SeekRefused(f"frame {missing[0]} did not come out of the decoder")

    def _frames(self, packets: Any) -> Any:
        context = self.stream.codec_context
        try:
            for packet in packets:
                if packet.size <= 0:
                    continue
                self._check_landing(packet)
                expected = self.index.expected
                if expected is not None and expected.get(packet.dts) != packet.pts:
                    raise SeekRefused("the container's sample table disagrees with its packets", untrusted=False)
                rank = self.index.rank.get(packet.pts) if packet.pts is not None else None
                if self.skip:
                    context.skip_frame = "NONREF" if rank is not None and rank not in self.keep else "DEFAULT"
                frames = packet.decode()
                self.result.decoded += len(frames)
                yield from frames
            frames = context.decode(None)  # end of stream: the frames held back for reordering
        except av.FFmpegError as exc:
            raise SeekRefused(f"decoding failed: {ffmpeg_reason(exc)}") from None
        yield from frames

    def _check_landing(self, packet: Any) -> None:
        if self.landing is None:
            return
        if not packet.is_keyframe or packet.pts is None:
            raise SeekRefused("a seek landed on a packet that is not a keyframe")
        if packet.pts > self.landing:
            raise SeekRefused("a seek landed after its target")
        self.floor, self.landing = int(packet.pts), None
