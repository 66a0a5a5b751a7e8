"""Frame sampling (framecache.video.sampling): which frames a video contributes, before any is decoded."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from framecache.video.sampling import Sampling, fps_indices, sample_indices, uniform_indices


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
    assert idx.tolist() == [0, 3, 5] and policy == "capped"
    idx, policy = sample_indices(8, Sampling(policy="fps", fps=2.0, max_frames=30), times)
    assert policy == "full"


def test_all_sampling_is_capped():
    idx, policy = sample_indices(10, Sampling(policy="all", max_frames=4))
    assert idx.tolist() == [0, 1, 2, 3] and policy == "capped"
    idx, policy = sample_indices(3, Sampling(policy="all", max_frames=4))
    assert idx.tolist() == [0, 1, 2] and policy == "full"


def test_sampling_dict_names_only_what_matters():
    assert Sampling(policy="uniform", fps=5.0).as_dict() == Sampling(policy="uniform", fps=1.0).as_dict()
    assert Sampling(policy="fps", num_frames=3).as_dict() == Sampling(policy="fps", num_frames=9).as_dict()
    s = Sampling(policy="fps", fps=3.0, max_frames=10)
    assert Sampling.from_dict(s.as_dict()).as_dict() == s.as_dict()
