"""Frame sampling (framecache.video.sampling): which frames a video contributes, before any is decoded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from framecache.video.sampling import Sampling, cap_indices, fps_indices, sample_indices, uniform_indices


@settings(max_examples=300, deadline=None)
@given(length=st.integers(1, 600), count=st.integers(1, 64))
def test_uniform_indices_are_segment_centres_and_mirror_under_time_reversal(length, count):
    idx = uniform_indices(length, count)
    assert len(idx) == count
    assert np.all(np.diff(idx) >= 0) and idx.min() >= 0 and idx.max() <= length - 1
    centres = (np.arange(count) + 0.5) * length / count - 0.5
    assert np.all(np.abs(idx - centres) <= 0.5 + 1e-9)  # the nearest frame to each segment centre
    if length >= count:
        assert len(np.unique(idx)) == count  # no frame twice when there are enough
    # reversing the video (frame j -> length-1-j) must sample exactly the reversed frames
    mirrored = (length - 1 - idx)[::-1]
    if count % 2 == 1 and length % 2 == 0:
        # the middle sample sits exactly between the two centre frames: no rule can mirror it
        mid = count // 2
        assert np.array_equal(np.delete(mirrored, mid), np.delete(idx, mid))
        assert abs(int(mirrored[mid]) - int(idx[mid])) == 1
    else:
        assert np.array_equal(mirrored, idx)


def test_uniform_indices_break_ties_toward_the_centre():
    # x = 0.5 and 2.5 in a 4-frame clip: both ties resolve toward the centre 1.5
    assert uniform_indices(4, 2).tolist() == [1, 2]
    assert uniform_indices(150, 16).tolist() == [4, 14, 23, 32, 42, 51, 60, 70, 79, 89, 98, 107, 117, 126, 135, 145]
    assert uniform_indices(8, 8).tolist() == list(range(8))


def test_short_videos_keep_or_repeat_and_say_so():
    idx, policy = sample_indices(5, Sampling(num_frames=8, short_videos="keep"))
    assert idx.tolist() == [0, 1, 2, 3, 4] and policy == "keep"
    idx, policy = sample_indices(5, Sampling(num_frames=8, short_videos="repeat"))
    assert len(idx) == 8 and set(idx.tolist()) == {0, 1, 2, 3, 4} and policy == "repeat"
    assert np.array_equal((4 - idx)[::-1], idx)  # repeats are placed symmetrically too
    idx, policy = sample_indices(1, Sampling(num_frames=4, short_videos="repeat"))
    assert idx.tolist() == [0, 0, 0, 0] and policy == "repeat"
    idx, policy = sample_indices(30, Sampling(num_frames=8))
    assert policy == "full" and len(idx) == 8


def test_fps_sampling_follows_timestamps_not_frame_counts():
    times = np.array([0.0, 0.1, 0.15, 0.5, 0.52, 1.3, 1.31, 2.0])  # variable frame rate
    assert fps_indices(times, fps=2.0, max_frames=64).tolist() == [0, 3, 5, 7]
    assert fps_indices(times, fps=2.0, max_frames=2).tolist() == [0, 3]
    # faster than the video: every frame once, never twice
    assert fps_indices(times, fps=100.0, max_frames=64).tolist() == list(range(8))
    idx, policy = sample_indices(8, Sampling(policy="fps", fps=2.0, max_frames=3), times)
    assert idx.tolist() == [0, 3, 7] and policy == "capped"  # 3 of the grid [0, 3, 5, 7] by segment centres
    idx, policy = sample_indices(8, Sampling(policy="fps", fps=2.0, max_frames=30), times)
    assert policy == "full"


def test_all_sampling_is_capped_by_spreading_over_the_clip():
    idx, policy = sample_indices(10, Sampling(policy="all", max_frames=4))
    assert idx.tolist() == [1, 3, 6, 8] and policy == "capped"  # segment centres 0.75, 3.25, 5.75, 8.25
    idx, policy = sample_indices(3, Sampling(policy="all", max_frames=4))
    assert idx.tolist() == [0, 1, 2] and policy == "full"
    idx, policy = sample_indices(4, Sampling(policy="all", max_frames=4))
    assert idx.tolist() == [0, 1, 2, 3] and policy == "full"


def test_a_long_clip_capped_by_fps_sampling_is_covered_end_to_end():
    # the case: 300 s at 25 fps, 2 fps sampling, max_frames 64 -> 601 grid points, 64 kept
    times = np.arange(300 * 25) / 25.0
    idx, policy = sample_indices(len(times), Sampling(policy="fps", fps=2.0, max_frames=64), times)
    kept = times[idx]
    assert policy == "capped" and len(idx) == 64 and len(np.unique(idx)) == 64
    assert kept[0] < 300 / 64 and kept[-1] > 300 - 300 / 64  # first and last segment of the clip
    gaps = np.diff(kept)
    assert gaps.min() >= 4.0 and gaps.max() <= 5.0  # ~300/64 = 4.7 s apart, evenly
    assert set(idx.tolist()) <= set(fps_indices(times, 2.0, 10_000).tolist())  # still on the 2 fps grid
    # all sampling: 7500 frames, 64 kept, spread the same way
    idx, policy = sample_indices(len(times), Sampling(policy="all", max_frames=64))
    assert policy == "capped" and idx[0] < 7500 / 64 and idx[-1] > 7500 - 7500 / 64


def test_capped_samples_mirror_under_time_reversal():
    for n, cap in ((601, 64), (10, 4), (65, 64), (100, 7)):
        idx = cap_indices(np.arange(n), cap)
        assert len(idx) == cap and np.all(np.diff(idx) > 0)
        assert np.array_equal((n - 1 - idx)[::-1], idx) or (cap % 2 == 1 and n % 2 == 0)


def test_stores_written_before_spreading_read_back_as_a_prefix():
    legacy = Sampling.from_dict({"policy": "all", "max_frames": 4})  # no "cap": an old store's record
    assert legacy.cap == "prefix" and legacy.as_dict() != Sampling(policy="all", max_frames=4).as_dict()
    assert sample_indices(10, legacy)[0].tolist() == [0, 1, 2, 3]
    times = np.array([0.0, 0.1, 0.15, 0.5, 0.52, 1.3, 1.31, 2.0])
    old_fps = Sampling.from_dict({"policy": "fps", "fps": 2.0, "max_frames": 3})
    assert sample_indices(8, old_fps, times)[0].tolist() == [0, 3, 5]


def test_sampling_dict_names_only_what_matters():
    assert Sampling(policy="uniform", fps=5.0).as_dict() == Sampling(policy="uniform", fps=1.0).as_dict()
    assert Sampling(policy="fps", num_frames=3).as_dict() == Sampling(policy="fps", num_frames=9).as_dict()
    s = Sampling(policy="fps", fps=3.0, max_frames=10)
    assert Sampling.from_dict(s.as_dict()).as_dict() == s.as_dict()
    assert s.as_dict() == {"policy": "fps", "fps": 3.0, "max_frames": 10, "cap": "spread"}
    assert Sampling(policy="all", max_frames=5).as_dict() == {"policy": "all", "max_frames": 5, "cap": "spread"}
    # the default (uniform) record is exactly what stores have always recorded: no store becomes stale
    assert Sampling().as_dict() == {"policy": "uniform", "num_frames": 16, "short_videos": "keep"}
    assert Sampling.from_dict(Sampling().as_dict()) == Sampling()
