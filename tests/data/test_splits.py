"""Groups and splits (framecache.data.splits): identical bytes merge groups, no group straddles splits, generated
splits hit the fractions per class, given splits are kept, too few groups is a clear error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framecache.data.discovery import Candidate, DatasetError
from framecache.data.manifest import Indexed
from framecache.data.splits import (
    assign_groups,
    check_no_straddle,
    check_split_coverage,
    generate_splits,
    resolve_splits,
)


def _indexed(video_id, label, sha, group=""):
    return Indexed(Candidate(video_id, Path("/d") / video_id, label, "", group), None, sha)


def test_groups_from_manifest_regex_or_self_and_identical_bytes_merge():
    items = [
        _indexed("a/v_a_g08_c01.avi", "a", "h1"),
        _indexed("a/v_a_g08_c02.avi", "a", "h2"),
        _indexed("a/plain.avi", "a", "h3"),
        _indexed("b/given.avi", "b", "h4", group="P1"),
        _indexed("b/copy_of_plain.avi", "b", "h3"),  # same bytes as a/plain.avi
    ]
    groups = assign_groups(items, r"_g(\d+)_")
    assert groups[0] == groups[1] == "a/08"  # a capture names a group within its class
    assert groups[3] == "P1"  # a manifest's group is taken as written
    assert groups[2] == groups[4], "identical content must land in one group"
    assert len(set(groups)) == 3


def test_a_regex_group_is_per_class_unless_the_scope_is_the_dataset():
    """UCF101's g08 of ApplyEyeMakeup and g08 of YoYo are different actors; a person in every action is one."""
    items = [_indexed("A/v_A_g08_c01.avi", "A", "h1"), _indexed("A/v_A_g08_c02.avi", "A", "h2"),
             _indexed("Y/v_Y_g08_c01.avi", "Y", "h3"), _indexed("Y/v_Y_g09_c01.avi", "Y", "h4")]  # fmt: skip
    assert assign_groups(items, r"_g(\d+)_") == ["A/08", "A/08", "Y/08", "Y/09"]
    assert assign_groups(items, r"_g(\d+)_", "dataset") == ["08", "08", "08", "09"]
    assert assign_groups(items, r"_g\d+_", "class")[2] == "Y/_g08_"  # no capture: the whole match


def test_straddling_group_is_an_error():
    with pytest.raises(DatasetError, match=r"group 'p1' in test, train"):
        check_no_straddle(["p1", "p1", "p2"], ["train", "test", "train"])


def test_generated_splits_hit_fractions_per_class_and_are_seeded():
    labels = [c for c in "abcd" for _ in range(40)]
    groups = [f"{c}{i // 2}" for c in "abcd" for i in range(40)]  # twin pairs
    fractions = {"train": 0.55, "val": 0.2, "test": 0.25}
    splits = generate_splits(labels, groups, fractions, seed=0)
    check_no_straddle(groups, splits)
    for c in "abcd":
        counts = Counter(s for s, label in zip(splits, labels, strict=True) if label == c)
        assert counts == {"train": 22, "val": 8, "test": 10}
    assert generate_splits(labels, groups, fractions, seed=0) == splits
    assert generate_splits(labels, groups, fractions, seed=1) != splits


@settings(max_examples=60, deadline=None)
@given(
    groups_per_class=st.lists(st.integers(min_value=3, max_value=9), min_size=1, max_size=5),
    sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=9, max_size=9),
    seed=st.integers(0, 2**16),
    val=st.floats(0.05, 0.4),
    test=st.floats(0.05, 0.4),
)
def test_every_class_with_three_groups_reaches_every_split(groups_per_class, sizes, seed, val, test):
    labels, groups = [], []
    for c, n_groups in enumerate(groups_per_class):
        for g in range(n_groups):
            for _ in range(sizes[g]):
                labels.append(f"c{c}")
                groups.append(f"c{c}-g{g}")
    splits = generate_splits(labels, groups, {"train": 1 - val - test, "val": val, "test": test}, seed)
    check_no_straddle(groups, splits)
    check_split_coverage(labels, groups, splits)


def test_too_few_groups_is_a_clear_error():
    labels = ["a"] * 6 + ["b"] * 2
    groups = [f"a{i}" for i in range(6)] + ["b0", "b0"]
    splits, _ = resolve_splits(labels, groups, [""] * 8, val_fraction=0.2, test_fraction=0.2, seed=0)
    with pytest.raises(DatasetError, match=r"class 'b' has no .* \(2 videos in 1 group\(s\); a class needs"):
        check_split_coverage(labels, groups, splits)


def test_given_splits_used_and_val_carved_from_train_by_group():
    labels = ["a"] * 10 + ["b"] * 10
    groups = [f"g{i // 2}" for i in range(20)]
    given = (["train"] * 8 + ["test"] * 2) * 2
    splits, source = resolve_splits(labels, groups, given, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert source == "given (val carved from train)"
    assert [s for s, g in zip(splits, given, strict=True) if g == "test"] == ["test"] * 4
    assert "val" in splits
    check_no_straddle(groups, splits)
    splits, source = resolve_splits(
        labels,
        groups,
        ["train"] * 6 + ["val"] * 2 + ["test"] * 2 + ["train"] * 10,
        val_fraction=0.2,
        test_fraction=0.2,
        seed=0,
    )
    assert source == "given" and splits[6] == "val"
    with pytest.raises(DatasetError, match="gives a split for some videos but not for 1 others"):
        resolve_splits(labels[:3], groups[:3], ["train", "test", ""], val_fraction=0.2, test_fraction=0.2, seed=0)
