"""Decoding (framecache.video.decode, frames, container, probe): exactly the sampled frames are decoded, upright,
resized and cropped, with their timestamps — and broken files give a reason instead of a crash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framecache.errors import VideoError
from framecache.video.container import frame_timestamps
from framecache.video.decode import load_sample
from framecache.video.frames import Geometry
from framecache.video.probe import probe
from framecache.video.sampling import Sampling, uniform_indices

LEVELS = [10 + 12 * i for i in range(20)]  # one flat grey level per frame identifies it after lossy coding


def level_frames(levels, size=32, width=None):
    return [np.full((size, width or size, 3), lvl, np.uint8) for lvl in levels]


def decoded_levels(sample):
    """Grey level of each sampled frame (rows expanded), rounded to the level grid."""
    means = sample.frames.reshape(len(sample.frames), -1).mean(axis=1)[sample.rows]
    return [LEVELS[int(np.argmin([abs(m - lvl) for lvl in LEVELS]))] for m in means]


# ---------------------------------------------------------------------------------------------- decoding


def test_decodes_exactly_the_sampled_frames(tmp_path, extract_clip):
    path = extract_clip(tmp_path / "levels.mp4", level_frames(LEVELS))
    sample = load_sample(path, Sampling(num_frames=6), Geometry(32, 32))
    expected = uniform_indices(20, 6)
    assert sample.frame_index.tolist() == expected.tolist()
    assert decoded_levels(sample) == [LEVELS[i] for i in expected]
    assert np.allclose(sample.timestamp, expected / 25.0)
    assert sample.policy == "full" and sample.frames_total == sample.frames_usable == 20
    assert sample.frames.shape == (6, 32, 32, 3) and sample.frames.dtype == np.uint8


def test_reversed_video_gives_reversed_frames(tmp_path, extract_clip):
    forward = extract_clip(tmp_path / "fwd.mp4", level_frames(LEVELS))
    backward = extract_clip(tmp_path / "bwd.mp4", level_frames(LEVELS[::-1]))
    for count in (4, 6, 16):
        a = decoded_levels(load_sample(forward, Sampling(num_frames=count), Geometry(32, 32)))
        b = decoded_levels(load_sample(backward, Sampling(num_frames=count), Geometry(32, 32)))
        assert b == a[::-1]


def test_repeat_decodes_each_frame_once(tmp_path, extract_clip):
    path = extract_clip(tmp_path / "short.mp4", level_frames(LEVELS[:3]))
    sample = load_sample(path, Sampling(num_frames=7, short_videos="repeat"), Geometry(32, 32))
    assert sample.policy == "repeat" and sample.num_samples == 7
    assert len(sample.frames) == 3  # distinct frames only
    assert decoded_levels(sample) == [LEVELS[i] for i in sample.frame_index]
    keep = load_sample(path, Sampling(num_frames=7, short_videos="keep"), Geometry(32, 32))
    assert keep.policy == "keep" and keep.frame_index.tolist() == [0, 1, 2]


def test_variable_frame_rate_uses_timestamps(tmp_path, extract_clip):
    pts = [0, 100, 150, 500, 520, 1300, 1310, 2000]
    path = extract_clip(tmp_path / "vfr.mp4", level_frames(LEVELS[:8]), pts=pts, time_base="1/1000")
    assert np.allclose(frame_timestamps(path), np.array(pts) / 1000)
    sample = load_sample(path, Sampling(policy="fps", fps=2.0), Geometry(32, 32))
    assert sample.frame_index.tolist() == [0, 3, 5, 7]
    assert np.allclose(sample.timestamp, [0.0, 0.5, 1.3, 2.0])
    assert decoded_levels(sample) == [LEVELS[i] for i in (0, 3, 5, 7)]


def test_avi_with_packed_b_frames_gets_ordered_timestamps(ud810):
    path = next(ud810.glob("*/*.avi"))
    times = frame_timestamps(path)
    assert len(times) == probe(path).frames
    # the decoder hands these frames out with shuffled pts; sorted packet times are a clean 29.97 fps grid
    assert np.all(np.diff(times) > 0)
    assert np.allclose(np.diff(times), 1 / 29.97, atol=1e-3)
    sample = load_sample(path, Sampling(num_frames=16), Geometry(64, 56))
    assert sample.frames.shape == (16, 56, 56, 3)
    assert np.all(np.diff(sample.timestamp) > 0)


@pytest.mark.parametrize(
    ("rotation", "hflip", "corner"),
    [
        (None, False, "top_left"),
        (90, False, "bottom_left"),  # display matrix turns the picture a quarter counter-clockwise
        (-90, False, "top_right"),
        (180, False, "bottom_right"),
        (0, True, "top_right"),  # mirrored
        (90, True, "bottom_right"),  # turned, then mirrored
    ],
)
def test_display_matrix_is_applied(tmp_path, extract_clip, rotation, hflip, corner):
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[:8, :8] = 255  # a white mark in the top-left corner of the stored picture
    path = extract_clip(tmp_path / "rot.mp4", [frame] * 3, rotation=rotation, hflip=hflip)
    out = load_sample(path, Sampling(num_frames=1), Geometry(32, 32)).frames[0].mean(axis=2)
    quads = {
        "top_left": out[:16, :16],
        "top_right": out[:16, 16:],
        "bottom_left": out[16:, :16],
        "bottom_right": out[16:, 16:],
    }
    brightest = max(quads, key=lambda q: quads[q].mean())
    assert brightest == corner


def test_resize_and_centre_crop_of_a_wide_frame(tmp_path, extract_clip):
    frame = np.zeros((32, 64, 3), np.uint8)
    frame[:, :16] = 255  # white left quarter: cut away by a centre crop
    frame[:, 16:32] = 100
    path = extract_clip(tmp_path / "wide.mp4", [frame] * 2)
    out = load_sample(path, Sampling(num_frames=1), Geometry(resize=16, crop=16)).frames[0]
    assert out.shape == (16, 16, 3)
    assert out[:, :7].mean() == pytest.approx(100, abs=8)  # the grey quarter fills the crop's left half
    assert out[:, 9:].mean() < 10


def test_grayscale_and_odd_sizes(tmp_path, extract_clip):
    frames = level_frames(LEVELS[:5], size=17, width=33)
    path = extract_clip(tmp_path / "gray.mkv", frames, codec="ffv1", pix_fmt="gray")
    sample = load_sample(path, Sampling(num_frames=3), Geometry(16, 16))
    assert sample.frames.shape == (3, 16, 16, 3)
    assert decoded_levels(sample) == [LEVELS[i] for i in (0, 2, 4)]
    # grey in, grey out: all three channels equal
    assert np.array_equal(sample.frames[..., 0], sample.frames[..., 2])


# ---------------------------------------------------------------------------------------------- bad inputs


def test_zero_byte_and_text_files_are_refused_with_a_reason(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 10)
    with pytest.raises(VideoError, match="empty file"):
        load_sample(empty, Sampling(), Geometry(32, 32))
    with pytest.raises(VideoError, match="not a readable video"):
        load_sample(text, Sampling(), Geometry(32, 32))
    with pytest.raises(VideoError, match="not found"):
        load_sample(tmp_path / "missing.mp4", Sampling(), Geometry(32, 32))


def test_truncated_mp4(tmp_path, extract_clip):
    frames = [np.random.default_rng(i).integers(0, 255, (32, 32, 3), dtype=np.uint8) for i in range(30)]
    # index at the end (the default): a cut file has no index at all
    whole = extract_clip(tmp_path / "whole.mp4", frames).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(VideoError):
        load_sample(cut, Sampling(num_frames=8), Geometry(32, 32))
    # index first (faststart): the frames that are there still decode, and fewer frames are recorded
    fast = extract_clip(tmp_path / "fast.mp4", frames, options={"movflags": "faststart"}).read_bytes()
    cut_fast = tmp_path / "cut_fast.mp4"
    cut_fast.write_bytes(fast[: int(len(fast) * 0.3)])
    sample = load_sample(cut_fast, Sampling(num_frames=8), Geometry(32, 32))
    assert 0 < sample.frames_usable <= sample.frames_total < 30
    assert sample.frame_index.max() < sample.frames_usable
    assert (sample.frames_usable < sample.frames_total) == bool(sample.note)


def test_one_frame_video(tmp_path, extract_clip):
    path = extract_clip(tmp_path / "one.mp4", level_frames(LEVELS[3:4]))
    sample = load_sample(path, Sampling(num_frames=16), Geometry(32, 32))
    assert sample.frame_index.tolist() == [0] and sample.policy == "keep"
    assert decoded_levels(sample) == [LEVELS[3]]
    repeated = load_sample(path, Sampling(num_frames=4, short_videos="repeat"), Geometry(32, 32))
    assert repeated.frame_index.tolist() == [0, 0, 0, 0] and len(repeated.frames) == 1


def test_unicode_and_space_in_path(tmp_path, extract_clip):
    path = extract_clip(tmp_path / "vidéo clips" / "ça va 日本.mp4", level_frames(LEVELS[:6]))
    sample = load_sample(path, Sampling(num_frames=3), Geometry(32, 32))
    assert decoded_levels(sample) == [LEVELS[i] for i in uniform_indices(6, 3)]


def test_memory_holds_only_sampled_frames(tmp_path, extract_clip):
    # a long clip, few samples: only those frames (at crop size) are kept
    path = extract_clip(tmp_path / "long.mp4", level_frames([LEVELS[i % 20] for i in range(200)], size=64))
    sample = load_sample(path, Sampling(num_frames=4), Geometry(16, 16))
    assert sample.frames.nbytes == 4 * 16 * 16 * 3


def test_real_h264_clip(weizmann64):
    path = weizmann64 / "bend" / sorted(p.name for p in (weizmann64 / "bend").glob("*.mp4"))[0]
    info = probe(path)
    sample = load_sample(Path(path), Sampling(num_frames=16), Geometry(64, 64))
    assert sample.frame_index.tolist() == uniform_indices(info.frames, 16).tolist()
    assert sample.frames.shape == (16, 64, 64, 3)
    assert sample.frames.std() > 5  # real picture content, not a blank


def test_skipping_unwanted_pictures_changes_nothing(tmp_path, extract_clip, weizmann64):
    """Unwanted non-reference pictures are not decoded (the fast path is really taken on H.264 with
    B-frames), and the sampled frames are bit for bit those of a full decode."""
    from framecache.video import container, seeking

    frames = [np.random.default_rng(i % 7).integers(0, 255, (48, 64, 3), dtype=np.uint8) for i in range(45)]
    clips = [extract_clip(tmp_path / "b.mp4", frames), sorted((weizmann64 / "jack").glob("*.mp4"))[0]]
    geometry = Geometry(40, 32, "bicubic")
    for clip in clips:
        for count in (1, 5, 16):
            fast = load_sample(clip, Sampling(num_frames=count), geometry, mode="forward")
            full = load_sample(clip, Sampling(num_frames=count), geometry, mode="sequential")
            assert fast.decoding == "forward" and full.decoding == "sequential"
            assert np.array_equal(fast.frame_index, full.frame_index)
            assert np.array_equal(fast.frames, full.frames)
            demuxed = container.demux(Path(clip))
            result = seeking.decode_seeking(Path(clip), fast.frame_index, demuxed, geometry, seek=False)
            assert result.decoded < int(fast.frame_index.max()) + 1  # pictures were really skipped


def test_unknown_decode_mode_is_refused(tmp_path, extract_clip):
    path = extract_clip(tmp_path / "levels.mp4", level_frames(LEVELS[:4]))
    with pytest.raises(ValueError, match="decode mode"):
        load_sample(path, Sampling(num_frames=2), Geometry(32, 32), mode="fastest")
