"""Dataset indexing and splitting: layouts, groups, leak-free stratified splits, clear errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from framecache.data import dataset
from framecache.data.dataset import DatasetError

EXTS = [".mp4", ".avi"]


def test_folder_layout_scan_ignores_non_videos_and_flags_loose_files(tmp_path, make_video):
    for cls in ("run", "walk"):
        make_video(tmp_path / cls / f"{cls}_1.mp4", frames=3)
    (tmp_path / "run" / "notes.txt").write_text("not a video")
    (tmp_path / "run" / ".hidden.mp4").write_bytes(b"")
    make_video(tmp_path / "loose.mp4", frames=3)
    found = dataset.discover(tmp_path, EXTS, 1)
    assert found.source == "folders"
    assert sorted((c.video_id, c.label) for c in found.candidates) == [
        ("run/run_1.mp4", "run"),
        ("walk/walk_1.mp4", "walk"),
    ]
    assert found.ignored_files == 2
    assert [f.reason for f in found.failures] == ["not inside a class folder (expected root/<class>/<video>)"]


def test_manifest_relative_paths_and_validation(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label,split,group,extra\nclips/a.mp4,x,train,g1,1\n/abs/b.mp4,y,,,\n")
    found = dataset.discover(tmp_path, EXTS, 1)
    assert found.source == "manifest"
    a, b = found.candidates
    assert a.file == (tmp_path / "clips/a.mp4").resolve() and a.split == "train" and a.group == "g1"
    assert b.file == Path("/abs/b.mp4") and b.split == "" and b.group == ""

    (tmp_path / "manifest.csv").write_text("file,label\na.mp4,x\n")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) path: expected path,label"):
        dataset.discover(tmp_path, EXTS, 1)
    (tmp_path / "manifest.csv").write_text("path,label,split\na.mp4,x,training\n")
    with pytest.raises(DatasetError, match=r"line 2: split = 'training' is not allowed: expected one of train, val"):
        dataset.discover(tmp_path, EXTS, 1)
    (tmp_path / "manifest.csv").write_text("path,label\na.mp4,x\na.mp4,y\n")
    with pytest.raises(DatasetError, match=r"lists 'a.mp4' twice \(lines 2 and 3\)"):
        dataset.discover(tmp_path, EXTS, 1)


def test_dataset_path_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        dataset.discover(tmp_path / "missing", EXTS, 1)
    (tmp_path / "x.mp4").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"not a \.csv manifest"):
        dataset.discover(tmp_path / "x.mp4", EXTS, 1)


def test_ucf101_split_lists(tmp_path, make_video):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Walk\n2 Run\n")
    train, test = [], []
    for cls in ("Walk", "Run"):
        for g in (1, 2, 3, 4):
            rel = f"{cls}/v_{cls}_g{g:02d}_c01.avi"
            (tmp_path / cls).mkdir(exist_ok=True)
            (tmp_path / rel).write_bytes(b"x")  # discovery does not open files
            (test if g == 1 else train).append(rel)
    (tmp_path / "Run" / "v_Run_g09_c01.avi").write_bytes(b"x")  # in no list
    (lists / "trainlist01.txt").write_text("".join(f"{r} 1\n" for r in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\n" for r in test))
    found = dataset.discover(tmp_path, EXTS, 1)
    assert found.source == "split_lists"
    assert found.classes == ["Walk", "Run"]
    assert Counter(c.split for c in found.candidates) == {"train": 6, "test": 2}
    assert [f.reason for f in found.failures] == ["not in trainlist01.txt or testlist01.txt"]
    with pytest.raises(DatasetError, match=r"split_list = 2 not found.*available split numbers: 1"):
        dataset.discover(tmp_path, EXTS, 2)


def _indexed(video_id, label, sha, group=""):
    return dataset.Indexed(dataset.Candidate(video_id, Path("/d") / video_id, label, "", group), None, sha)


def test_groups_from_manifest_regex_or_self_and_identical_bytes_merge():
    items = [
        _indexed("a/v_a_g08_c01.avi", "a", "h1"),
        _indexed("a/v_a_g08_c02.avi", "a", "h2"),
        _indexed("a/plain.avi", "a", "h3"),
        _indexed("b/given.avi", "b", "h4", group="P1"),
        _indexed("b/copy_of_plain.avi", "b", "h3"),  # same bytes as a/plain.avi
    ]
    groups = dataset.assign_groups(items, r"_g(\d+)_")
    assert groups[0] == groups[1] == "08"
    assert groups[3] == "P1"
    assert groups[2] == groups[4], "identical content must land in one group"
    assert len(set(groups)) == 3


def test_straddling_group_is_an_error():
    with pytest.raises(DatasetError, match=r"group 'p1' in test, train"):
        dataset.check_no_straddle(["p1", "p1", "p2"], ["train", "test", "train"])


def test_generated_splits_hit_fractions_per_class_and_are_seeded():
    labels = [c for c in "abcd" for _ in range(40)]
    groups = [f"{c}{i // 2}" for c in "abcd" for i in range(40)]  # twin pairs
    fractions = {"train": 0.55, "val": 0.2, "test": 0.25}
    splits = dataset.generate_splits(labels, groups, fractions, seed=0)
    dataset.check_no_straddle(groups, splits)
    for c in "abcd":
        counts = Counter(s for s, label in zip(splits, labels, strict=True) if label == c)
        assert counts == {"train": 22, "val": 8, "test": 10}
    assert dataset.generate_splits(labels, groups, fractions, seed=0) == splits
    assert dataset.generate_splits(labels, groups, fractions, seed=1) != splits


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
    splits = dataset.generate_splits(labels, groups, {"train": 1 - val - test, "val": val, "test": test}, seed)
    dataset.check_no_straddle(groups, splits)
    dataset.check_split_coverage(labels, groups, splits)


def test_too_few_groups_is_a_clear_error():
    labels = ["a"] * 6 + ["b"] * 2
    groups = [f"a{i}" for i in range(6)] + ["b0", "b0"]
    splits, _ = dataset.resolve_splits(labels, groups, [""] * 8, val_fraction=0.2, test_fraction=0.2, seed=0)
    with pytest.raises(DatasetError, match=r"class 'b' has no .* \(2 videos in 1 group\(s\); a class needs"):
        dataset.check_split_coverage(labels, groups, splits)


def test_given_splits_used_and_val_carved_from_train_by_group():
    labels = ["a"] * 10 + ["b"] * 10
    groups = [f"g{i // 2}" for i in range(20)]
    given = (["train"] * 8 + ["test"] * 2) * 2
    splits, source = dataset.resolve_splits(labels, groups, given, val_fraction=0.2, test_fraction=0.2, seed=0)
    assert source == "given (val carved from train)"
    assert [s for s, g in zip(splits, given, strict=True) if g == "test"] == ["test"] * 4
    assert "val" in splits
    dataset.check_no_straddle(groups, splits)
    splits, source = dataset.resolve_splits(
        labels,
        groups,
        ["train"] * 6 + ["val"] * 2 + ["test"] * 2 + ["train"] * 10,
        val_fraction=0.2,
        test_fraction=0.2,
        seed=0,
    )
    assert source == "given" and splits[6] == "val"
    with pytest.raises(DatasetError, match="gives a split for some videos but not for 1 others"):
        dataset.resolve_splits(
            labels[:3], groups[:3], ["train", "test", ""], val_fraction=0.2, test_fraction=0.2, seed=0
        )


def test_repo_path_relative_inside_absolute_outside(tmp_path):
    inside = tmp_path / "data" / "v.mp4"
    assert dataset.repo_path(inside, cwd=tmp_path) == "data/v.mp4"
    assert dataset.repo_path(Path("/elsewhere/v.mp4"), cwd=tmp_path) == "/elsewhere/v.mp4"
