"""Video files through PyAV: probing (is it a decodable video, how many frames, what rate and size), frame
sampling (which frames a video contributes) and decoding only those frames, upright, resized and cropped.

Frame counts come from demuxing — one non-empty packet per frame — which is about a hundred times faster than
decoding every frame and agrees with a full decode on the codecs we ship tests for (H.264 mp4, MPEG-4 AVI).
The first frame is really decoded, so a file that demuxes but cannot be decoded is caught here rather than
in the expensive extraction stage.

Decoding is sequential and memory-bounded: the wanted frame indices are computed before decoding (from the
demuxed frame count and packet timestamps), each frame is dropped as soon as it is decoded unless wanted, and
wanted frames are shrunk to the CNN's input size at once. Frames are indexed in decode order (what a player
shows); their presentation times come from sorted packet timestamps, which stays right for variable frame
rates and for AVI files whose B-frames come out of the decoder with shuffled timestamps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np


class VideoError(Exception):
    """A file that is not a usable video; ``reason`` is a short, user-readable cause."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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


def _rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            value = float(rate)
            # AVI/MPEG streams sometimes advertise the time base (e.g. 90000) instead of a frame rate.
            if 0 < value <= 1000:
                return value
    return 0.0


def probe(path: str | Path) -> VideoInfo:
    """Describe a video file, or raise :class:`VideoError` saying why it is not one we can use."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        width, height = stream.codec_context.width, stream.codec_context.height
        fps = _rate(stream)
        try:
            frames = sum(1 for packet in container.demux(stream) if packet.size > 0)
        except av.FFmpegError as exc:
            raise VideoError(f"demuxing failed: {_ffmpeg_reason(exc)}") from None
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
        raise VideoError(f"first frame cannot be decoded: {_ffmpeg_reason(exc)}") from None
    raise VideoError("no frame could be decoded")


def _ffmpeg_reason(exc: av.FFmpegError) -> str:
    # FFmpeg messages carry the file name and errno prefix; the strerror part is what a user needs.
    return getattr(exc, "strerror", None) or str(exc)


# --------------------------------------------------------------------------------------------------------
# Frame sampling: which decoded frames a video contributes. Pure functions of the frame count (and, for
# ``fps``, the presentation timestamps), so the indices are known before a single frame is decoded.

SAMPLING_POLICIES = ("uniform", "fps", "all")
SHORT_VIDEO_POLICIES = ("keep", "repeat")


@dataclass(frozen=True)
class Sampling:
    """How frames are chosen; only the keys that matter for ``policy`` take part in :meth:`as_dict`."""

    policy: str = "uniform"
    num_frames: int = 16
    fps: float = 2.0
    max_frames: int = 64
    short_videos: str = "keep"

    def __post_init__(self) -> None:
        if self.policy not in SAMPLING_POLICIES:
            raise ValueError(f"sampling policy {self.policy!r} is not one of {SAMPLING_POLICIES}")
        if self.short_videos not in SHORT_VIDEO_POLICIES:
            raise ValueError(f"short video policy {self.short_videos!r} is not one of {SHORT_VIDEO_POLICIES}")

    def as_dict(self) -> dict[str, Any]:
        # A key that does not change which frames are kept must not make a cached store stale.
        if self.policy == "uniform":
            return {"policy": "uniform", "num_frames": self.num_frames, "short_videos": self.short_videos}
        if self.policy == "fps":
            return {"policy": "fps", "fps": self.fps, "max_frames": self.max_frames}
        return {"policy": "all", "max_frames": self.max_frames}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sampling:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    @classmethod
    def from_params(cls, extract: Mapping[str, Any]) -> Sampling:
        """The sampling configured by the (validated) ``extract`` params section."""
        return cls(
            policy=extract["sampling"],
            num_frames=int(extract["num_frames"]),
            fps=float(extract["fps"]),
            max_frames=int(extract["max_frames"]),
            short_videos=extract["short_videos"],
        )


def uniform_indices(length: int, count: int) -> np.ndarray:
    """TSN-style segment centres: ``count`` indices into ``length`` frames, duplicates when length < count.

    Sample i sits at x_i = (i + 0.5)·length/count − 0.5 and is rounded to the nearest frame; an exact tie
    goes to the frame nearer the clip centre (length − 1)/2. Both rules are mirror images of themselves, so a
    time-reversed video samples exactly the reversed frames — except in the one case where no rule can:
    ``count`` odd and ``length`` even put the middle sample on the centre itself, half-way between two
    frames, and it takes the earlier one.
    """
    if length < 1 or count < 1:
        raise ValueError(f"need length >= 1 and count >= 1, got {length}, {count}")
    i = np.arange(count, dtype=np.int64)
    # x_i = num / den exactly, in integers: no float rounding can break the mirror symmetry
    num = (2 * i + 1) * length - count
    den = 2 * count
    q, r = np.divmod(num, den)
    idx = q + (2 * r > den)
    tie = 2 * r == den  # x_i = q + 1/2
    # centre c = (length - 1)/2; q + 1/2 < c  <=>  2q + 1 < length - 1: the upper frame is nearer the centre
    idx = np.where(tie & (2 * q + 1 < length - 1), q + 1, idx)
    return np.clip(idx, 0, length - 1)


def fps_indices(timestamps: np.ndarray, fps: float, max_frames: int) -> np.ndarray:
    """One frame every 1/fps seconds of presentation time: for each target t_j = j/fps (up to the last
    frame's time) the first frame at or after it; a frame is never taken twice. At most ``max_frames``.

    Works on real timestamps, so variable-frame-rate video is sampled by time, not by frame count.
    """
    times = np.asarray(timestamps, dtype=np.float64)
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(times)):
        raise ValueError("fps sampling needs finite timestamps")
    span = float(times[-1] - times[0])
    n_targets = math.floor(span * fps + 1e-9) + 1
    targets = times[0] + np.arange(n_targets, dtype=np.float64) / fps
    # a frame stamped a hair before its target (rounded time bases) still counts as "at" it
    idx = np.searchsorted(times, targets - 1e-6, side="left")
    idx = np.unique(idx[idx < len(times)])
    return idx[:max_frames].astype(np.int64)


def sample_indices(length: int, sampling: Sampling, timestamps: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The frame indices a video of ``length`` decoded frames contributes, and the policy that applied:
    ``full`` (sampled as asked), ``keep``/``repeat`` (uniform on a video shorter than num_frames) or
    ``capped`` (fps/all stopped at max_frames)."""
    if length < 1:
        raise ValueError("a video needs at least one frame")
    if sampling.policy == "uniform":
        t = sampling.num_frames
        if length >= t:
            return uniform_indices(length, t), "full"
        if sampling.short_videos == "keep":
            return np.arange(length, dtype=np.int64), "keep"
        return uniform_indices(length, t), "repeat"
    if sampling.policy == "all":
        n = min(length, sampling.max_frames)
        return np.arange(n, dtype=np.int64), ("capped" if length > n else "full")
    if timestamps is None or len(timestamps) < length:
        raise ValueError("fps sampling needs one timestamp per frame")
    times = np.asarray(timestamps[:length], dtype=np.float64)
    idx = fps_indices(times, sampling.fps, sampling.max_frames)
    uncapped = fps_indices(times, sampling.fps, length)
    return idx, ("capped" if len(uncapped) > len(idx) else "full")


# --------------------------------------------------------------------------------------------------------
# Frame geometry: decoded frame -> upright, resized, centre-cropped RGB array, inside the decoding worker.
# FFmpeg's swscale only converts YUV to RGB (at the native size, its fast path); resizing and cropping are
# torchvision's own tensor transforms (antialiased, as its weights' transforms and timm's PIL pipeline do),
# so a frame gets the same pixels the backbone's reference preprocessing would give it.


@dataclass(frozen=True)
class Geometry:
    """Resize the shorter side to ``resize``, centre-crop ``crop`` x ``crop``, with ``interpolation``."""

    resize: int
    crop: int
    interpolation: str = "bilinear"  # a torchvision InterpolationMode value: bilinear, bicubic, nearest, ...


def _display_transform(frame: av.VideoFrame) -> tuple[bool, bool, bool]:
    """(transpose, flip_rows, flip_cols) that bring a frame upright per its display matrix (rotation and
    mirroring, as phones write them); identity when there is none or it is not a multiple of 90 degrees."""
    matrix = None
    for side in frame.side_data:
        if side.type.name == "DISPLAYMATRIX":
            raw = bytes(memoryview(side))
            if len(raw) >= 36:
                matrix = np.frombuffer(raw[:36], dtype="<i4").astype(np.float64) / 65536.0
            break
    if matrix is None:
        return False, False, False
    a, b, c, d = (round(v) for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
    # The matrix maps a source pixel (x, y) to (a·x + c·y, b·x + d·y) in image coordinates (y down).
    if abs(a) == 1 and abs(d) == 1 and b == 0 and c == 0:
        return False, d < 0, a < 0
    if abs(b) == 1 and abs(c) == 1 and a == 0 and d == 0:
        # transposed: output row index is the source x (sign b), output column the source y (sign c)
        return True, b < 0, c < 0
    return False, False, False


def frame_to_rgb(frame: av.VideoFrame, geometry: Geometry, sample_aspect: float = 1.0) -> np.ndarray:
    """An upright ``(crop, crop, 3)`` uint8 RGB array: display matrix applied, shorter side of the displayed
    picture (sample aspect ratio included) resized to ``geometry.resize`` — torchvision's rule, the longer
    side truncated — then a centre crop (zero padding where the picture is smaller than the crop)."""
    transpose, flip_rows, flip_cols = _display_transform(frame)
    rgb = frame.reformat(format="rgb24", threads=1).to_ndarray()
    if transpose:
        rgb = rgb.transpose(1, 0, 2)
    if flip_rows:
        rgb = rgb[::-1]
    if flip_cols:
        rgb = rgb[:, ::-1]
    height, width = rgb.shape[:2]
    aspect = sample_aspect if sample_aspect > 0 else 1.0
    # pixels are stretched along the stored picture's width, which is the displayed height once transposed
    disp_w, disp_h = (width, height * aspect) if transpose else (width * aspect, height)
    if disp_w <= disp_h:
        out_w, out_h = geometry.resize, max(1, int(geometry.resize * disp_h / disp_w))
    else:
        out_w, out_h = max(1, int(geometry.resize * disp_w / disp_h)), geometry.resize
    return _resize_crop(rgb, out_h, out_w, geometry)


def _resize_crop(rgb: np.ndarray, out_h: int, out_w: int, geometry: Geometry) -> np.ndarray:
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
    if (out_h, out_w) != tuple(image.shape[1:]):
        mode = InterpolationMode(geometry.interpolation)
        image = tvf.resize(image, [out_h, out_w], interpolation=mode, antialias=True)
    image = tvf.center_crop(image, [geometry.crop, geometry.crop])
    return np.ascontiguousarray(image.numpy().transpose(1, 2, 0))


# --------------------------------------------------------------------------------------------------------
# Decoding a video's sampled frames.


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


def _open(path: Path) -> av.container.InputContainer:
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
        raise VideoError(f"not a readable video container: {_ffmpeg_reason(exc)}") from None
    except OSError as exc:
        raise VideoError(f"cannot open file: {exc.strerror or exc}") from None
    if not container.streams.video:
        container.close()
        raise VideoError("no video stream")
    return container


@dataclass(frozen=True)
class _Demuxed:
    """What one demux pass (no decoding) tells about a video stream."""

    pts: list[int | None]  # per non-empty packet, in decode order
    times: np.ndarray  # presentation time (s, from the first frame) per frame, in display order
    codec: str


def _demux(path: Path) -> _Demuxed:
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        pts: list[int | None] = []
        try:
            for packet in container.demux(stream):
                if packet.size > 0:
                    pts.append(packet.pts if packet.pts is not None else packet.dts)
        except av.FFmpegError as exc:
            if not pts:
                raise VideoError(f"demuxing failed: {_ffmpeg_reason(exc)}") from None
        rate = _rate(stream)
        time_base = stream.time_base
        codec = stream.codec_context.name
    if not pts:
        raise VideoError("no video frames")
    if any(t is None for t in pts) or time_base is None:
        # a stream without (complete) times, e.g. raw H.264: the nominal rate is all there is
        n = len(pts)
        times = np.arange(n, dtype=np.float64) / rate if rate > 0 else np.full(n, np.nan)
    else:
        ticks = np.sort(np.asarray(pts, dtype=np.int64))
        times = (ticks - ticks[0]).astype(np.float64) * float(time_base)
    return _Demuxed(pts=pts, times=times, codec=codec)


def frame_timestamps(path: str | Path) -> np.ndarray:
    """Presentation time (s, from the first frame) of every frame, in display order, from demuxing alone.

    Packets are sorted by their timestamps: decoders emit frames in presentation order even where the
    decoded frames carry shuffled timestamps (B-frames packed in AVI), so the k-th smallest packet time is
    the time of the k-th decoded frame. Without packet times (raw streams) the nominal frame rate gives them;
    NaN when there is none either.
    """
    return _demux(Path(path)).times


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
                problems.append(f"undecodable packet: {_ffmpeg_reason(exc)}")
        return
    except av.FFmpegError as exc:
        problems.append(f"stream cut short: {_ffmpeg_reason(exc)}")
    try:
        yield from stream.codec_context.decode(None)  # flush: frames held back for reordering
    except av.FFmpegError as exc:
        problems.append(f"flushing the decoder failed: {_ffmpeg_reason(exc)}")


def _decode_wanted(path: Path, wanted: np.ndarray, geometry: Geometry) -> tuple[dict[int, np.ndarray], int, list[str]]:
    """Decode sequentially, keeping only frames whose decode-order index is wanted; stop after the last.

    Returns (index -> RGB array, frames decoded, problems met on the way)."""
    keep = {int(i) for i in wanted}
    last = max(keep)
    got: dict[int, np.ndarray] = {}
    decoded = 0
    problems: list[str] = []
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_count = 1  # parallelism comes from decoding several videos in worker processes
        aspect = _sample_aspect(stream)
        for frame in _decoded_frames(container, stream, problems):
            if decoded in keep:
                got[decoded] = frame_to_rgb(frame, geometry, aspect)
            decoded += 1
            if decoded > last:
                break
    return got, decoded, problems


# Codecs whose decoders honour skip_frame=NONREF by dropping exactly the pictures nothing else refers to.
_SKIPPING_CODECS = frozenset({"h264", "hevc"})


def _decode_skipping(path: Path, wanted: np.ndarray, demuxed: _Demuxed, geometry: Geometry) -> dict | None:
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
    container = _open(path)
    with container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        context = stream.codec_context
        aspect = _sample_aspect(stream)

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


def _can_skip(demuxed: _Demuxed, wanted: np.ndarray) -> bool:
    pts = demuxed.pts
    return (
        demuxed.codec in _SKIPPING_CODECS
        and len(set(wanted.tolist())) < len(pts)
        and all(t is not None for t in pts)
        and len(set(pts)) == len(pts)
    )


def _sample_aspect(stream: Any) -> float:
    sar = stream.sample_aspect_ratio
    return float(sar) if sar is not None and sar > 0 else 1.0


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
    demuxed = _demux(path)
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
