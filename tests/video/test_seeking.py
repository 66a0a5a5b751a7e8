"""Keyframe-aware decoding (framecache.video.seeking): for every codec and container PyAV writes here, the frames
sampled by seeking are bit for bit those of a full sequential decode; where the index cannot be trusted the video
is decoded sequentially and the note says why."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from framecache.video import seeking
from framecache.video.container import demux, hevc_sublayers, indexed, set_decoder_threads
from framecache.video.decode import load_sample
from framecache.video.frames import Geometry
from framecache.video.sampling import Sampling
from tests.builders import remux

SIZE = 64
GEOMETRY = Geometry(SIZE, SIZE)  # no resize, no crop: whole decoded pictures are compared
X264 = "scenecut=0:keyint={g}:min-keyint={g}"
X265 = "scenecut=0:keyint={g}:min-keyint={g}:log-level=error"


def encoder_available(codec: str) -> bool:
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # PyAV raises different errors for unknown codecs across versions
        return False
    return True


def moving_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """A texture panning under a per-frame marker: inter prediction does real work, every frame differs."""
    base = np.random.default_rng(seed).integers(0, 255, (2 * SIZE, 2 * SIZE, 3), dtype=np.uint8)
    frames = []
    for i in range(n):
        frame = np.roll(base, (3 * i, 2 * i), (0, 1))[:SIZE, :SIZE].copy()
        frame[:8, :8] = (37 * i) % 256
        frames.append(frame)
    return frames


def encode(path: Path, codec: str, fmt: str, frames: list[np.ndarray], options=None, pts=None, rotation=None) -> Path:
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25, options=options or {})
        stream.width = stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        if pts is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


N = 72
VFR_PTS = np.cumsum([0] + [int(v) for v in np.random.default_rng(5).integers(10, 90, N - 1)]).tolist()
# name: (encoder, container format, file suffix, stream options, extra, how it is decoded)
KINDS = {
    "h264_ip": ("libx264", "mp4", ".mp4", {"bf": "0", "x264-params": X264.format(g=12)}, {}, "seek"),
    "h264_bframes": (
        "libx264",
        "mp4",
        ".mp4",
        {"bf": "3", "x264-params": X264.format(g=12) + ":b-pyramid=2"},
        {},
        "seek",
    ),
    "h264_open_gop": (
        "libx264",
        "mp4",
        ".mp4",
        {"bf": "3", "x264-params": X264.format(g=12) + ":open-gop=1:b-adapt=0"},
        {},
        "seek",
    ),
    # one GOP: nothing to seek to, decoded forward (skipping unwanted non-reference pictures)
    "h264_gop250": ("libx264", "mp4", ".mp4", {"x264-params": X264.format(g=250)}, {}, "forward"),
    "hevc": ("libx265", "mp4", ".mp4", {"x265-params": X265.format(g=12) + ":bframes=4:b-pyramid=1"}, {}, "seek"),
    "hevc_temporal_layers": (
        "libx265",
        "mp4",
        ".mp4",
        {"x265-params": X265.format(g=24) + ":bframes=7:b-pyramid=1:temporal-layers=3"},
        {},
        "seek",
    ),
    "hevc_open_gop_mkv": (
        "libx265",
        "matroska",
        ".mkv",
        {"x265-params": X265.format(g=12) + ":bframes=3:open-gop=1:b-adapt=0"},
        {},
        "seek",
    ),
    "mpeg4_avi": ("mpeg4", "avi", ".avi", {"g": "12", "bf": "2"}, {}, "sequential"),
    "vp9_webm": ("libvpx-vp9", "webm", ".webm", {"g": "12", "deadline": "realtime", "cpu-used": "8"}, {}, "seek"),
    "av1_mkv": ("libsvtav1", "matroska", ".mkv", {"g": "12", "preset": "12"}, {}, "seek"),
    "h264_vfr": ("libx264", "mp4", ".mp4", {"bf": "2", "x264-params": X264.format(g=12)}, {"pts": VFR_PTS}, "seek"),
    "h264_rotated": ("libx264", "mp4", ".mp4", {"x264-params": X264.format(g=12)}, {"rotation": 90}, "seek"),
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codecs")
    made = {}
    for name, (codec, fmt, suffix, options, extra, _seeked) in KINDS.items():
        if encoder_available(codec):
            made[name] = encode(folder / f"{name}{suffix}", codec, fmt, moving_frames(N), options, **extra)
    return made


def assert_same(a, b):
    assert a.frame_index.tolist() == b.frame_index.tolist()
    assert np.array_equal(a.timestamp, b.timestamp, equal_nan=True)
    assert (a.frames_total, a.frames_usable, a.policy) == (b.frames_total, b.frames_usable, b.policy)
    assert a.frames.shape == b.frames.shape and np.array_equal(a.frames, b.frames)


@pytest.mark.parametrize("kind", list(KINDS))
def test_seeking_gives_the_frames_of_a_full_sequential_decode(clips, kind):
    if kind not in clips:
        pytest.skip(f"PyAV's FFmpeg has no {KINDS[kind][0]} encoder here")
    path, how = clips[kind], KINDS[kind][5]
    samplings = [Sampling(num_frames=n) for n in (1, 5, 16, 50)] + [Sampling(policy="fps", fps=3.0)]
    ways = set()
    for sampling in samplings:
        fast = load_sample(path, sampling, GEOMETRY)
        full = load_sample(path, sampling, GEOMETRY, mode="sequential")
        assert_same(fast, full)
        assert fast.note == ""  # nothing about these clips is untrustworthy
        ways.add(fast.decoding.split(" ")[0])
        # FFmpeg's frame threads (given to the last videos of a run) change nothing either
        threaded = load_sample(path, sampling, GEOMETRY, threads=3)
        assert_same(threaded, full)
        assert threaded.decoding == fast.decoding
        assert_same(load_sample(path, sampling, GEOMETRY, mode="sequential", threads=2), full)
    # the fast path is really taken where the codec allows it, and never where it does not
    assert how in ways
    assert ways <= ({"sequential"} if how == "sequential" else {"seek", "forward"})


def test_open_gop_clip_has_leading_pictures(clips):
    """The open-GOP clip really has pictures decoded after a keyframe but shown before it (they may refer to
    the previous GOP), so the equivalence test above covers them."""
    d = demux(clips["h264_open_gop"])
    later_keys = [i for i, key in enumerate(d.keyframe) if key and i > 0]
    assert later_keys
    assert any(d.pts[j] < d.pts[i] for i in later_keys for j in range(i + 1, min(i + 6, len(d.pts))))


def test_vfr_and_rotated_clips_keep_their_times_and_orientation(clips):
    vfr = load_sample(clips["h264_vfr"], Sampling(num_frames=8), GEOMETRY)
    assert vfr.decoding.startswith("seek")
    assert np.allclose(vfr.timestamp, np.array(VFR_PTS)[vfr.frame_index] / 1000)
    rotated = load_sample(clips["h264_rotated"], Sampling(num_frames=4), GEOMETRY)
    assert rotated.decoding.startswith("seek")
    stored = moving_frames(N)[int(rotated.frame_index[-1])].astype(int)
    error = [np.abs(rotated.frames[rotated.rows[-1]] - np.rot90(stored, k)).mean() for k in range(4)]
    assert int(np.argmin(error)) == 1  # the display matrix turns the picture a quarter counter-clockwise


def faststart_copy(src: Path, dst: Path) -> Path:
    """The same packets in an MP4 with its sample table first (a cut copy still demuxes)."""
    return remux(src, dst, options={"movflags": "faststart"})


def test_truncated_file_falls_back_and_matches(tmp_path):
    path = encode(
        tmp_path / "whole.mp4",
        "libx264",
        "mp4",
        moving_frames(N),
        {"x264-params": X264.format(g=12)},
    )
    # index first, so the cut file still demuxes: it announces more frames than it holds
    data = faststart_copy(path, tmp_path / "fast.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    for count in (5, 16):
        fast = load_sample(cut, Sampling(num_frames=count), GEOMETRY)
        full = load_sample(cut, Sampling(num_frames=count), GEOMETRY, mode="sequential")
        assert_same(fast, full)
        assert fast.frames_usable <= fast.frames_total < N


# ------------------------------------------------------------------------------- the MP4 sample table


def test_sample_table_stands_in_for_the_demux_pass_only_where_it_can(clips, tmp_path):
    quick, full = indexed(clips["h264_ip"]), demux(clips["h264_ip"])
    assert quick is not None and quick.indexed and not full.indexed
    assert (quick.pts, quick.keyframe, quick.dts, quick.codec, quick.format) == (
        full.pts,
        full.keyframe,
        full.dts,
        full.codec,
        full.format,
    )
    assert np.array_equal(quick.times, full.times)  # bit for bit: the store records these
    sample = load_sample(clips["h264_ip"], Sampling(num_frames=16), GEOMETRY)
    assert sample.decoding.endswith("sample table")
    # B-frames (reordering), another container, a cut file: a real demux pass
    assert indexed(clips["h264_bframes"]) is None
    assert indexed(clips["hevc_open_gop_mkv"]) is None
    data = faststart_copy(clips["h264_ip"], tmp_path / "fast.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the table is all there, half the samples are not
    assert len(demux(cut).pts) < N and indexed(cut) is None


def test_a_sample_table_that_disagrees_with_the_packets_is_not_used(clips, monkeypatch):
    from dataclasses import replace

    from framecache.video import decode

    path = clips["h264_ip"]
    shifted = replace(indexed(path), pts=[t + 512 for t in indexed(path).pts])  # one frame late throughout
    monkeypatch.setattr(decode, "indexed", lambda p: shifted)
    fast = load_sample(path, Sampling(num_frames=16), GEOMETRY)
    assert fast.decoding.startswith("seek") and "sample table" not in fast.decoding  # a demux pass after all
    assert fast.note == ""
    assert_same(fast, load_sample(path, Sampling(num_frames=16), GEOMETRY, mode="sequential"))


# ------------------------------------------------------------------------------- the HEVC NONREF shortcut


def test_hevc_skips_non_reference_pictures_only_with_one_temporal_sub_layer(clips):
    if "hevc" not in clips:
        pytest.skip("no libx265 encoder here")
    one, layered = demux(clips["hevc"]), demux(clips["hevc_temporal_layers"])
    assert (one.sublayers, layered.sublayers) == (1, 3)
    assert seeking.skips_nonref(one) and not seeking.skips_nonref(layered)
    assert hevc_sublayers(b"") == 0 and hevc_sublayers(b"\x00\x00\x00\x01" * 8) == 0  # Annex B: unknown
    for d, path in ((one, clips["hevc"]), (layered, clips["hevc_temporal_layers"])):
        wanted = np.array([3, 17, 40, 69])
        result = seeking.decode_seeking(path, wanted, d, GEOMETRY, seek=False)
        full = load_sample(path, Sampling(policy="all", max_frames=N), GEOMETRY, mode="sequential")
        for i in wanted:
            assert np.array_equal(result.frames[int(i)], full.frames[full.rows[i]])
        # one sub-layer: unwanted TRAIL_N pictures are not decoded; several: every picture up to the last is
        assert (result.decoded < 70) == (d is one)


# ---------------------------------------------------------------------------------------------- the plan


def test_plan_goes_forward_inside_a_gop_and_seeks_across_keyframes(clips):
    index = seeking.keyframe_index(demux(clips["h264_ip"]))  # I/P only, keyframes every 12 frames
    assert [index.rank[int(t)] for t in index.key_ticks] == [0, 12, 24, 36, 48, 60]
    runs = seeking.plan_seeks(index, np.array([2, 5, 13, 14, 40, 47, 48, 48]))
    key = {int(t): index.rank[int(t)] for t in index.key_ticks}
    assert [(key.get(k), run) for k, run in runs] == [(None, [2, 5]), (12, [13, 14]), (36, [40, 47]), (48, [48])]


def fake_demuxed(pts, keyframe, codec="h264", fmt="mp4", complete=True):
    from framecache.video.container import Demuxed

    return Demuxed(
        pts=pts,
        times=np.arange(len(pts), dtype=float),
        codec=codec,
        keyframe=tuple(keyframe),
        dts=tuple(pts),
        pts_complete=complete,
        format=fmt,
    )


@pytest.mark.parametrize(
    ("demuxed", "reason", "untrusted"),
    [
        (fake_demuxed([0, 1, 2], [True, False, False], codec="mpeg4"), "codec mpeg4", False),
        (fake_demuxed([0, 1, 2], [True, False, False], fmt="avi"), "avi files", False),
        (fake_demuxed([0, 1, 2], [True, False, False], complete=False), "timestamps missing", True),
        (fake_demuxed([0, 1, 1, 3], [True, False, True, False]), "timestamps duplicated", True),
        (fake_demuxed([0, 1, 2], [False, False, False]), "no keyframe index", True),
        (fake_demuxed([2, 0, 1], [True, False, False]), "does not start on a keyframe", True),
    ],
)
def test_untrustworthy_indexes_are_refused(demuxed, reason, untrusted):
    with pytest.raises(seeking.SeekRefused, match=reason) as refused:
        seeking.keyframe_index(demuxed)
    assert refused.value.untrusted == untrusted


# ------------------------------------------------------------------------------------------- bad inputs


def remux_with_lying_index(src: Path, dst: Path, flip: set[int]) -> Path:
    """Copy the packets into Matroska with the keyframe flags of packets ``flip`` inverted: the Cues then send
    seeks to P-frames and skip real keyframes (the demuxer's H.264 parser still reports the true flags)."""
    with av.open(str(src)) as source, av.open(str(dst), "w", format="matroska") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for k, packet in enumerate(p for p in source.demux(video=0) if p.size):
            if k in flip:
                packet.is_keyframe = not packet.is_keyframe
            packet.stream = stream
            out.mux(packet)
    return dst


def test_a_lying_index_falls_back_to_sequential_with_the_reason(clips, tmp_path):
    path = remux_with_lying_index(clips["h264_bframes"], tmp_path / "lies.mkv", {6, 12, 30, 40})
    notes = []
    for count in (3, 5, 16):
        fast = load_sample(path, Sampling(num_frames=count), GEOMETRY)
        assert_same(fast, load_sample(path, Sampling(num_frames=count), GEOMETRY, mode="sequential"))
        notes.append(fast.note)
    assert any(note.startswith("decoded sequentially: a seek landed") for note in notes)


def test_a_seek_error_is_caught_and_the_video_decoded_sequentially(clips, monkeypatch):
    class Failing:
        def __init__(self, container):
            self._container = container

        def __getattr__(self, name):
            return getattr(self._container, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._container.close()

        def seek(self, *args, **kwargs):
            raise av.FFmpegError(-5, "Input/output error")

    real_open = seeking.open_video
    monkeypatch.setattr(seeking, "open_video", lambda path: Failing(real_open(path)))
    path = clips["h264_ip"]
    fast = load_sample(path, Sampling(num_frames=16), GEOMETRY)
    assert fast.note == "decoded sequentially: seek failed: Input/output error"
    assert fast.decoding.startswith("sequential")
    assert_same(fast, load_sample(path, Sampling(num_frames=16), GEOMETRY, mode="sequential"))


def test_packed_b_frame_avi_would_decode_out_of_order_if_seeked(ud810, monkeypatch):
    """Why AVI is never seeked: forced through the seeking decoder anyway, real DivX-style AVIs (packed
    B-frames) are caught by the frame-order check, so even then nothing wrong comes out."""
    monkeypatch.setattr(seeking, "SEEKABLE_CODECS", seeking.SEEKABLE_CODECS | {"mpeg4"})
    monkeypatch.setattr(seeking, "SEQUENTIAL_FORMATS", frozenset())
    path = sorted(ud810.glob("*/*.avi"))[0]
    fast = load_sample(path, Sampling(num_frames=16), GEOMETRY)
    assert fast.note.startswith("decoded sequentially: ")
    assert_same(fast, load_sample(path, Sampling(num_frames=16), GEOMETRY, mode="sequential"))


def test_more_decoder_threads_are_frame_threads_of_ffmpeg(clips):
    with av.open(str(clips["h264_ip"])) as container:
        stream = container.streams.video[0]
        set_decoder_threads(stream, 1)
        assert stream.thread_count == 1
        set_decoder_threads(stream, 3)
        assert (stream.thread_count, stream.thread_type.name) == (3, "FRAME")
        frames = [f.pts for p in container.demux(stream) for f in p.decode()]
    assert len(frames) == N  # the threaded decoder gives every frame
